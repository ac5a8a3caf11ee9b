"""Subscribe and print every message received as a JSON line."""
import argparse
import time

import rclpy
from rclpy.node import Node

from common import canon, emit, load_type, qos_from

ap = argparse.ArgumentParser()
ap.add_argument("--topic", default="chatter")
ap.add_argument("--type", default="std_msgs/msg/String")
ap.add_argument("--qos", default="")
ap.add_argument("--count", type=int, default=0, help="exit after N messages (0 = never)")
ap.add_argument("--timeout", type=float, default=20.0)
ap.add_argument("--sleep-first", type=float, default=0.0,
                help="be slow: once a publisher is matched, do not take for this long")
ap.add_argument("--filter", default="", help="content filter expression")
ap.add_argument("--params", default="", help="comma separated filter parameters")
ap.add_argument("--events", action="store_true")
ap.add_argument("--raw", action="store_true", help="take serialized (CDR) messages")
ap.add_argument("--listener-callback", action="store_true",
                help="also register an rmw on-new-message callback (ctypes) and report its counts")
a = ap.parse_args()

rclpy.init()
node = Node("listener")
T = load_type(a.type)
got = []


def cb(m):
    got.append(m)
    if a.raw:
        from rclpy.serialization import deserialize_message
        emit(event="msg", n=len(got), cdr=bytes(m).hex(), msg=canon(deserialize_message(m, T)))
    else:
        emit(event="msg", n=len(got), msg=canon(m))


kw = {}
if a.events:
    from rclpy.event_handler import SubscriptionEventCallbacks
    kw["event_callbacks"] = SubscriptionEventCallbacks(
        incompatible_qos=lambda e: emit(event="incompatible_qos", total=e.total_count,
                                        policy=int(e.last_policy_kind)),
        matched=lambda e: emit(event="matched", current=e.current_count, total=e.total_count),
        deadline=lambda e: emit(event="deadline_missed", total=e.total_count, change=e.total_count_change),
        incompatible_type=lambda e: emit(event="incompatible_type"),
    )
sub = node.create_subscription(T, a.topic, cb, qos_from(a.qos), raw=a.raw, **kw)
cft = False
if a.filter:
    # rclpy (Jazzy) has no content-filter API: set it through rcl with ctypes.
    import ctypes
    rcl = ctypes.CDLL("librcl.so")
    rcl.rcl_subscription_content_filter_options_init.restype = ctypes.c_int
    rcl.rcl_subscription_set_content_filter.restype = ctypes.c_int
    rcl.rcl_subscription_is_cft_enabled.restype = ctypes.c_bool
    handle = ctypes.c_void_p(sub.handle.pointer)
    params = [p.encode() for p in a.params.split(",") if p]
    argv = (ctypes.c_char_p * max(1, len(params)))(*params)
    opts = ctypes.create_string_buffer(256)  # rcl_subscription_content_filter_options_t (zeroed)
    rc = rcl.rcl_subscription_content_filter_options_init(
        handle, a.filter.encode(), ctypes.c_size_t(len(params)), argv, opts)
    assert rc == 0, rc
    rc = rcl.rcl_subscription_set_content_filter(handle, opts)
    if rc != 0:
        class ErrStr(ctypes.Structure):
            _fields_ = [("s", ctypes.c_char * 1024)]
        rcutils = ctypes.CDLL("librcutils.so")
        rcutils.rcutils_get_error_string.restype = ErrStr
        raise SystemExit(f"rcl_subscription_set_content_filter: {rc}: "
                         f"{rcutils.rcutils_get_error_string().s.decode(errors='replace')}")
    cft = bool(rcl.rcl_subscription_is_cft_enabled(handle))
if a.listener_callback:
    import ctypes
    glob = ctypes.CDLL(None)  # the process's global scope: the preloaded rmw wins
    rcl = ctypes.CDLL("librcl.so")
    rcl.rcl_subscription_get_rmw_handle.restype = ctypes.c_void_p
    rmw_sub = rcl.rcl_subscription_get_rmw_handle(ctypes.c_void_p(sub.handle.pointer))
    CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)
    counts = []
    keep_cb = CB(lambda user, n: (counts.append(n), emit(event="callback", n=n, total=sum(counts))))
    glob.rmw_subscription_set_on_new_message_callback.restype = ctypes.c_int
    rc = glob.rmw_subscription_set_on_new_message_callback(ctypes.c_void_p(rmw_sub), keep_cb, None)
    assert rc == 0, rc
emit(event="ready", cft=cft)
if a.sleep_first:
    t0 = time.time()
    while sub.handle.get_publisher_count() < 1 and time.time() - t0 < 10:
        time.sleep(0.01)  # counting attaches us to new publishers; takes nothing
    emit(event="matched")
    time.sleep(a.sleep_first)
end = time.time() + a.timeout
while time.time() < end and not (a.count and len(got) >= a.count):
    rclpy.spin_once(node, timeout_sec=0.05)
emit(event="done", n=len(got))
node.destroy_node()
rclpy.shutdown()
