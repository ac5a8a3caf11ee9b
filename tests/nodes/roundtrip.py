"""Publish (role pub) or receive (role sub) one filled message of every
test_msgs message type; prints canonical forms as JSON lines."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import canon, emit, fill, load_type, qos_from

TYPES = ["Arrays", "BasicTypes", "BoundedPlainSequences", "BoundedSequences", "Builtins",
         "Constants", "Defaults", "Empty", "MultiNested", "Nested", "Strings",
         "UnboundedSequences", "WStrings"]

ap = argparse.ArgumentParser()
ap.add_argument("role", choices=["pub", "sub"])
ap.add_argument("--timeout", type=float, default=30.0)
a = ap.parse_args()

rclpy.init()
node = Node(f"roundtrip_{a.role}")
qos = qos_from("reliable,transient_local,keep_last:1")
got = {}
if a.role == "pub":
    pubs = {t: node.create_publisher(load_type(f"test_msgs/msg/{t}"), f"rt_{t.lower()}", qos)
            for t in TYPES}
    end = time.time() + a.timeout
    while time.time() < end and any(p.get_subscription_count() < 1 for p in pubs.values()):
        rclpy.spin_once(node, timeout_sec=0.02)
    for t, p in pubs.items():
        m = fill(load_type(f"test_msgs/msg/{t}")(), 1)
        p.publish(m)
        emit(event="sent", type=t, msg=canon(m))
    emit(event="done")
    end = time.time() + a.timeout
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
else:
    def cb_for(t):
        def cb(m):
            if t not in got:
                got[t] = True
                emit(event="msg", type=t, msg=canon(m))
        return cb
    subs = [node.create_subscription(load_type(f"test_msgs/msg/{t}"), f"rt_{t.lower()}",
                                     cb_for(t), qos) for t in TYPES]
    emit(event="ready")
    end = time.time() + a.timeout
    while time.time() < end and len(got) < len(TYPES):
        rclpy.spin_once(node, timeout_sec=0.05)
    emit(event="done", n=len(got))
node.destroy_node()
rclpy.shutdown()
