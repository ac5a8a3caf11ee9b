"""Two versions of one message type on one topic.

A session-scoped fixture builds `evo_msgs/msg/Reading` in three versions
into their own install prefixes (colcon + rosidl generators from the venv);
a publisher runs with one prefix and a subscriber with another.

rmw_renoir (docs/schema-evolution.md §12): every endpoint publishes its
type's schemas in shared memory; a subscription attaches to a publisher of
another version when `evolve(publisher, subscription)` gives a plan and
migrates each sample (v1 <-> v2: `accuracy` appended, filled with its zero
default one way, dropped the other). A breaking pair (v3 changes `value` to
a string) exchanges nothing: both sides get the incompatible-type event
once and log a warning that names the topic, the type and the field."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.colcon

VERSIONS = {
    "v1": "uint64 stamp\nfloat64 value\n",
    "v2": "uint64 stamp\nfloat64 value\nfloat32 accuracy\n",
    "v3": "uint64 stamp\nstring value\n",
}

PACKAGE_XML = """<?xml version="1.0"?>
<package format="3">
  <name>evo_msgs</name>
  <version>{version}</version>
  <description>schema evolution test messages</description>
  <maintainer email="maintainers@renoir-robotics.org">rmw_renoir maintainers</maintainer>
  <license>Apache-2.0</license>
  <buildtool_depend>ament_cmake</buildtool_depend>
  <buildtool_depend>rosidl_default_generators</buildtool_depend>
  <exec_depend>rosidl_default_runtime</exec_depend>
  <member_of_group>rosidl_interface_packages</member_of_group>
  <export><build_type>ament_cmake</build_type></export>
</package>
"""

CMAKELISTS = """cmake_minimum_required(VERSION 3.16)
project(evo_msgs)
find_package(ament_cmake REQUIRED)
find_package(rosidl_default_generators REQUIRED)
rosidl_generate_interfaces(${PROJECT_NAME} "msg/Reading.msg")
ament_package()
"""


def _missing_tools() -> list[str]:
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(":") if p]
    missing = []
    bin_dir = Path(os.environ.get("RENOIR_ROS_PREFIX", "/nonexistent")) / "bin"
    for tool in ("colcon", "cmake"):
        if not (bin_dir / tool).is_file() and shutil.which(tool) is None:
            missing.append(tool)
    # rosidl_default_generators pulls in ament_cmake_ros, which requires gmock/gtest/pytest.
    for pkg in ("ament_cmake", "rosidl_default_generators", "ament_cmake_gmock",
                "ament_cmake_gtest", "ament_cmake_pytest"):
        if not any((Path(p) / "share" / pkg).is_dir() for p in prefixes):
            missing.append(pkg)
    return missing


@pytest.fixture(scope="session")
def evo_prefixes(tmp_path_factory):
    missing = _missing_tools()
    if missing:
        pytest.skip("cannot build message packages, missing: " + ", ".join(missing))
    bin_dir = Path(os.environ.get("RENOIR_ROS_PREFIX", "")) / "bin"
    colcon = str(bin_dir / "colcon") if (bin_dir / "colcon").is_file() else shutil.which("colcon")
    out = {}
    for i, (ver, msg) in enumerate(VERSIONS.items()):
        ws = tmp_path_factory.mktemp(f"evo_{ver}")
        pkg = ws / "src" / "evo_msgs"
        (pkg / "msg").mkdir(parents=True)
        (pkg / "msg" / "Reading.msg").write_text(msg)
        (pkg / "package.xml").write_text(PACKAGE_XML.format(version=f"{i + 1}.0.0"))
        (pkg / "CMakeLists.txt").write_text(CMAKELISTS)
        env = dict(os.environ)
        env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
        t0 = time.time()
        r = subprocess.run([colcon, "build", "--cmake-args", "-DCMAKE_BUILD_TYPE=Release"],
                           cwd=ws, env=env, capture_output=True, text=True, timeout=900)
        log = ws / "log" / "latest_build" / "evo_msgs" / "stdout_stderr.log"
        detail = log.read_text()[-3000:] if log.is_file() else r.stderr[-3000:]
        assert r.returncode == 0, f"building evo_msgs {ver} failed:\n{detail}"
        print(f"evo_msgs {ver}: built in {time.time() - t0:.1f} s")
        prefix = ws / "install" / "evo_msgs"
        site = next(prefix.glob("lib/python3*/site-packages"))
        out[ver] = (prefix, site)
    return out


def _env_for(ros, prefixes, ver: str) -> dict:
    prefix, site = prefixes[ver]
    return {
        "AMENT_PREFIX_PATH": f"{prefix}:{os.environ.get('AMENT_PREFIX_PATH', '')}",
        "PYTHONPATH": f"{site}:{os.environ.get('PYTHONPATH', '')}",
        "LD_LIBRARY_PATH": f"{prefix / 'lib'}:{ros.env.get('LD_LIBRARY_PATH', '')}",
    }


def test_same_version_delivers(ros, evo_prefixes):
    sub = ros.spawn("evo_node.py", "sub", "--duration", "4", **_env_for(ros, evo_prefixes, "v1"))
    sub.wait_for("ready")
    pub = ros.spawn("evo_node.py", "pub", "--duration", "3", **_env_for(ros, evo_prefixes, "v1"))
    sub.wait_for("done", timeout=30)
    pub.wait_for("done", timeout=30)
    got = [d["msg"] for d in sub.events("msg")]
    assert len(got) >= 10
    assert all(m["value"] == m["stamp"] + 0.5 for m in got)
    assert not sub.events("incompatible_type") and not pub.events("incompatible_type")
    assert pub.finish() == 0 and sub.finish() == 0


def test_breaking_change_does_not_deliver_and_reports_incompatible_type(ros, evo_prefixes):
    sub = ros.spawn("evo_node.py", "sub", "--duration", "4", **_env_for(ros, evo_prefixes, "v3"))
    ready = sub.wait_for("ready")
    assert ready["fields"] == ["stamp", "value"]
    pub = ros.spawn("evo_node.py", "pub", "--duration", "3", **_env_for(ros, evo_prefixes, "v1"))
    s_ev = sub.wait_for("incompatible_type", timeout=20)
    p_ev = pub.wait_for("incompatible_type", timeout=20)
    assert s_ev["change"] == 1 and p_ev["change"] == 1
    sub.wait_for("done", timeout=30)
    done = pub.wait_for("done", timeout=30)
    assert done["sent"] >= 10
    assert not sub.events("msg"), "samples crossed a breaking type change"
    # One mismatched peer each: the event fired once per side, not per sample.
    assert sum(d["change"] for d in sub.events("incompatible_type")) == 1
    assert sum(d["change"] for d in pub.events("incompatible_type")) == 1
    assert pub.finish() == 0 and sub.finish() == 0
    # Both sides log which topic and which type versions disagree.
    # ... and which field breaks the pair.
    for p in (sub, pub):
        err = "".join(p.err)
        assert "topic '/reading'" in err and "evo_msgs/msg/Reading" in err, err[-2000:]
        assert "`value`" in err, err[-2000:]


def _compatible_pair(ros, prefixes, pub_ver, sub_ver, pub_first=False):
    """Runs a publisher of one version and a subscription of another; returns
    the messages received and checks that no incompatible-type event fired.
    `pub_first`: the subscription joins a publisher already running (the
    publisher judges the pair first)."""
    if pub_first:
        pub = ros.spawn("evo_node.py", "pub", "--duration", "5",
                        **_env_for(ros, prefixes, pub_ver))
        pub.wait_for("ready")
        sub = ros.spawn("evo_node.py", "sub", "--duration", "3",
                        **_env_for(ros, prefixes, sub_ver))
    else:
        sub = ros.spawn("evo_node.py", "sub", "--duration", "4",
                        **_env_for(ros, prefixes, sub_ver))
        sub.wait_for("ready")
        pub = ros.spawn("evo_node.py", "pub", "--duration", "3",
                        **_env_for(ros, prefixes, pub_ver))
    sub.wait_for("done", timeout=30)
    done = pub.wait_for("done", timeout=30)
    assert done["sent"] >= 10
    assert not sub.events("incompatible_type") and not pub.events("incompatible_type")
    assert pub.finish() == 0 and sub.finish() == 0
    got = [d["msg"] for d in sub.events("msg")]
    assert len(got) >= 10, "".join(sub.err)[-2000:]
    assert all(m["value"] == m["stamp"] + 0.5 for m in got)
    return got


def test_new_publisher_reaches_old_subscriber(ros, evo_prefixes):
    # v2 -> v1: the appended field is dropped, the others arrive intact.
    got = _compatible_pair(ros, evo_prefixes, "v2", "v1")
    assert all(sorted(m) == ["stamp", "value"] for m in got)


def test_old_publisher_reaches_new_subscriber(ros, evo_prefixes):
    # v1 -> v2: the field v1 does not have arrives as its default (0.0).
    # The publisher runs first here (the other order than the test above).
    got = _compatible_pair(ros, evo_prefixes, "v1", "v2", pub_first=True)
    assert all(m["accuracy"] == 0.0 for m in got)


def test_same_new_version_keeps_the_field(ros, evo_prefixes):
    # Control for the two above: v2 -> v2 carries accuracy as published.
    got = _compatible_pair(ros, evo_prefixes, "v2", "v2")
    assert all(m["accuracy"] == 0.25 for m in got)
