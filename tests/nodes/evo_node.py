"""Publish or subscribe evo_msgs/msg/Reading (whichever version is on
PYTHONPATH) and report incompatible-type events.

pub: publishes Reading(stamp=i, value=i + 0.5) every --period for --duration s
(and accuracy=0.25 when the version has that field).
sub: reports every message (all its fields) for --duration s."""
import argparse
import time

import rclpy
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node

from common import emit
from evo_msgs.msg import Reading

ap = argparse.ArgumentParser()
ap.add_argument("role", choices=["pub", "sub"])
ap.add_argument("--topic", default="reading")
ap.add_argument("--duration", type=float, default=5.0)
ap.add_argument("--period", type=float, default=0.05)
a = ap.parse_args()

rclpy.init()
node = Node(f"evo_{a.role}")


def on_type(info):
    # rclpy exposes only the change of the count for this status.
    emit(event="incompatible_type", change=info.total_count_change)


fields = sorted(Reading.get_fields_and_field_types())
if a.role == "pub":
    pub = node.create_publisher(Reading, a.topic, 10,
                                event_callbacks=PublisherEventCallbacks(incompatible_type=on_type))
else:
    def on_msg(m):
        emit(event="msg", msg={f: getattr(m, f) for f in fields})

    node.create_subscription(Reading, a.topic, on_msg, 10,
                             event_callbacks=SubscriptionEventCallbacks(incompatible_type=on_type))
emit(event="ready", fields=fields)
end = time.time() + a.duration
i = 0
next_pub = time.time()
while time.time() < end:
    if a.role == "pub" and time.time() >= next_pub:
        m = Reading(stamp=i, value=i + 0.5)
        if "accuracy" in fields:
            m.accuracy = 0.25  # a field older versions drop
        pub.publish(m)
        i += 1
        next_pub += a.period
    rclpy.spin_once(node, timeout_sec=0.01)
emit(event="done", sent=i)
node.destroy_node()
rclpy.shutdown()
