"""Receive large sensor messages and verify each one's content.

`--check checksum` (tests/nodes/large_pub.py): frame_id "<seq> <checksum>", the
checksum of the bulk array (common.fast_checksum) is recomputed. `--check gradient`
(renoir_core/examples/native_camera.rs): frame_id "camera <k>", pixel byte
i must be (i + k) % 251, and the image must be rgb8 with step 3 x width.
Emits one `msg` line per message (seq, ok, latency from header.stamp) and a
`done` summary when `--expect` messages arrived, or after `--idle` seconds
without one (once something arrived), or at `--timeout`."""
import argparse
import time
import numpy as np
import rclpy
from rclpy.node import Node

from common import emit, fast_checksum, qos_from

ap = argparse.ArgumentParser()
ap.add_argument("--topic", default="large")
ap.add_argument("--kind", choices=["image", "cloud", "scan"], default="image")
ap.add_argument("--check", choices=["checksum", "gradient"], default="checksum")
ap.add_argument("--qos", default="reliable,keep_last:5")
ap.add_argument("--expect", type=int, default=0)
ap.add_argument("--idle", type=float, default=2.0)
ap.add_argument("--timeout", type=float, default=30.0)
ap.add_argument("--name", default="large_sub")
ap.add_argument("--stall", type=float, default=0.0,
                help="sleep this long in the first callback (a lagging subscriber)")
a = ap.parse_args()

if a.kind == "image":
    from sensor_msgs.msg import Image as T
elif a.kind == "cloud":
    from sensor_msgs.msg import PointCloud2 as T
else:
    from sensor_msgs.msg import LaserScan as T

rclpy.init()
node = Node(a.name)
state = {"n": 0, "bad": 0, "last": None, "lat": [], "seqs": [], "bytes": 0}
gradient = None


def check(m):
    """(seq, ok, bytes)"""
    global gradient
    if a.check == "gradient":
        k = int(m.header.frame_id.split()[1])
        d = np.frombuffer(m.data, np.uint8)
        n = m.width * m.height * 3
        if gradient is None or len(gradient) < n + 251:
            gradient = (np.arange(n + 251) % 251).astype(np.uint8)
        ok = (m.encoding == "rgb8" and m.step == 3 * m.width and len(d) == n
              and np.array_equal(d, gradient[k % 251:k % 251 + n]))
        return k, ok, len(d)
    seq_s, crc_s = m.header.frame_id.split()
    if a.kind == "scan":
        crc = fast_checksum(m.ranges) ^ fast_checksum(m.intensities)
        size = 4 * (len(m.ranges) + len(m.intensities))
    else:
        crc = fast_checksum(m.data)
        size = len(m.data)
    return int(seq_s), crc == int(crc_s, 16), size


def on_msg(m):
    lat_ms = (time.time_ns() - (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)) / 1e6
    try:
        seq, ok, size = check(m)
    except Exception as e:  # a malformed frame_id is a bad message too
        emit(event="error", what=repr(e))
        seq, ok, size = -1, False, 0
    if state["n"] == 0 and a.stall:
        time.sleep(a.stall)
    state["n"] += 1
    state["bad"] += 0 if ok else 1
    state["bytes"] += size
    state["last"] = time.monotonic()
    state["lat"].append(lat_ms)
    state["seqs"].append(seq)
    emit(event="msg", seq=seq, ok=ok, lat_ms=round(lat_ms, 3))


sub = node.create_subscription(T, a.topic, on_msg, qos_from(a.qos))
emit(event="ready")
t0 = time.monotonic()
while time.monotonic() - t0 < a.timeout:
    rclpy.spin_once(node, timeout_sec=0.1)
    if a.expect and state["n"] >= a.expect:
        break
    if state["last"] is not None and time.monotonic() - state["last"] > a.idle:
        break
lat = sorted(state["lat"]) or [float("nan")]
emit(event="done", received=state["n"], bad=state["bad"], seqs=state["seqs"],
     bytes=state["bytes"], lat_p50_ms=round(lat[len(lat) // 2], 3),
     lat_p99_ms=round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
     lat_max_ms=round(lat[-1], 3))
node.destroy_node()
rclpy.shutdown()
