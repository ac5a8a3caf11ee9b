"""rmw_wait: timeouts honoured and no CPU burnt while idle."""


def test_wait_timeouts_and_idle_cpu(ros):
    p = ros.spawn("idle.py")
    cpu = p.wait_for("cpu", timeout=30)
    for d in p.events("timeout"):
        assert d["took"] >= d["asked"] - 0.002, d
        assert d["took"] <= d["asked"] + 0.010, d
    # Idle for 2 s: a spinning wait would use ~2 s of CPU.
    assert cpu["cpu"] < 0.1 * cpu["wall"], cpu
