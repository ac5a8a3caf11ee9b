"""librmw_renoir.so exports every rmw_* function rmw_fastrtps_cpp exports."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import RMW_LIB


def _syms(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True).stdout
    return {l.split()[2] for l in out.splitlines() if " T rmw_" in l}


def test_exports_match_rmw_fastrtps_cpp():
    prefix = os.environ.get("RENOIR_ROS_PREFIX", "")
    ref = Path(prefix) / "lib/librmw_fastrtps_cpp.so"
    if not ref.is_file():
        pytest.skip("no librmw_fastrtps_cpp.so to compare with")
    mine, theirs = _syms(RMW_LIB), _syms(ref)
    assert theirs - mine == set(), f"missing: {sorted(theirs - mine)}"
    assert len(theirs) >= 95
