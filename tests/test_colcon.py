"""`colcon build` of this repository as an ament package, in a scratch
workspace, and a talker/listener pair on the installed library.

Deselect with `-m "not colcon"` (it runs by default). Cargo reuses the
target directory of the library under test (RENOIR_COLCON_CARGO_TARGET_DIR
overrides it), so the build is incremental when that library is fresh."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import conftest

pytestmark = pytest.mark.colcon

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str | None:
    prefix = os.environ.get("RENOIR_ROS_PREFIX", "")
    cand = Path(prefix) / "bin" / name if prefix else None
    if cand is not None and cand.is_file():
        return str(cand)
    return shutil.which(name)


def _cargo_target_dir() -> Path:
    if os.environ.get("RENOIR_COLCON_CARGO_TARGET_DIR"):
        return Path(os.environ["RENOIR_COLCON_CARGO_TARGET_DIR"])
    lib = conftest.RMW_LIB
    if lib is not None and lib.parent.name == "release":
        return lib.parent.parent
    return ROOT / "target"


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory):
    colcon = _tool("colcon")
    cmake = _tool("cmake")
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(":") if p]
    has_ament = any((Path(p) / "share/ament_cmake/cmake").is_dir() for p in prefixes)
    if colcon is None or cmake is None or not has_ament:
        pytest.skip("colcon, cmake or ament_cmake not available (run "
                    "`eval \"$(scripts/ros_env.sh)\"`; it installs them into .ros-venv)")
    ws = tmp_path_factory.mktemp("colcon_ws")
    (ws / "src").mkdir()
    (ws / "src" / "rmw_renoir").symlink_to(ROOT)
    env = dict(os.environ)
    env["CARGO_TARGET_DIR"] = str(_cargo_target_dir())
    env["PATH"] = str(Path(cmake).parent) + ":" + env.get("PATH", "")
    t0 = time.time()
    r = subprocess.run(
        [colcon, "build", "--packages-select", "rmw_renoir",
         "--cmake-args", "-DCMAKE_BUILD_TYPE=Release"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=1800)
    dt = time.time() - t0
    log = ws / "log" / "latest_build" / "rmw_renoir" / "stdout_stderr.log"
    detail = log.read_text()[-4000:] if log.is_file() else r.stderr[-4000:]
    assert r.returncode == 0, f"colcon build failed ({r.returncode}):\n{r.stdout[-2000:]}\n{detail}"
    print(f"colcon build: {dt:.1f} s")
    return ws / "install" / "rmw_renoir"


def test_colcon_installs_library_and_ament_index(colcon_install):
    lib = colcon_install / "lib" / "librmw_renoir.so"
    assert lib.is_file() and lib.stat().st_size > 0
    idx = colcon_install / "share" / "ament_index" / "resource_index"
    ts = idx / "rmw_typesupport" / "rmw_renoir"
    assert ts.is_file(), f"missing {ts}"
    supported = ts.read_text()
    assert "rosidl_typesupport_introspection_c" in supported
    assert (idx / "packages" / "rmw_renoir").is_file()
    assert (idx / "rmw_typesupport_c" / "rmw_renoir").is_file()
    assert (idx / "rmw_typesupport_cpp" / "rmw_renoir").is_file()
    pkg_xml = colcon_install / "share" / "rmw_renoir" / "package.xml"
    assert "<member_of_group>rmw_implementation_packages</member_of_group>" in pkg_xml.read_text()
    # The installed library exports the rmw API under our identifier.
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)],
                         capture_output=True, text=True).stdout
    assert " rmw_get_implementation_identifier" in out
    assert " rmw_create_publisher" in out


def test_installed_library_runs_talker_listener(colcon_install, ros):
    lib = colcon_install / "lib" / "librmw_renoir.so"
    extra = {
        "AMENT_PREFIX_PATH": f"{colcon_install}:{os.environ.get('AMENT_PREFIX_PATH', '')}",
        "LD_LIBRARY_PATH": f"{colcon_install / 'lib'}:{ros.env.get('LD_LIBRARY_PATH', '')}",
        "LD_PRELOAD": str(lib),
    }
    lis = ros.spawn("listener.py", "--count", "5", **extra)
    lis.wait_for("ready")
    # The listener really runs on the installed library: it is mapped, and
    # the domain's shared memory exists under this test's prefix.
    maps = Path(f"/proc/{lis.p.pid}/maps").read_text()
    assert str(lib.resolve()) in maps or str(lib) in maps
    assert ros.leftovers(), "no renoir shared memory: not running on rmw_renoir"
    tal = ros.spawn("talker.py", "--count", "20", "--wait-match", "1", "--period", "0.02",
                    **extra)
    lis.wait_for("done", timeout=30)
    got = [d["msg"]["data"] for d in lis.events("msg")]
    assert len(got) >= 5
    idx = [int(s.split()[1]) for s in got]
    assert all(s == f"hello {i}" for s, i in zip(got, idx))
    assert tal.finish() == 0 and lis.finish() == 0
