"""A service server that answers test_msgs BasicTypes / Arrays by echoing
the request fields into the response (so the client can check both ways)."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import canon, emit, load_type

ap = argparse.ArgumentParser()
ap.add_argument("--srv", default="test_msgs/srv/BasicTypes")
ap.add_argument("--name", default="svc")
ap.add_argument("--timeout", type=float, default=30.0)
a = ap.parse_args()

rclpy.init()
node = Node("server")
S = load_type(a.srv)
served = 0


def handle(req, resp):
    global served
    for f in resp.get_fields_and_field_types():
        if hasattr(req, f):
            setattr(resp, f, getattr(req, f))
    served += 1
    emit(event="request", n=served, req=canon(req))
    return resp


srv = node.create_service(S, a.name, handle)
emit(event="ready")
end = time.time() + a.timeout
while time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
