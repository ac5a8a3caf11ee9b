"""Measure wait timeouts and the CPU used while idle (nothing to do)."""
import resource
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

from common import emit

rclpy.init()
node = Node("idle")
node.create_subscription(String, "/nobody_publishes", lambda m: None, 10)
ex = SingleThreadedExecutor()
ex.add_node(node)
for _ in range(3):
    ex.spin_once(timeout_sec=0.01)  # warm up
for timeout in (0.0, 0.05, 0.2, 0.5):
    took = []
    for _ in range(3):
        t0 = time.monotonic()
        ex.spin_once(timeout_sec=timeout)
        took.append(time.monotonic() - t0)
    emit(event="timeout", asked=timeout, took=took)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.monotonic()
while time.monotonic() - t0 < 2.0:
    ex.spin_once(timeout_sec=1.0)
r1 = resource.getrusage(resource.RUSAGE_SELF)
wall = time.monotonic() - t0
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
emit(event="cpu", wall=wall, cpu=cpu)
node.destroy_node()
rclpy.shutdown()
