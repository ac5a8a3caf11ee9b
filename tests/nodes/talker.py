"""Publish std_msgs/String 'hello N' (or any type with filled values)."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import canon, emit, fill, load_type, qos_from

ap = argparse.ArgumentParser()
ap.add_argument("--topic", default="chatter")
ap.add_argument("--type", default="std_msgs/msg/String")
ap.add_argument("--count", type=int, default=10)
ap.add_argument("--period", type=float, default=0.05)
ap.add_argument("--qos", default="")
ap.add_argument("--wait-match", type=int, default=0, help="wait for N subscribers first")
ap.add_argument("--linger", type=float, default=1.0)
ap.add_argument("--name", default="talker")
ap.add_argument("--namespace", default="")
ap.add_argument("--raw", action="store_true", help="publish serialized (CDR) bytes")
ap.add_argument("--loan", action="store_true",
                help="std_msgs/msg/Int32 only: publish through rcl loaned messages (ctypes)")
a = ap.parse_args()

rclpy.init()
node = Node(a.name, namespace=a.namespace)
T = load_type(a.type)
pub = node.create_publisher(T, a.topic, qos_from(a.qos))
emit(event="ready")
t0 = time.time()
while pub.get_subscription_count() < a.wait_match and time.time() - t0 < 10:
    time.sleep(0.01)
emit(event="matched", count=pub.get_subscription_count())
if a.loan:
    import ctypes
    rcl = ctypes.CDLL("librcl.so")
    ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
    ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ts = ctypes.pythonapi.PyCapsule_GetPointer(T._TYPE_SUPPORT, None)
    handle = ctypes.c_void_p(pub.handle.pointer)
    rcl.rcl_publisher_can_loan_messages.restype = ctypes.c_bool
    emit(event="can_loan", value=bool(rcl.rcl_publisher_can_loan_messages(handle)))
for i in range(a.count):
    if a.loan:
        m = ctypes.c_void_p()
        rc = rcl.rcl_borrow_loaned_message(handle, ctypes.c_void_p(ts), ctypes.byref(m))
        assert rc == 0, rc
        ctypes.c_int32.from_address(m.value).value = 1000 + i  # std_msgs/Int32: one int32
        rc = rcl.rcl_publish_loaned_message(handle, m, None)
        assert rc == 0, rc
        emit(event="sent", i=i, msg={"data": 1000 + i})
        if a.period:
            time.sleep(a.period)
        continue
    if a.type == "std_msgs/msg/String":
        m = T()
        m.data = f"hello {i}"
    else:
        m = fill(T(), i + 1)
    if a.raw:
        from rclpy.serialization import serialize_message
        cdr = serialize_message(m)
        pub.publish(cdr)
        emit(event="sent", i=i, msg=canon(m), cdr=cdr.hex())
    else:
        pub.publish(m)
        emit(event="sent", i=i, msg=canon(m))
    if a.period:
        time.sleep(a.period)
emit(event="done")
end = time.time() + a.linger
while time.time() < end:
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
