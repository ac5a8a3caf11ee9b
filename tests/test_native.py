"""The native zero-copy API (renoir_core::wire::sensor_msgs) to rclpy: the
example `native_camera` writes 1920x1080 rgb8 frames in place into shared
memory and an rclpy subscriber on rmw_renoir receives them as ordinary
sensor_msgs/msg/Image messages and checks every pixel.

Needs the example binary next to the library under test:
`cargo build --release -p renoir_core --example native_camera`
(scripts/test.sh's e2e stage builds it)."""
import json
import os
import subprocess
from pathlib import Path

import conftest


def native_camera():
    """Next to the library under test, else in the cargo target directory."""
    cands = [conftest.RMW_LIB.parent / "examples" / "native_camera"]
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release/examples/native_camera")
    cands.append(conftest.ROOT / "target/release/examples/native_camera")
    for c in cands:
        if c.is_file():
            return c
    raise AssertionError("native_camera not found (run `cargo build --release -p renoir_core "
                         "--example native_camera`); tried " + ", ".join(map(str, cands)))


def spawn_native(ros, *args):
    p = subprocess.Popen([str(native_camera()), *map(str, args)], env=ros.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = conftest.Proc(p, "native_camera")
    ros.procs.append(proc)
    return proc


def test_native_camera_to_rclpy(ros):
    n = 60
    topic = "/camera/image_raw"
    sub = ros.spawn("large_sub.py", "--topic", topic, "--check", "gradient",
                    "--qos", f"reliable,keep_last:{n}", "--expect", n, "--idle", "3")
    sub.wait_for("ready")
    cam = spawn_native(ros, "--topic", topic, "--frames", n, "--hz", 30, "--depth", n,
                       "--wait-subs", 1)
    # The core matched the rclpy subscription: same topic name, type name
    # and RIHS01 type hash as rmw_renoir registers.
    assert cam.wait_for("matched", timeout=30)["count"] == 1
    # The ROS graph shows the native publisher like any other node's.
    obs = ros.spawn("observer.py", "--topic", topic, "--period", "0.1", "--timeout", "10")
    g = obs.wait_for("graph", timeout=20, pred=lambda d: d["pubs"] == 1)
    assert ["native_camera", "/"] in g["nodes"]
    assert [topic, ["sensor_msgs/msg/Image"]] in g["topics"]
    pinfo = [i for i in g["infos"] if i["kind"] == "pub"]
    assert pinfo[0]["node"] == "native_camera" and pinfo[0]["type"] == "sensor_msgs/msg/Image"
    done = cam.wait_for("done", timeout=30)
    got = sub.wait_for("done", timeout=30)
    print("DELIVERY " + json.dumps({
        "test": "native_camera", "sent": done["sent"], "pub_fps": done["fps"],
        "publish_ms_p50": done["publish_ms_p50"], "publish_ms_max": done["publish_ms_max"],
        "received": got["received"], "bad": got["bad"], "lat_p50_ms": got["lat_p50_ms"],
        "lat_p99_ms": got["lat_p99_ms"], "lat_max_ms": got["lat_max_ms"]}))
    assert done["sent"] == n and done["errors"] == 0
    # Every frame, in order, every pixel as written.
    assert got["bad"] == 0 and got["seqs"] == list(range(n))
    assert cam.finish() == 0 and sub.finish() == 0
    obs.p.terminate()


def test_native_camera_best_effort_to_sensor_qos(ros):
    """A best-effort native publisher and a best-effort (sensor data)
    subscription: they match and frames arrive intact."""
    n = 30
    sub = ros.spawn("large_sub.py", "--topic", "/cam2", "--check", "gradient",
                    "--qos", "best_effort,keep_last:5", "--expect", n, "--idle", "2")
    sub.wait_for("ready")
    cam = spawn_native(ros, "--topic", "/cam2", "--frames", n, "--width", 640,
                       "--height", 480, "--qos", "best_effort", "--wait-subs", 1)
    assert cam.wait_for("matched", timeout=30)["count"] == 1
    cam.wait_for("done", timeout=30)
    got = sub.wait_for("done", timeout=30)
    assert got["bad"] == 0 and len(got["seqs"]) >= 0.9 * n
    assert got["seqs"] == sorted(set(got["seqs"]))
    assert cam.finish() == 0 and sub.finish() == 0
