#!/usr/bin/env python3
"""Subscribe to /image and print a live latency summary (publish stamp in
header.stamp -> callback), and at the end p50 / p99 / max.

Options: --count N (stop after N frames; 0 = until Ctrl-C), --seconds S."""
import argparse
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] if s else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0 = never)")
    a = ap.parse_args()

    rclpy.init()
    node = Node("image_sub")
    lat_ms = []
    last_print = [time.monotonic()]

    def cb(msg: Image):
        now = time.time_ns()
        sent = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        lat_ms.append((now - sent) / 1e6)
        if time.monotonic() - last_print[0] >= 1.0:
            last_print[0] = time.monotonic()
            recent = lat_ms[-30:]
            print(f"frames {len(lat_ms):5d}  {msg.width}x{msg.height} {msg.encoding}  "
                  f"latency ms: p50 {pct(recent, 50):7.3f}  p99 {pct(recent, 99):7.3f}  "
                  f"max {max(recent):7.3f}", flush=True)

    node.create_subscription(Image, "image", cb, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    stop = time.monotonic() + a.seconds if a.seconds else float("inf")
    try:
        while rclpy.ok() and (a.count == 0 or len(lat_ms) < a.count) and time.monotonic() < stop:
            rclpy.spin_once(node, timeout_sec=0.5)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        if lat_ms:
            print(f"FINAL frames {len(lat_ms)}  latency ms: p50 {pct(lat_ms, 50):.3f}  "
                  f"p99 {pct(lat_ms, 99):.3f}  max {max(lat_ms):.3f}", flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
