"""Services and parameters between processes."""
import pytest


@pytest.mark.parametrize("srv", ["test_msgs/srv/BasicTypes", "test_msgs/srv/Arrays"])
def test_service_round_trip(ros, srv):
    server = ros.spawn("server.py", "--srv", srv)
    server.wait_for("ready")
    client = ros.spawn("client.py", "--srv", srv, "--count", "3")
    client.wait_for("done", timeout=40)
    resps = client.events("response")
    assert len(resps) == 3, client.lines
    for r in resps:
        req, resp = r["req"], r["resp"]
        for k, v in resp.items():
            if k in req:
                assert v == req[k], k
    server.wait_for("request", pred=lambda d: d["n"] == 3)


def test_client_started_before_server(ros):
    client = ros.spawn("client.py", "--count", "2")
    client.wait_for("ready")
    import time
    time.sleep(1.0)
    assert not client.events("available")
    server = ros.spawn("server.py")
    client.wait_for("done", timeout=40)
    assert len(client.events("response")) == 2
    server.wait_for("request")


def test_parameters_from_another_process(ros):
    node = ros.spawn("param_node.py")
    node.wait_for("ready")
    cli = ros.spawn("param_client.py")
    first = cli.wait_for("get", timeout=40)
    assert first["speed"] == 1.5 and first["label"] == "start"
    assert cli.wait_for("set")["ok"] is True
    second = cli.wait_for("get", pred=lambda d: "label" not in d)
    assert second["speed"] == 4.25


def test_multithreaded_executor_concurrent_service_and_topic(ros):
    server = ros.spawn("mt_server.py")
    server.wait_for("ready")
    client = ros.spawn("mt_client.py")
    r = client.wait_for("result", timeout=40)
    assert r["ok"] and r["done"] == 40, r
    server.wait_for("count", timeout=10, pred=lambda d: d["req"] == 40 and d["msg"] == 40)
