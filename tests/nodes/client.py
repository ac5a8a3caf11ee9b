"""A service client: waits for the server, sends N filled requests, prints
request and response canonical forms."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import canon, emit, fill, load_type

ap = argparse.ArgumentParser()
ap.add_argument("--srv", default="test_msgs/srv/BasicTypes")
ap.add_argument("--name", default="svc")
ap.add_argument("--count", type=int, default=3)
ap.add_argument("--timeout", type=float, default=20.0)
a = ap.parse_args()

rclpy.init()
node = Node("client")
S = load_type(a.srv)
cli = node.create_client(S, a.name)
emit(event="ready")
if not cli.wait_for_service(timeout_sec=a.timeout):
    emit(event="no_service")
else:
    emit(event="available")
    for i in range(a.count):
        req = fill(S.Request(), i + 1)
        fut = cli.call_async(req)
        rclpy.spin_until_future_complete(node, fut, timeout_sec=a.timeout)
        if fut.result() is None:
            emit(event="timeout", i=i)
            break
        emit(event="response", i=i, req=canon(req), resp=canon(fut.result()))
emit(event="done")
node.destroy_node()
rclpy.shutdown()
