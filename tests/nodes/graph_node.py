"""A node in a namespace with a publisher and a subscription; spins until killed."""
import argparse
import time

import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from common import emit, qos_from

ap = argparse.ArgumentParser()
ap.add_argument("--name", default="graph_node")
ap.add_argument("--namespace", default="/gns")
ap.add_argument("--timeout", type=float, default=30.0)
a = ap.parse_args()
rclpy.init()
node = Node(a.name, namespace=a.namespace)
pub = node.create_publisher(String, "graph_topic", qos_from("reliable,transient_local,keep_last:7"))
sub = node.create_subscription(String, "/graph_in", lambda m: None, qos_from("best_effort,keep_last:3"))
emit(event="ready")
end = time.time() + a.timeout
while time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
