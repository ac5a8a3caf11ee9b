"""Print the graph as seen from this process, every --period seconds."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import emit

ap = argparse.ArgumentParser()
ap.add_argument("--period", type=float, default=0.05)
ap.add_argument("--timeout", type=float, default=20.0)
ap.add_argument("--topic", default="/gns/graph_topic")
a = ap.parse_args()
rclpy.init()
node = Node("observer")
end = time.time() + a.timeout
while time.time() < end:
    infos = []
    for kind, f in (("pub", node.get_publishers_info_by_topic), ("sub", node.get_subscriptions_info_by_topic)):
        for i in f(a.topic):
            q = i.qos_profile
            infos.append(dict(kind=kind, node=i.node_name, ns=i.node_namespace, type=i.topic_type,
                              reliability=int(q.reliability), durability=int(q.durability),
                              depth=q.depth, history=int(q.history), gid=list(i.endpoint_gid)))
    emit(event="graph",
         nodes=[list(x) for x in node.get_node_names_and_namespaces()],
         topics=[[n, t] for n, t in node.get_topic_names_and_types()],
         services=[[n, t] for n, t in node.get_service_names_and_types()],
         pubs=node.count_publishers(a.topic), subs=node.count_subscribers(a.topic),
         infos=infos)
    rclpy.spin_once(node, timeout_sec=a.period)
node.destroy_node()
rclpy.shutdown()
