"""Publish std_msgs/String 'hello N' (or any type with filled values)."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import canon, emit, fill, load_type, qos_from

ap = argparse.ArgumentParser()
ap.add_argument("--topic", default="chatter")
ap.add_argument("--type", default="std_msgs/msg/String")
ap.add_argument("--count", type=int, default=10)
ap.add_argument("--period", type=float, default=0.05)
ap.add_argument("--qos", default="")
ap.add_argument("--wait-match", type=int, default=0, help="wait for N subscribers first")
ap.add_argument("--linger", type=float, default=1.0)
ap.add_argument("--name", default="talker")
ap.add_argument("--namespace", default="")
a = ap.parse_args()

rclpy.init()
node = Node(a.name, namespace=a.namespace)
T = load_type(a.type)
pub = node.create_publisher(T, a.topic, qos_from(a.qos))
emit(event="ready")
t0 = time.time()
while pub.get_subscription_count() < a.wait_match and time.time() - t0 < 10:
    time.sleep(0.01)
emit(event="matched", count=pub.get_subscription_count())
for i in range(a.count):
    if a.type == "std_msgs/msg/String":
        m = T()
        m.data = f"hello {i}"
    else:
        m = fill(T(), i + 1)
    pub.publish(m)
    emit(event="sent", i=i, msg=canon(m))
    if a.period:
        time.sleep(a.period)
emit(event="done")
end = time.time() + a.linger
while time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
