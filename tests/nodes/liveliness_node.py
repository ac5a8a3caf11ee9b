"""Liveliness events: --role pub asserts MANUAL_BY_TOPIC liveliness (lease
--lease s) every 100 ms for --assert-for s, then stops (publishing nothing)
and reports its liveliness-lost events; --role sub reports its
liveliness-changed events."""
import argparse
import time

import rclpy
from rclpy.duration import Duration
from rclpy.event_handler import (PublisherEventCallbacks,
                                 SubscriptionEventCallbacks)
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import LivelinessPolicy, QoSProfile
from std_msgs.msg import String

from common import emit

ap = argparse.ArgumentParser()
ap.add_argument("--role", choices=["pub", "sub"], required=True)
ap.add_argument("--topic", default="alive")
ap.add_argument("--lease", type=float, default=0.3)
ap.add_argument("--assert-for", type=float, default=1.0)
ap.add_argument("--duration", type=float, default=4.0)
a = ap.parse_args()

rclpy.init()
node = Node("liveliness_" + a.role)
qos = QoSProfile(depth=10, liveliness=LivelinessPolicy.MANUAL_BY_TOPIC,
                 liveliness_lease_duration=Duration(seconds=a.lease))
ex = SingleThreadedExecutor()
ex.add_node(node)

if a.role == "pub":
    def lost(s):
        emit(event="lost", total=s.total_count, change=s.total_count_change)

    pub = node.create_publisher(String, a.topic, qos,
                                event_callbacks=PublisherEventCallbacks(liveliness=lost))
    emit(event="ready")
    t0 = time.time()
    while pub.get_subscription_count() < 1 and time.time() - t0 < 10:
        ex.spin_once(timeout_sec=0.01)
    emit(event="matched", count=pub.get_subscription_count())
    pub.assert_liveliness()
    start = time.time()
    asserting = [True]

    def tick():
        if time.time() - start < a.assert_for:
            pub.assert_liveliness()
        elif asserting[0]:
            asserting[0] = False
            emit(event="stopped")

    node.create_timer(0.1, tick)
else:
    def changed(s):
        emit(event="liveliness", alive=s.alive_count, not_alive=s.not_alive_count,
             alive_change=s.alive_count_change, not_alive_change=s.not_alive_count_change)

    node.create_subscription(String, a.topic, lambda m: emit(event="msg"), qos,
                             event_callbacks=SubscriptionEventCallbacks(liveliness=changed))
    emit(event="ready")

end = time.time() + a.duration
while time.time() < end:
    ex.spin_once(timeout_sec=0.05)
emit(event="done")
node.destroy_node()
rclpy.shutdown()
