"""The rmw_renoir demo: talker/listener and a 1080p image stream with a live
latency summary, every node in its own process on rmw_renoir.

    ros2 launch launch/demo.launch.py            # on a ROS 2 install with rmw_renoir
    RENOIR_RMW_LIB=.../librmw_renoir.so ros2 launch launch/demo.launch.py

Where librcl is linked to a fixed rmw (the PyPI wheels), set RENOIR_RMW_LIB:
it is preloaded into every node process (see docs/rmw.md)."""
import os
from pathlib import Path

from launch import LaunchDescription
from launch.actions import ExecuteProcess, SetEnvironmentVariable

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def generate_launch_description():
    env = [SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_renoir")]
    lib = os.environ.get("RENOIR_RMW_LIB")
    if lib:
        env.append(SetEnvironmentVariable("LD_PRELOAD", lib))

    def node(script, *args):
        return ExecuteProcess(cmd=["python3", str(EXAMPLES / script), *args], output="screen",
                              name=script.removesuffix(".py"))

    return LaunchDescription(env + [
        node("talker.py"),
        node("listener.py"),
        node("image_pub.py"),
        node("image_sub.py"),
    ])
