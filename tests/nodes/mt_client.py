"""Fire concurrent requests (async) and messages at mt_server."""
import time

import rclpy
from rclpy.node import Node
from std_msgs.msg import String
from test_msgs.srv import BasicTypes

from common import emit

rclpy.init()
node = Node("mt_client")
cli = node.create_client(BasicTypes, "mt_svc")
pub = node.create_publisher(String, "mt_topic", 100)
assert cli.wait_for_service(timeout_sec=20)
t0 = time.time()
while pub.get_subscription_count() < 1 and time.time() - t0 < 10:
    time.sleep(0.01)
futs = []
# Bursts of 8 outstanding requests: within the default service QoS depth
# (keep last 10), as with any rmw.
for burst in range(5):
    mine = []
    for i in range(burst * 8, burst * 8 + 8):
        mine.append((i, cli.call_async(BasicTypes.Request(int64_value=i))))
        m = String()
        m.data = f"m{i}"
        pub.publish(m)
    futs += mine
    end = time.time() + 10
    while time.time() < end and not all(f.done() for _, f in mine):
        rclpy.spin_once(node, timeout_sec=0.05)
ok = all(f.done() and f.result().int64_value == 2 * i for i, f in futs)
emit(event="result", ok=ok, done=sum(f.done() for _, f in futs))
node.destroy_node()
rclpy.shutdown()
