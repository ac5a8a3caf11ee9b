"""Helpers shared by the test node scripts: JSON-line output, QoS from
command-line words, deterministic message filling and a canonical form."""
import array
import importlib
import json
import signal
import sys
import time

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile,
                       ReliabilityPolicy)


def _graceful(signum, frame):
    # Exit normally (not by re-raising the signal) so that the process's
    # at-exit hooks run; rmw_renoir releases its shared memory there.
    sys.exit(0)


signal.signal(signal.SIGINT, _graceful)
signal.signal(signal.SIGTERM, _graceful)


def emit(**kw):
    kw.setdefault("t", time.time())
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def qos_from(words: str) -> QoSProfile:
    """'reliable,volatile,keep_last:10' style; any order, defaults to the ROS default."""
    q = QoSProfile(depth=10)
    for w in filter(None, (words or "").split(",")):
        if w == "reliable":
            q.reliability = ReliabilityPolicy.RELIABLE
        elif w == "best_effort":
            q.reliability = ReliabilityPolicy.BEST_EFFORT
        elif w == "transient_local":
            q.durability = DurabilityPolicy.TRANSIENT_LOCAL
        elif w == "volatile":
            q.durability = DurabilityPolicy.VOLATILE
        elif w == "keep_all":
            q.history = HistoryPolicy.KEEP_ALL
        elif w.startswith("deadline:"):
            from rclpy.duration import Duration
            q.deadline = Duration(seconds=float(w.split(":")[1]))
        elif w.startswith("keep_last:"):
            q.history = HistoryPolicy.KEEP_LAST
            q.depth = int(w.split(":")[1])
        else:
            raise ValueError(w)
    return q


def load_type(name: str):
    """'std_msgs/msg/String' -> class."""
    pkg, kind, cls = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), cls)


def _bound(t: str):
    """'string<22>' -> ('string', 22); 'string' -> ('string', None)."""
    if t.endswith(">") and "<" in t:
        base, b = t[:-1].split("<", 1)
        return base, int(b.lstrip("="))
    return t, None


def _scalar(t: str, i: int):
    base, bound = _bound(t)
    if base == "boolean":
        return i % 2 == 1
    if base == "octet":
        return bytes([(7 + i) % 256])
    if base == "char":
        return chr(65 + i % 26)
    if base == "float":
        return 1.5 + i
    if base == "double":
        return -2.25 - i
    if base.startswith("int"):
        return -(i + 3)
    if base.startswith("uint"):
        return i + 5
    if base == "string":
        v = f"héllo {i}"
        return v[:bound] if bound else v
    if base == "wstring":
        v = f"wïde {i} ✓"
        return v[:bound] if bound else v
    raise KeyError(t)


def _elem(t: str, i: int):
    if "/" in t:
        pkg, name = t.split("/")
        return fill(load_type(f"{pkg}/msg/{name}")(), i)
    return _scalar(t, i)


def fill(msg, seed: int = 1):
    """Give every field of `msg` a deterministic non-default value."""
    for name, ftype in msg.get_fields_and_field_types().items():
        if ftype.startswith("sequence<"):
            inner = ftype[len("sequence<"):-1]
            bound = None
            if ", " in inner:
                inner, b = inner.rsplit(", ", 1)
                bound = int(b)
            n = min(3, bound) if bound is not None else 3
            setattr(msg, name, [_elem(inner, seed + k) for k in range(n)])
        elif ftype.endswith("]"):
            inner, n = ftype[:-1].rsplit("[", 1)
            setattr(msg, name, [_elem(inner, seed + k) for k in range(int(n))])
        elif "/" in ftype:
            setattr(msg, name, _elem(ftype, seed + 1))
        else:
            setattr(msg, name, _scalar(ftype, seed))
    return msg


def canon(v):
    """A JSON-able canonical form of a message or value."""
    if hasattr(v, "get_fields_and_field_types"):
        return {k: canon(getattr(v, k)) for k in v.get_fields_and_field_types()}
    if isinstance(v, (bytes, bytearray)):
        return list(v)
    if isinstance(v, (list, tuple, array.array)):
        return [canon(x) for x in v]
    if hasattr(v, "tolist"):
        return canon(v.tolist())
    if isinstance(v, float):
        return round(v, 6)
    return v


def fast_checksum(buf) -> int:
    """Sum of the little-endian uint64 words of `buf` (mod 2^64) plus its
    trailing bytes, and its length: a few ms for 25 MB with numpy (zlib.crc32
    takes ~30 ms there, too slow to check every frame of a 30 Hz 4K stream).
    Detects a frame mixed with another one, stale or truncated bytes."""
    import numpy as np
    mv = memoryview(buf).cast("B")
    n = len(mv) // 8 * 8
    s = int(np.frombuffer(mv[:n], dtype="<u8").sum(dtype=np.uint64))
    s += sum(mv[n:])
    return (s + len(mv)) & 0xFFFF_FFFF_FFFF_FFFF
