"""Topics between processes: talker/listener, every test_msgs type, QoS."""
import time


def test_talker_listener(ros):
    lis = ros.spawn("listener.py", "--count", "5")
    lis.wait_for("ready")
    tal = ros.spawn("talker.py", "--count", "20", "--wait-match", "1", "--period", "0.02")
    lis.wait_for("done", timeout=30)
    got = [d["msg"]["data"] for d in lis.events("msg")]
    assert len(got) >= 5
    # In order, no duplicates, and the payload intact.
    idx = [int(s.split()[1]) for s in got]
    assert idx == sorted(set(idx))
    assert all(s == f"hello {i}" for s, i in zip(got, idx))
    assert tal.finish() == 0 and lis.finish() == 0


def test_every_test_msgs_type_round_trips(ros):
    sub = ros.spawn("roundtrip.py", "sub")
    sub.wait_for("ready")
    pub = ros.spawn("roundtrip.py", "pub", "--timeout", "20")
    done = sub.wait_for("done", timeout=40)
    pub.wait_for("done", timeout=20)
    sent = {d["type"]: d["msg"] for d in pub.events("sent")}
    recv = {d["type"]: d["msg"] for d in sub.events("msg")}
    assert done["n"] == 13, f"received only {sorted(recv)}"
    for t, m in sent.items():
        assert recv[t] == m, f"{t} differs"


def test_transient_local_late_joiner(ros):
    tal = ros.spawn("talker.py", "--count", "5", "--period", "0", "--linger", "15",
                    "--qos", "reliable,transient_local,keep_last:5")
    tal.wait_for("done")
    time.sleep(0.3)
    lis = ros.spawn("listener.py", "--count", "5", "--timeout", "10",
                    "--qos", "reliable,transient_local,keep_last:5")
    lis.wait_for("done", timeout=20)
    got = [d["msg"]["data"] for d in lis.events("msg")]
    assert got == [f"hello {i}" for i in range(5)]


def test_keep_last_depth_with_slow_subscriber(ros):
    lis = ros.spawn("listener.py", "--sleep-first", "3", "--timeout", "2",
                    "--qos", "reliable,keep_last:3")
    lis.wait_for("ready")
    tal = ros.spawn("talker.py", "--count", "30", "--period", "0", "--wait-match", "1",
                    "--qos", "reliable,keep_last:3", "--linger", "4")
    tal.wait_for("done")
    lis.wait_for("done", timeout=20)
    got = [int(d["msg"]["data"].split()[1]) for d in lis.events("msg")]
    assert 1 <= len(got) <= 3, got
    assert got[-1] == 29 and got == sorted(got)


def test_reliable_keep_all_no_loss(ros):
    n = 500
    lis = ros.spawn("listener.py", "--count", str(n), "--timeout", "30",
                    "--qos", "reliable,keep_all")
    lis.wait_for("ready")
    tal = ros.spawn("talker.py", "--count", str(n), "--period", "0", "--wait-match", "1",
                    "--qos", "reliable,keep_all", "--linger", "3")
    lis.wait_for("done", timeout=60)
    got = [int(d["msg"]["data"].split()[1]) for d in lis.events("msg")]
    assert got == list(range(n))


def test_incompatible_qos_event(ros):
    lis = ros.spawn("listener.py", "--events", "--timeout", "6", "--qos", "reliable")
    lis.wait_for("ready")
    tal = ros.spawn("talker.py", "--count", "20", "--period", "0.1", "--qos", "best_effort")
    ev = lis.wait_for("incompatible_qos", timeout=15)
    assert ev["total"] >= 1
    assert ev["policy"] == 16  # RMW_QOS_POLICY_RELIABILITY (1 << 4)
    lis.wait_for("done", timeout=20)
    assert not lis.events("msg"), "incompatible QoS must not deliver"


def test_content_filter(ros):
    lis = ros.spawn("listener.py", "--timeout", "6", "--filter", "data LIKE %0 OR data = 'hello 3'",
                    "--params", "'hello 1%'")
    assert lis.wait_for("ready")["cft"] is True
    tal = ros.spawn("talker.py", "--count", "20", "--period", "0.01", "--wait-match", "1")
    lis.wait_for("done", timeout=20)
    got = [d["msg"]["data"] for d in lis.events("msg")]
    want = ["hello 1", "hello 3"] + [f"hello {i}" for i in range(10, 20)]
    assert got == want


def test_on_new_message_callback_counts(ros):
    lis = ros.spawn("listener.py", "--count", "10", "--timeout", "15", "--listener-callback",
                    "--qos", "reliable,keep_last:50")
    lis.wait_for("ready")
    ros.spawn("talker.py", "--count", "10", "--period", "0.01", "--wait-match", "1",
              "--qos", "reliable,keep_last:50")
    lis.wait_for("done", timeout=30)
    assert len(lis.events("msg")) == 10
    cbs = lis.events("callback")
    assert cbs and cbs[-1]["total"] == 10, cbs


def test_loaned_messages_for_plain_types(ros):
    lis = ros.spawn("listener.py", "--type", "std_msgs/msg/Int32", "--count", "5", "--timeout", "15")
    lis.wait_for("ready")
    tal = ros.spawn("talker.py", "--type", "std_msgs/msg/Int32", "--loan", "--count", "5",
                    "--period", "0.01", "--wait-match", "1")
    assert tal.wait_for("can_loan")["value"] is True
    lis.wait_for("done", timeout=20)
    assert [d["msg"]["data"] for d in lis.events("msg")] == [1000 + i for i in range(5)]


def test_domain_ids_are_isolated(ros):
    other = str((ros.domain + 1) % 200 + 1)
    lis = ros.spawn("listener.py", "--timeout", "3", ROS_DOMAIN_ID=other)
    lis.wait_for("ready")
    same = ros.spawn("listener.py", "--count", "3", "--timeout", "10")
    same.wait_for("ready")
    ros.spawn("talker.py", "--count", "10", "--period", "0.02", "--wait-match", "1")
    same.wait_for("done", timeout=20)
    lis.wait_for("done", timeout=20)
    assert len(same.events("msg")) >= 3
    assert not lis.events("msg")


def test_requested_deadline_missed(ros):
    lis = ros.spawn("listener.py", "--events", "--timeout", "4", "--qos", "reliable,deadline:0.2")
    lis.wait_for("ready")
    tal = ros.spawn("talker.py", "--count", "10", "--period", "0.05", "--wait-match", "1",
                    "--qos", "reliable,deadline:0.2", "--linger", "3")
    done = tal.wait_for("done", timeout=20)
    lis.wait_for("done", timeout=20)
    msgs = lis.events("msg")
    assert len(msgs) == 10
    late = [d for d in lis.events("deadline_missed") if d["t"] > done["t"]]
    # About 3 s of silence with a 0.2 s deadline: ~10 missed periods, reported promptly.
    assert late and late[-1]["total"] >= 5, lis.events("deadline_missed")
    assert late[0]["t"] - done["t"] < 0.5


def test_serialized_publish_and_take(ros):
    lis = ros.spawn("listener.py", "--raw", "--type", "test_msgs/msg/BasicTypes", "--count", "5")
    lis.wait_for("ready")
    tal = ros.spawn("talker.py", "--raw", "--type", "test_msgs/msg/BasicTypes", "--count", "5",
                    "--period", "0.01", "--wait-match", "1")
    lis.wait_for("done", timeout=20)
    tal.wait_for("done", timeout=20)  # all its "sent" lines are read
    sent = tal.events("sent")
    got = lis.events("msg")
    assert [g["cdr"] for g in got] == [s["cdr"] for s in sent]
    assert [g["msg"] for g in got] == [s["msg"] for s in sent]
    assert got[0]["cdr"].startswith("00010000")  # CDR little-endian encapsulation


def test_incompatible_type_event_and_no_delivery(ros):
    lis = ros.spawn("listener.py", "--events", "--type", "std_msgs/msg/Int32", "--timeout", "5")
    lis.wait_for("ready")
    ros.spawn("talker.py", "--count", "20", "--period", "0.1")  # std_msgs/String, same topic
    lis.wait_for("incompatible_type", timeout=15)
    lis.wait_for("done", timeout=20)
    assert not lis.events("msg")
