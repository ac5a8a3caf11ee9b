//! Cross-process topic tests: the publisher runs in the test process, the
//! subscribers are children (this test binary re-executed with a role).
//! Every test uses its own domain id under a per-binary segment prefix and
//! checks that no segment of that domain is left at the end.
mod topic_common;

use renoir_core::registry::Domain;
use renoir_core::topic::{History, Qos, TopicSpec};
use std::time::{Duration, Instant};
use topic_common::*;

fn qos_of(s: &str) -> Qos {
    match s {
        "be5" => Qos::best_effort(5),
        "rel10" => Qos::reliable(10),
        "all" => Qos::keep_all_reliable(),
        "tl5" => Qos::transient_local(5),
        _ => panic!("unknown qos {s}"),
    }
}

fn spec(topic: &str, q: &str) -> TopicSpec {
    TopicSpec::new(topic, "test/Pattern", qos_of(q))
}

/// Payload of sample `i`: 8-byte index then the byte `i as u8` repeated.
fn fill(buf: &mut [u8], i: u64) {
    buf[..8].copy_from_slice(&i.to_le_bytes());
    buf[8..].fill(i as u8);
}

fn check(buf: &[u8]) -> Option<u64> {
    if buf.len() < 8 {
        return None;
    }
    let i = u64::from_le_bytes(buf[..8].try_into().unwrap());
    buf[8..].iter().all(|b| *b == i as u8).then_some(i)
}

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Child: subscribe, receive with blocking waits, verify, print a result.
fn run_sub() {
    let domain = env_u64("T_DOMAIN", 0) as u32;
    let topic = std::env::var("T_TOPIC").unwrap();
    let q = std::env::var("T_QOS").unwrap();
    let expect = env_u64("T_EXPECT", 0);
    let sleep_first = env_u64("T_SLEEP_MS", 0);
    let slow_every = env_u64("T_SLOW_EVERY", 0);
    let d = Domain::join(domain).unwrap();
    let n = d.add_node("listener", "/", "").unwrap();
    let s = d.create_subscriber(&n, spec(&topic, &q)).unwrap();
    println!("READY");
    if sleep_first > 0 {
        std::thread::sleep(Duration::from_millis(sleep_first));
    }
    let (mut got, mut bad, mut first, mut last) = (0u64, 0u64, 0u64, 0u64);
    let mut in_order = true;
    let deadline = Instant::now() + scaled(Duration::from_secs(30));
    let idle_limit = scaled(Duration::from_millis(env_u64("T_IDLE_MS", 2000)));
    let mut idle_since = Instant::now();
    while got < expect && Instant::now() < deadline {
        let seen = d.doorbell_seq();
        match s.take() {
            Ok(Some(x)) => {
                idle_since = Instant::now();
                let seq = x.info().sequence;
                match check(&x) {
                    Some(i) if i + 1 == seq => {}
                    _ => bad += 1,
                }
                if got == 0 {
                    first = seq;
                } else if seq != last + 1 {
                    in_order = false;
                }
                last = seq;
                got += 1;
                if slow_every > 0 && got % slow_every == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(None) => {
                if idle_since.elapsed() > idle_limit && sleep_first > 0 {
                    break;
                }
                d.wait(seen, Some(Duration::from_millis(200)));
            }
            Err(e) => panic!("take: {e}"),
        }
    }
    println!(
        "RESULT got={got} lost={} first={first} last={last} bad={bad} in_order={}",
        s.lost(),
        in_order as u8
    );
}

fn parse(out: &str, key: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or_else(|| panic!("no RESULT in {out:?}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[test]
fn child() {
    match role().as_deref() {
        Some("sub") => run_sub(),
        Some(r) => panic!("unknown role {r}"),
        None => {}
    }
}

fn sub_env(domain: u32, topic: &str, q: &str, expect: u64) -> Vec<(&'static str, String)> {
    vec![
        ("T_DOMAIN", domain.to_string()),
        ("T_TOPIC", topic.to_string()),
        ("T_QOS", q.to_string()),
        ("T_EXPECT", expect.to_string()),
    ]
}

fn wait_matched(p: &renoir_core::topic::Publisher, n: usize) {
    let t = Instant::now();
    while p.matched_subscribers() < n {
        assert!(
            t.elapsed() < scaled(Duration::from_secs(20)),
            "subscribers did not match"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn publish_pattern(p: &renoir_core::topic::Publisher, i: u64, len: usize) {
    let mut m = p.loan(len).unwrap();
    fill(&mut m, i);
    p.publish(m, now_ns()).unwrap();
}

#[test]
fn blocking_wait_wakes_across_processes() {
    if role().is_some() || no_spawn("blocking_wait_wakes_across_processes") {
        return;
    }
    init();
    let dom = 201;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let p = d.create_publisher(&n, spec("/wake", "all")).unwrap();
        p.set_max_blocking(scaled(Duration::from_secs(10)));
        let c = spawn_child("child", "sub", &sub_env(dom, "/wake", "all", 200));
        wait_matched(&p, 1);
        for i in 0..200 {
            publish_pattern(&p, i, 64);
            std::thread::sleep(Duration::from_micros(500));
        }
        let (ok, out) = wait_child(c, Duration::from_secs(30));
        assert!(ok, "{out}");
        assert_eq!(parse(&out, "got"), 200, "{out}");
        assert_eq!(parse(&out, "bad"), 0, "{out}");
        assert_eq!(parse(&out, "lost"), 0, "{out}");
    }
    assert_clean(dom);
}

#[test]
fn keep_last_slow_reader_counts_loss() {
    if role().is_some() || no_spawn("keep_last_slow_reader_counts_loss") {
        return;
    }
    init();
    let dom = 202;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let p = d.create_publisher(&n, spec("/lossy", "be5")).unwrap();
        let mut env = sub_env(dom, "/lossy", "be5", 100);
        env.push(("T_SLEEP_MS", "1500".into()));
        env.push(("T_IDLE_MS", "300".into()));
        let c = spawn_child("child", "sub", &env);
        wait_matched(&p, 1);
        for i in 0..100 {
            publish_pattern(&p, i, 128);
        }
        let (ok, out) = wait_child(c, Duration::from_secs(30));
        assert!(ok, "{out}");
        assert_eq!(parse(&out, "got"), 5, "{out}");
        assert_eq!(parse(&out, "first"), 96, "{out}");
        assert_eq!(parse(&out, "last"), 100, "{out}");
        assert_eq!(parse(&out, "lost"), 95, "{out}");
        assert_eq!(parse(&out, "bad"), 0, "{out}");
    }
    assert_clean(dom);
}

#[test]
fn reliable_keep_all_loses_nothing() {
    if role().is_some() || no_spawn("reliable_keep_all_loses_nothing") {
        return;
    }
    init();
    let dom = 203;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let p = d.create_publisher(&n, spec("/reliable", "all")).unwrap();
        assert_eq!(p.spec().qos.history, History::KeepAll);
        p.set_max_blocking(scaled(Duration::from_secs(10)));
        let mut env = sub_env(dom, "/reliable", "all", 5000);
        env.push(("T_SLOW_EVERY", "100".into()));
        let c = spawn_child("child", "sub", &env);
        wait_matched(&p, 1);
        for i in 0..5000 {
            publish_pattern(&p, i, 256);
        }
        let (ok, out) = wait_child(c, Duration::from_secs(60));
        assert!(ok, "{out}");
        assert_eq!(parse(&out, "got"), 5000, "{out}");
        assert_eq!(parse(&out, "lost"), 0, "{out}");
        assert_eq!(parse(&out, "bad"), 0, "{out}");
        assert_eq!(parse(&out, "in_order"), 1, "{out}");
        assert!(
            p.stats().blocked > 0,
            "writer never had to wait: {:?}",
            p.stats()
        );
    }
    assert_clean(dom);
}

#[test]
fn transient_local_late_joiner_gets_last_n() {
    if role().is_some() || no_spawn("transient_local_late_joiner_gets_last_n") {
        return;
    }
    init();
    let dom = 204;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let p = d.create_publisher(&n, spec("/latched", "tl5")).unwrap();
        for i in 0..20 {
            publish_pattern(&p, i, 100);
        }
        let c = spawn_child("child", "sub", &sub_env(dom, "/latched", "tl5", 5));
        let (ok, out) = wait_child(c, Duration::from_secs(30));
        assert!(ok, "{out}");
        assert_eq!(parse(&out, "got"), 5, "{out}");
        assert_eq!(parse(&out, "first"), 16, "{out}");
        assert_eq!(parse(&out, "last"), 20, "{out}");
        assert_eq!(parse(&out, "bad"), 0, "{out}");
    }
    assert_clean(dom);
}

#[test]
fn fan_out_to_four_processes_large_samples() {
    if role().is_some() || no_spawn("fan_out_to_four_processes_large_samples") {
        return;
    }
    init();
    let dom = 205;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/fan", "all").hint(1 << 20))
            .unwrap();
        p.set_max_blocking(scaled(Duration::from_secs(10)));
        let kids: Vec<_> = (0..4)
            .map(|_| spawn_child("child", "sub", &sub_env(dom, "/fan", "all", 60)))
            .collect();
        wait_matched(&p, 4);
        for i in 0..60 {
            // alternate inline-sized and blob-sized samples
            let len = if i % 2 == 0 { 1 << 20 } else { 6_220_800 };
            publish_pattern(&p, i, len);
        }
        for c in kids {
            let (ok, out) = wait_child(c, Duration::from_secs(60));
            assert!(ok, "{out}");
            assert_eq!(parse(&out, "got"), 60, "{out}");
            assert_eq!(parse(&out, "bad"), 0, "{out}");
            assert_eq!(parse(&out, "lost"), 0, "{out}");
        }
    }
    assert_clean(dom);
}
