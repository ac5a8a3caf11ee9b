"""A node with a parameter, spinning until killed / timeout."""
import time

import rclpy
from rclpy.node import Node

from common import emit

rclpy.init()
node = Node("param_node")
node.declare_parameter("speed", 1.5)
node.declare_parameter("label", "start")
emit(event="ready")
end = time.time() + 30
while time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
