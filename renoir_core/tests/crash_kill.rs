//! Crash recovery with real processes killed by SIGKILL at arbitrary
//! points (mid-publish, mid-take, holding samples), many times, plus the
//! in-process `abandon()` variants. The survivor must go on, the graph must
//! drop the dead, and no segment may be left.
// Atomics via renoir_core::sync (clippy resolves the re-export to std).
#![allow(clippy::disallowed_types)]

mod topic_common;

use renoir_core::registry::Domain;
use renoir_core::topic::{Qos, TopicSpec};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};
use topic_common::*;

fn spec(topic: &str, qos: Qos) -> TopicSpec {
    TopicSpec::new(topic, "test/Pattern", qos)
}

fn fill(buf: &mut [u8], i: u64) {
    buf[..8].copy_from_slice(&i.to_le_bytes());
    buf[8..].fill(i as u8);
}

/// Header plus every 512th byte and the last one (debug builds are slow).
fn check(buf: &[u8], seq: u64) -> bool {
    let v = (seq.wrapping_sub(1)) as u8;
    buf.len() >= 8
        && u64::from_le_bytes(buf[..8].try_into().unwrap()) + 1 == seq
        && buf[8..].iter().step_by(512).all(|b| *b == v)
        && buf.last().is_none_or(|b| buf.len() == 8 || *b == v)
}

/// Tiny deterministic PRNG (xorshift) so kill points vary.
struct Rng(u64);
impl Rng {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

fn env_u32(k: &str) -> u32 {
    std::env::var(k).unwrap().parse().unwrap()
}

#[test]
fn child() {
    match role().as_deref() {
        Some("publoop") => {
            let d = Domain::join(env_u32("T_DOMAIN")).unwrap();
            let n = d.add_node("dying_talker", "/", "").unwrap();
            let p = d
                .create_publisher(&n, spec("/crash", Qos::reliable(8)))
                .unwrap();
            println!("READY");
            let sizes = [64usize, 200_000, 6_220_800];
            for i in 0u64.. {
                let len = sizes[(i % 3) as usize];
                match p.loan(len) {
                    Ok(mut m) => {
                        fill(&mut m, i);
                        let _ = p.publish(m, now_ns());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        }
        Some("subloop") => {
            let d = Domain::join(env_u32("T_DOMAIN")).unwrap();
            let n = d.add_node("dying_listener", "/", "").unwrap();
            let s = d
                .create_subscriber(&n, spec("/crash_sub", Qos::keep_all_reliable()))
                .unwrap();
            println!("READY");
            let mut held = VecDeque::new();
            loop {
                let seen = d.doorbell_seq();
                match s.take() {
                    Ok(Some(x)) => {
                        assert!(check(&x, x.info().sequence));
                        held.push_back(x);
                        if held.len() > 3 {
                            held.pop_front();
                        }
                    }
                    Ok(None) => {
                        d.wait(seen, Some(Duration::from_millis(100)));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        Some("idle") => {
            let d = Domain::join(env_u32("T_DOMAIN")).unwrap();
            let n = d.add_node("idle", "/", "").unwrap();
            let p = d
                .create_publisher(&n, spec("/idle", Qos::transient_local(4)))
                .unwrap();
            let s = d
                .create_subscriber(&n, spec("/idle", Qos::transient_local(4)))
                .unwrap();
            for i in 0..10 {
                let mut m = p.loan(7_000_000).unwrap();
                fill(&mut m, i);
                p.publish(m, 0).unwrap();
            }
            let _held = s.take().unwrap().unwrap();
            println!("READY");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Some("foreign") => {
            let d = Domain::join(env_u32("T_DOMAIN")).unwrap();
            let _n = d.add_node("elsewhere", "/", "").unwrap();
            set_pid_ns(&d, d.process_slot().0, 12345);
            println!("READY");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Some(r) => panic!("unknown role {r}"),
        None => {}
    }
}

/// Overwrite the pid-namespace word of process record `slot`.
fn set_pid_ns(d: &Domain, slot: u32, ns: u64) {
    use renoir_core::region::{Access, Backend, Region};
    let r = Region::open(d.registry_name(), Backend::Shm, Access::ReadWrite).unwrap();
    let lay = renoir_core::registry::layout::RegLayout::compute(r.payload_offset());
    let rec: &renoir_core::registry::layout::ProcessRecord = r
        .get(
            lay.processes
                + slot as usize
                    * std::mem::size_of::<renoir_core::registry::layout::ProcessRecord>(),
        )
        .unwrap();
    rec.pid_ns
        .store(ns, renoir_core::sync::atomic::Ordering::Relaxed);
}

fn spawn_ready(role: &str, dom: u32) -> Child {
    let mut c = spawn_child("child", role, &[("T_DOMAIN", dom.to_string())]);
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited early");
        if line.trim().ends_with("READY") {
            break;
        }
    }
    // Keep draining its stdout in the background (test harness output).
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    c
}

fn kill(mut c: Child) -> u32 {
    let pid = c.id();
    c.kill().unwrap(); // SIGKILL
    c.wait().unwrap();
    pid
}

fn wait_gone(d: &Domain, pid: u32) {
    let t = Instant::now();
    loop {
        let g = d.graph();
        if !g.endpoints.iter().any(|e| e.pid == pid) && !g.nodes.iter().any(|n| n.pid == pid) {
            return;
        }
        assert!(
            t.elapsed() < scaled(Duration::from_secs(5)),
            "dead process {pid} still in graph"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_publisher_mid_publish_repeatedly() {
    if role().is_some() || no_spawn("kill_publisher_mid_publish_repeatedly") {
        return;
    }
    init();
    let dom = 301;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64);
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("survivor", "/", "").unwrap();
        let s = d
            .create_subscriber(&n, spec("/crash", Qos::reliable(8)))
            .unwrap();
        let stable = d
            .create_publisher(&n, spec("/crash", Qos::reliable(8)))
            .unwrap();
        let (mut from_dying, mut from_stable) = (0u64, 0u64);
        for round in 0..8u64 {
            let c = spawn_ready("publoop", dom);
            let t = Instant::now();
            while s.matched_publishers() < 2 {
                assert!(t.elapsed() < scaled(Duration::from_secs(5)));
                std::thread::sleep(Duration::from_millis(2));
            }
            let run = Duration::from_millis(rng.next(10, 120));
            let t = Instant::now();
            while t.elapsed() < run {
                while let Some(x) = s.take().unwrap() {
                    if t.elapsed() > run {
                        break;
                    }
                    if x.info().publisher_gid == stable.gid() {
                        from_stable += 1;
                    } else {
                        assert!(check(&x, x.info().sequence), "torn sample in round {round}");
                        from_dying += 1;
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            let pid = kill(c);
            // Samples already published by the dead one stay readable and
            // intact; drain them.
            while let Some(x) = s.take().unwrap() {
                if x.info().publisher_gid != stable.gid() {
                    assert!(check(&x, x.info().sequence), "torn sample after kill");
                }
            }
            wait_gone(&d, pid);
            // The survivor keeps working.
            let mut m = stable.loan(32).unwrap();
            fill(&mut m, round);
            stable.publish(m, 0).unwrap();
            let t = Instant::now();
            loop {
                if let Some(x) = s.take().unwrap() {
                    if x.info().publisher_gid == stable.gid() {
                        from_stable += 1;
                        break;
                    }
                }
                assert!(
                    t.elapsed() < scaled(Duration::from_secs(5)),
                    "survivor stopped receiving"
                );
            }
            assert_eq!(s.matched_publishers(), 1);
            // Nothing of the dead publisher may remain.
            let pid_tag = format!("_pub_{pid}_");
            let t = Instant::now();
            while leftovers(dom).iter().any(|f| f.contains(&pid_tag)) {
                assert!(
                    t.elapsed() < scaled(Duration::from_secs(5)),
                    "{:?}",
                    leftovers(dom)
                );
                d.reap();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        assert!(from_dying > 0, "never received from the dying publishers");
        assert!(from_stable >= 8);
    }
    assert_clean(dom);
}

#[test]
fn kill_subscriber_mid_take_repeatedly() {
    if role().is_some() || no_spawn("kill_subscriber_mid_take_repeatedly") {
        return;
    }
    init();
    let dom = 302;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ std::process::id() as u64);
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("survivor", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/crash_sub", Qos::keep_all_reliable()))
            .unwrap();
        p.set_max_blocking(scaled(Duration::from_secs(3)));
        let mut i = 0u64;
        let mut publish = |p: &renoir_core::topic::Publisher| {
            let len = if i % 4 == 3 { 3_000_000 } else { 1000 };
            let mut m = p.loan(len).expect("loan after reader crash");
            fill(&mut m, i);
            i += 1;
            p.publish(m, 0).expect("publish after reader crash");
        };
        for _round in 0..8 {
            let c = spawn_ready("subloop", dom);
            let t = Instant::now();
            while p.matched_subscribers() < 1 {
                assert!(t.elapsed() < scaled(Duration::from_secs(5)));
                std::thread::sleep(Duration::from_millis(2));
            }
            let run = Duration::from_millis(rng.next(10, 120));
            let t = Instant::now();
            while t.elapsed() < run {
                publish(&p);
            }
            let pid = kill(c);
            // The writer must not stay blocked on the dead reader, and its
            // pool must not leak the dead reader's held slots.
            for _ in 0..200 {
                publish(&p);
            }
            assert_eq!(p.matched_subscribers(), 0);
            wait_gone(&d, pid);
            let st = p.stats();
            assert!(st.pool_used <= st.pool_total, "{st:?}");
        }
        // All slots usable again: a full ring's worth of loans succeeds.
        let held: Vec<_> = (0..8).map(|_| p.loan(100).unwrap()).collect();
        drop(held);
    }
    assert_clean(dom);
}

#[test]
fn renoir_clean_removes_a_dead_process_entirely() {
    if role().is_some() || no_spawn("renoir_clean_removes_a_dead_process_entirely") {
        return;
    }
    init();
    let dom = 303;
    let c = spawn_ready("idle", dom);
    assert!(!leftovers(dom).is_empty());
    kill(c);
    let rep = renoir_core::cleanup::clean(Some(dom));
    assert_eq!(rep.registries_removed, vec![dom], "{rep:?}");
    assert!(rep.records >= 4, "{rep:?}");
    assert_clean(dom);
}

#[test]
fn abandoned_publisher_and_subscriber_are_reaped_in_process() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 304;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d
            .create_publisher(&n, spec("/ab", Qos::reliable(4)))
            .unwrap();
        let s = d
            .create_subscriber(&n, spec("/ab", Qos::reliable(4)))
            .unwrap();
        let s2 = d
            .create_subscriber(&n, spec("/ab", Qos::reliable(4)))
            .unwrap();
        assert_eq!(p.matched_subscribers(), 2);
        for i in 0..4 {
            let mut m = p.loan(1000).unwrap();
            fill(&mut m, i);
            p.publish(m, 0).unwrap();
        }
        // s holds every slot of the ring, then "crashes".
        let held: Vec<_> = (0..4).map(|_| s.take().unwrap().unwrap()).collect();
        s.abandon();
        std::mem::forget(held);
        // The publisher keeps going (after reaping the dead reader).
        for i in 4..100 {
            let mut m = p.loan(1000).unwrap();
            fill(&mut m, i);
            p.publish(m, 0).unwrap();
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(p.matched_subscribers(), 1);
        let x = s2.take().unwrap().unwrap();
        assert!(check(&x, x.info().sequence));
        drop(x);
        // Abandoned publisher: record and segments stay until reaped.
        let seg = p.segment_name().to_string();
        p.abandon();
        assert!(leftovers(dom).iter().any(|f| f.ends_with(&seg)));
        assert!(d.reap() >= 2);
        assert!(!leftovers(dom).iter().any(|f| f.ends_with(&seg)));
        assert_eq!(d.graph().endpoints.len(), 1);
        drop(s2);
    }
    assert_clean(dom);
}

#[test]
fn abandoned_domain_is_reaped_by_the_next_joiner() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 305;
    let d = Domain::join(dom).unwrap();
    let n = d.add_node("ghost", "/", "").unwrap();
    let p = d
        .create_publisher(&n, spec("/ghost", Qos::reliable(4)))
        .unwrap();
    p.publish_bytes(b"boo", 0).unwrap();
    d.clone().abandon();
    drop((p, n, d));
    {
        let d = Domain::join(dom).unwrap();
        let g = d.graph();
        assert!(g.nodes.is_empty(), "{g:?}");
        assert!(g.endpoints.is_empty(), "{g:?}");
    }
    assert_clean(dom);
}

/// A member in another pid namespace (container sharing /dev/shm) is never
/// judged dead by pid: even killed, it stays until someone in its own
/// namespace (or an operator) cleans up.
#[test]
fn member_in_another_pid_namespace_is_not_judged_by_pid() {
    if role().is_some() || no_spawn("member_in_another_pid_namespace_is_not_judged_by_pid") {
        return;
    }
    init();
    let dom = 306;
    {
        let d = Domain::join(dom).unwrap();
        let c = spawn_ready("foreign", dom);
        let pid = kill(c);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(d.reap(), 0);
        assert!(d.graph().nodes.iter().any(|n| n.pid == pid));
        // Back in our namespace (as if seen from its own): reaped.
        let slot = (0..256u32)
            .find(|&s| {
                let r = renoir_core::region::Region::open(
                    d.registry_name(),
                    renoir_core::region::Backend::Shm,
                    renoir_core::region::Access::ReadOnly,
                )
                .unwrap();
                let lay = renoir_core::registry::layout::RegLayout::compute(r.payload_offset());
                let rec: &renoir_core::registry::layout::ProcessRecord = r
                    .get(
                        lay.processes
                            + s as usize
                                * std::mem::size_of::<renoir_core::registry::layout::ProcessRecord>(
                                ),
                    )
                    .unwrap();
                rec.slot.load().pid() == pid
            })
            .unwrap();
        set_pid_ns(&d, slot, 0);
        assert!(d.reap() >= 2);
        assert!(!d.graph().nodes.iter().any(|n| n.pid == pid));
    }
    assert_clean(dom);
}
