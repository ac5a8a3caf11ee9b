"""Subscribe and print every message received as a JSON line."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import canon, emit, load_type, qos_from

ap = argparse.ArgumentParser()
ap.add_argument("--topic", default="chatter")
ap.add_argument("--type", default="std_msgs/msg/String")
ap.add_argument("--qos", default="")
ap.add_argument("--count", type=int, default=0, help="exit after N messages (0 = never)")
ap.add_argument("--timeout", type=float, default=20.0)
ap.add_argument("--sleep-first", type=float, default=0.0, help="be slow: do not take for this long")
ap.add_argument("--filter", default="", help="content filter expression")
ap.add_argument("--params", default="", help="comma separated filter parameters")
ap.add_argument("--events", action="store_true")
a = ap.parse_args()

rclpy.init()
node = Node("listener")
T = load_type(a.type)
got = []


def cb(m):
    got.append(m)
    emit(event="msg", n=len(got), msg=canon(m))


kw = {}
if a.events:
    from rclpy.event_handler import SubscriptionEventCallbacks
    kw["event_callbacks"] = SubscriptionEventCallbacks(
        incompatible_qos=lambda e: emit(event="incompatible_qos", total=e.total_count,
                                        policy=int(e.last_policy_kind)),
        matched=lambda e: emit(event="matched", current=e.current_count, total=e.total_count),
    )
if a.filter:
    from rclpy.subscription_content_filter_options import ContentFilterOptions
    kw["content_filter_options"] = ContentFilterOptions(
        filter_expression=a.filter,
        expression_parameters=[p for p in a.params.split(",") if p])
sub = node.create_subscription(T, a.topic, cb, qos_from(a.qos), **kw)
emit(event="ready", cft=sub.is_cft_enabled if a.filter else False)
if a.sleep_first:
    time.sleep(a.sleep_first)
end = time.time() + a.timeout
while time.time() < end and not (a.count and len(got) >= a.count):
    rclpy.spin_once(node, timeout_sec=0.05)
emit(event="done", n=len(got))
node.destroy_node()
rclpy.shutdown()
