"""Liveliness events: a MANUAL_BY_TOPIC publisher (lease 300 ms) asserts for
~1 s and then stops; the subscription sees it alive then not alive and the
publisher reports its liveliness lost."""


def test_liveliness_lost_and_changed(ros):
    sub = ros.spawn("liveliness_node.py", "--role", "sub", "--duration", "6")
    sub.wait_for("ready", timeout=30)
    pub = ros.spawn("liveliness_node.py", "--role", "pub", "--lease", "0.3",
                    "--assert-for", "1.0", "--duration", "3")
    pub.wait_for("matched", timeout=30)
    alive = sub.wait_for("liveliness", timeout=10, pred=lambda d: d["alive"] == 1)
    stopped = pub.wait_for("stopped", timeout=10)
    dead = sub.wait_for("liveliness", timeout=10,
                        pred=lambda d: d["alive"] == 0 and d["not_alive"] == 1)
    assert dead["alive_change"] == -1 and dead["not_alive_change"] == 1, dead
    lost = pub.wait_for("lost", timeout=10)
    assert lost["total"] == 1 and lost["change"] == 1, lost
    # Alive while asserting: no "not alive" before the assertions stopped.
    early = [d for d in sub.events("liveliness")
             if d["not_alive"] and d["t"] < stopped["t"]]
    assert not early, early
    assert not [d for d in pub.events("lost") if d["t"] < stopped["t"]]
    # Noticed within the lease (plus scheduling slack) after the last assertion.
    assert dead["t"] - stopped["t"] < 1.0, (stopped, dead)
    assert lost["t"] - stopped["t"] < 1.0, (stopped, lost)
    assert alive["t"] <= stopped["t"]
    pub.wait_for("done", timeout=10)
    assert pub.finish() == 0
    sub.wait_for("done", timeout=15)
    assert sub.finish() == 0
