"""Publish large sensor messages (Image, PointCloud2, LaserScan) at a fixed
rate. Message `seq` carries `header.frame_id = "<seq> <checksum>"` (the
bulk array's common.fast_checksum, 16 hex digits) and the stamp taken right
before publish; the bulk array is one of three precomputed random payloads
(so consecutive messages differ).

`--until-unmatched`: after the last message, stay until every subscriber
has gone (at most `--linger` s). A publisher that exits unlinks its
segments, and a subscriber still behind it loses the samples whose blob it
had not mapped yet."""
import argparse
import time
import numpy as np
import rclpy
from rclpy.node import Node

from common import emit, fast_checksum, qos_from

ap = argparse.ArgumentParser()
ap.add_argument("--topic", default="large")
ap.add_argument("--kind", choices=["image", "cloud", "scan"], default="image")
ap.add_argument("--width", type=int, default=1920)
ap.add_argument("--height", type=int, default=1080)
ap.add_argument("--points", type=int, default=100_000)
ap.add_argument("--rays", type=int, default=1440)
ap.add_argument("--hz", type=float, default=30.0)
ap.add_argument("--count", type=int, default=60)
ap.add_argument("--qos", default="reliable,keep_last:5")
ap.add_argument("--wait-match", type=int, default=1)
ap.add_argument("--linger", type=float, default=1.0)
ap.add_argument("--until-unmatched", action="store_true")
a = ap.parse_args()

rclpy.init()
node = Node("large_pub")
rng = np.random.default_rng(7)
if a.kind == "image":
    from sensor_msgs.msg import Image as T
    n = a.width * a.height * 3
elif a.kind == "cloud":
    from sensor_msgs.msg import PointCloud2 as T
    from sensor_msgs.msg import PointField
    n = a.points * 16
else:
    from sensor_msgs.msg import LaserScan as T
    n = a.rays

msgs = []
for k in range(3):
    m = T()
    if a.kind == "image":
        m.height, m.width, m.encoding, m.step = a.height, a.width, "rgb8", a.width * 3
        m.data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        crc = fast_checksum(m.data)
    elif a.kind == "cloud":
        m.height, m.width, m.point_step, m.row_step, m.is_dense = 1, a.points, 16, n, True
        m.fields = [PointField(name=f, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                    for i, f in enumerate(["x", "y", "z", "intensity"])]
        m.data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        crc = fast_checksum(m.data)
    else:
        m.angle_min, m.angle_max = -3.14159, 3.14159
        m.angle_increment = 2 * 3.14159 / a.rays
        m.range_min, m.range_max, m.scan_time = 0.1, 30.0, 1.0 / a.hz
        m.ranges = rng.uniform(0.1, 30.0, n).astype(np.float32)
        m.intensities = rng.uniform(0, 100, n).astype(np.float32)
        crc = fast_checksum(m.ranges) ^ fast_checksum(m.intensities)
    msgs.append((m, crc))

pub = node.create_publisher(T, a.topic, qos_from(a.qos))
emit(event="ready", bytes=n)
t0 = time.time()
while pub.get_subscription_count() < a.wait_match and time.time() - t0 < 15:
    time.sleep(0.01)
emit(event="matched", count=pub.get_subscription_count())

period = 1.0 / a.hz
start = time.monotonic()
late = 0
for seq in range(a.count):
    due = start + seq * period
    wait = due - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    else:
        late += 1
    m, crc = msgs[seq % 3]
    m.header.frame_id = f"{seq} {crc:016x}"
    now = time.time_ns()
    m.header.stamp.sec, m.header.stamp.nanosec = now // 10**9, now % 10**9
    pub.publish(m)
    if seq % 10 == 0:
        emit(event="sent", seq=seq)
secs = time.monotonic() - start
emit(event="done", sent=a.count, seconds=round(secs, 3), hz=round(a.count / secs, 1),
     late=late, subscribers=pub.get_subscription_count())
end = time.time() + a.linger
while time.time() < end:
    if a.until_unmatched and pub.get_subscription_count() == 0:
        break
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
