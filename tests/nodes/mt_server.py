"""A node spun by a MultiThreadedExecutor (4 threads): a service whose
handler sleeps a little and a subscription, used concurrently."""
import time

import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String
from test_msgs.srv import BasicTypes

from common import emit

rclpy.init()
node = Node("mt_server")
group = ReentrantCallbackGroup()
count = {"req": 0, "msg": 0}


def handle(req, resp):
    time.sleep(0.01)
    resp.int64_value = req.int64_value * 2
    count["req"] += 1
    return resp


def on_msg(m):
    count["msg"] += 1


node.create_service(BasicTypes, "mt_svc", handle, callback_group=group)
node.create_subscription(String, "mt_topic", on_msg, 100, callback_group=group)
ex = MultiThreadedExecutor(num_threads=4)
ex.add_node(node)
emit(event="ready")
end = time.time() + 30
while time.time() < end:
    ex.spin_once(timeout_sec=0.1)
    emit(event="count", **count) if count["req"] + count["msg"] and int(time.time() * 10) % 5 == 0 else None
node.destroy_node()
rclpy.shutdown()
