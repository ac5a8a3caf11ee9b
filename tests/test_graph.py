"""Graph introspection from another process, and crash cleanup."""
import signal
import time


def test_graph_from_another_process(ros):
    node = ros.spawn("graph_node.py")
    node.wait_for("ready")
    obs = ros.spawn("observer.py", "--timeout", "15")

    def complete(d):
        return d["pubs"] == 1 and any(n == ["graph_node", "/gns"] for n in d["nodes"])

    g = obs.wait_for("graph", timeout=20, pred=complete)
    assert ["/gns/graph_topic", ["std_msgs/msg/String"]] in g["topics"]
    assert ["/graph_in", ["std_msgs/msg/String"]] in g["topics"]
    assert g["subs"] == 0
    (info,) = g["infos"]
    assert info["node"] == "graph_node" and info["ns"] == "/gns"
    assert info["type"] == "std_msgs/msg/String"
    assert info["reliability"] == 1 and info["durability"] == 1  # reliable, transient local
    assert info["depth"] == 7
    assert len(info["gid"]) >= 16 and any(info["gid"])
    # The parameter services of the node show up as services.
    assert any(s[0] == "/gns/graph_node/get_parameters" and s[1] == ["rcl_interfaces/srv/GetParameters"]
               for s in g["services"])


def test_sigkilled_node_disappears_within_1s(ros):
    node = ros.spawn("graph_node.py", "--name", "victim")
    node.wait_for("ready")
    obs = ros.spawn("observer.py", "--timeout", "15", "--period", "0.02")
    obs.wait_for("graph", timeout=20, pred=lambda d: ["victim", "/gns"] in d["nodes"])
    t_kill = time.time()
    node.p.send_signal(signal.SIGKILL)
    gone = obs.wait_for("graph", timeout=10,
                        pred=lambda d: d["t"] > t_kill and ["victim", "/gns"] not in d["nodes"])
    assert gone["t"] - t_kill < 1.0, gone["t"] - t_kill
    assert gone["pubs"] == 0
