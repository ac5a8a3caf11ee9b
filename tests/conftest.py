"""End-to-end test harness: every node runs in its own Python process on
rmw_renoir. Builds nothing: run `cargo build --release -p rmw_renoir` first
and point RENOIR_RMW_LIB at the library (or let it be found under
$CARGO_TARGET_DIR / target).

Each test gets a unique RENOIR_SHM_PREFIX and ROS_DOMAIN_ID and checks
that nothing with its prefix is left in /dev/shm afterwards."""
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODES = Path(__file__).resolve().parent / "nodes"
SHM = Path(os.environ.get("RENOIR_SHM_DIR", "/dev/shm"))


def _find_lib() -> Path:
    cands = []
    if os.environ.get("RENOIR_RMW_LIB"):
        cands.append(Path(os.environ["RENOIR_RMW_LIB"]))
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release/librmw_renoir.so")
    cands.append(ROOT / "target/release/librmw_renoir.so")
    for c in cands:
        if c.is_file():
            return c.resolve()
    pytest.exit("librmw_renoir.so not found: run `cargo build --release -p rmw_renoir` "
                "and set RENOIR_RMW_LIB (tried: %s)" % ", ".join(map(str, cands)), returncode=2)


def _librcl() -> Path | None:
    prefixes = [os.environ.get("RENOIR_ROS_PREFIX", "")]
    prefixes += os.environ.get("AMENT_PREFIX_PATH", "").split(":")
    for p in filter(None, prefixes):
        c = Path(p) / "lib/librcl.so"
        if c.is_file():
            return c
    return None


def rcl_linked_to_fixed_rmw() -> bool:
    """True when librcl.so has a concrete rmw (e.g. librmw_fastrtps_cpp.so)
    as NEEDED instead of librmw_implementation.so: then only LD_PRELOAD
    switches the middleware."""
    lib = _librcl()
    if lib is None:
        return True
    out = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True).stdout
    needed = [l.split("[")[1].split("]")[0] for l in out.splitlines() if "(NEEDED)" in l]
    fixed = [n for n in needed if n.startswith("librmw_")
             and not n.startswith(("librmw_implementation", "librmw_dds_common"))]
    return bool(fixed)


RMW_LIB = None
PRELOAD = None
_counter = itertools.count(1)


def pytest_configure(config):
    global RMW_LIB, PRELOAD
    config.addinivalue_line("markers", "slow: large-payload variants taking several seconds "
                            "(part of the default run; deselect with -m 'not slow')")
    config.addinivalue_line("markers", "colcon: builds this repository with colcon "
                            "(deselect with -m 'not colcon')")
    RMW_LIB = _find_lib()
    PRELOAD = rcl_linked_to_fixed_rmw()


class Proc:
    """A node process whose stdout is JSON lines."""

    def __init__(self, popen: subprocess.Popen, name: str):
        self.p = popen
        self.name = name
        self.lines: list[dict] = []
        self.q: queue.Queue = queue.Queue()
        self.err: list[str] = []
        self.text: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            self.text.append(raw)
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            self.lines.append(d)
            self.q.put(d)

    def _read_err(self):
        for raw in self.p.stderr:
            self.err.append(raw)

    def wait_for(self, event: str, timeout: float = 20.0, pred=lambda d: True) -> dict:
        for d in list(self.lines):
            if d.get("event") == event and pred(d):
                return d
        end = time.time() + timeout
        while time.time() < end:
            try:
                d = self.q.get(timeout=0.05)
            except queue.Empty:
                if self.p.poll() is not None and self.q.empty():
                    time.sleep(0.1)
                    if self.q.empty():
                        break
                continue
            if d.get("event") == event and pred(d):
                return d
        raise AssertionError(f"{self.name}: no '{event}' within {timeout}s; "
                             f"exit={self.p.poll()} stderr:\n{''.join(self.err)[-3000:]}")

    def events(self, event: str) -> list[dict]:
        return [d for d in self.lines if d.get("event") == event]

    def finish(self, timeout: float = 30.0) -> int:
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()


class Ros:
    def __init__(self):
        n = next(_counter)
        # Under the outer prefix (scripts/test.sh sets one and checks for leaks).
        base = os.environ.get("RENOIR_SHM_PREFIX", "rtest")
        self.prefix = f"{base}{os.getpid()}n{n}"
        self.domain = 1 + (os.getpid() * 7 + n * 13) % 200
        self.procs: list[Proc] = []
        env = dict(os.environ)
        env["RENOIR_SHM_PREFIX"] = self.prefix
        env["ROS_DOMAIN_ID"] = str(self.domain)
        env["RMW_IMPLEMENTATION"] = "rmw_renoir"
        env["PYTHONUNBUFFERED"] = "1"
        env["RCUTILS_LOGGING_USE_STDOUT"] = "0"
        libs = os.environ.get("RENOIR_ROS_LIBS", "")
        if libs:
            env["LD_LIBRARY_PATH"] = libs + ":" + env.get("LD_LIBRARY_PATH", "")
        if PRELOAD:
            env["LD_PRELOAD"] = str(RMW_LIB)
        self.env = env

    def spawn(self, script: str, *args: str, **extra_env) -> Proc:
        env = dict(self.env, **extra_env)
        path = Path(script) if Path(script).is_absolute() else NODES / script
        p = subprocess.Popen([sys.executable, str(path), *map(str, args)],
                             cwd=str(NODES), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        proc = Proc(p, f"{script} {' '.join(map(str, args))}")
        self.procs.append(proc)
        return proc

    def leftovers(self) -> list[str]:
        return sorted(f.name for f in SHM.iterdir() if f.name.startswith(self.prefix + "_"))

    def close(self):
        for pr in self.procs:
            if pr.p.poll() is None:
                pr.p.send_signal(signal.SIGINT)
        for pr in self.procs:
            pr.finish(timeout=10)

    def janitor_all(self):
        """Run the janitor in every domain that still has leftovers (a test
        may use more than one domain)."""
        domains = set()
        for name in self.leftovers():
            rest = name[len(self.prefix) + 1:]
            head = rest.split("_", 1)[0]
            if head.isdigit():
                domains.add(head)
        for d in sorted(domains):
            self.janitor(d)

    def janitor(self, domain=None):
        """Join the domain once and leave: as any new member does, it reaps
        what dead members (e.g. SIGKILLed ones) left behind."""
        # A node, not just init: the domain is joined when the first node
        # is created.
        code = ("import rclpy; rclpy.init(); n = rclpy.create_node('renoir_janitor'); "
                "n.destroy_node(); rclpy.shutdown()")
        env = dict(self.env)
        if domain is not None:
            env["ROS_DOMAIN_ID"] = str(domain)
        subprocess.run([sys.executable, "-c", code],
                       env=env, timeout=30, capture_output=True)


@pytest.fixture
def ros():
    r = Ros()
    yield r
    r.close()
    if any(pr.p.returncode not in (0, None) for pr in r.procs) and r.leftovers():
        r.janitor()  # a member died by a signal: the next member reclaims
    end = time.time() + 3
    while r.leftovers() and time.time() < end:
        time.sleep(0.1)
    if r.leftovers():
        # Every member has exited by now, so whatever is left has a dead
        # owner (e.g. a node interrupted mid-exit on a loaded machine): the
        # product guarantee is that the next member of the domain reclaims
        # it. A segment of a live owner would survive this and fail below.
        r.janitor_all()
    left = r.leftovers()
    assert not left, f"left in {SHM}: {left}"
