#!/usr/bin/env python3
"""Publish 1920x1080 rgb8 sensor_msgs/Image frames at 30 Hz on /image,
header.stamp = the time of publishing (wall clock), for image_sub.py to
measure publish -> callback latency.

Options: --width --height --rate --count (0 = forever) --seconds."""
import argparse
import time

import array
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0 = never)")
    a = ap.parse_args()

    rclpy.init()
    node = Node("image_pub")
    pub = node.create_publisher(Image, "image", QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    msg = Image()
    msg.width, msg.height, msg.encoding = a.width, a.height, "rgb8"
    msg.step = a.width * 3
    # array.array('B') takes rclpy's fast path for uint8[] (a numpy array or a
    # list is checked element by element in Python: ~1 s per 6 MB frame).
    frames = [array.array("B", bytes([v])) * (a.height * msg.step) for v in (40, 120, 200)]
    period = 1.0 / a.rate
    n = 0
    next_t = time.monotonic()
    stop = next_t + a.seconds if a.seconds else float("inf")
    try:
        while rclpy.ok() and (a.count == 0 or n < a.count) and time.monotonic() < stop:
            msg.data = frames[n % len(frames)]
            msg.header.frame_id = f"frame {n}"
            now = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
            pub.publish(msg)
            n += 1
            if n % 30 == 0:
                node.get_logger().info(f"published {n} frames of {len(msg.data)} bytes")
            next_t += period
            rclpy.spin_once(node, timeout_sec=max(0.0, next_t - time.monotonic()))
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
