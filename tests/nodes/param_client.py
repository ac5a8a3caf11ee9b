"""Get and set parameters of another process's node through the standard
rcl_interfaces parameter services."""
import time

import rclpy
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.node import Node

from common import emit

rclpy.init()
node = Node("param_client")
get = node.create_client(GetParameters, "/param_node/get_parameters")
set_ = node.create_client(SetParameters, "/param_node/set_parameters")
for c in (get, set_):
    if not c.wait_for_service(timeout_sec=20):
        emit(event="no_service")
        raise SystemExit(1)


def call(cli, req):
    fut = cli.call_async(req)
    rclpy.spin_until_future_complete(node, fut, timeout_sec=10)
    return fut.result()


r = call(get, GetParameters.Request(names=["speed", "label"]))
emit(event="get", speed=r.values[0].double_value, label=r.values[1].string_value)
p = Parameter(name="speed", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=4.25))
r = call(set_, SetParameters.Request(parameters=[p]))
emit(event="set", ok=r.results[0].successful)
r = call(get, GetParameters.Request(names=["speed"]))
emit(event="get", speed=r.values[0].double_value)
node.destroy_node()
rclpy.shutdown()
