#!/usr/bin/env python3
"""Publish std_msgs/String 'Hello World: N' on /chatter at 2 Hz (the
classic demo). Run on rmw_renoir: see docs/rmw.md."""
import rclpy
from rclpy.node import Node
from std_msgs.msg import String


class Talker(Node):
    def __init__(self):
        super().__init__("talker")
        self.pub = self.create_publisher(String, "chatter", 10)
        self.i = 0
        self.create_timer(0.5, self.tick)

    def tick(self):
        msg = String()
        msg.data = f"Hello World: {self.i}"
        self.i += 1
        self.get_logger().info(f'Publishing: "{msg.data}"')
        self.pub.publish(msg)


def main():
    rclpy.init()
    node = Talker()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
