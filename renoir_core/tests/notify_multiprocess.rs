//! Futex wakeups across real processes (non-private futex ops): a process
//! blocked in `Event::wait_until` is woken by another process, in both
//! directions, and a `Doorbell` owner is woken by rings from two processes.
#![cfg(not(loom))]
// Atomics come from renoir_core::sync (see the note in ring/mod.rs).
#![allow(clippy::disallowed_types)]

mod ring_common;

use renoir_core::notify::{Doorbell, Event};
use renoir_core::sync::atomic::{AtomicU32, Ordering};
use ring_common::*;
use std::path::Path;
use std::time::{Duration, Instant};

// Area layout: [0] Event, [64] Doorbell, [128..] AtomicU32 flags (64 apart):
// 0 waiter's condition, 1 waker's condition, 2-3 ringers, 4 waiter started.
const EVENT: usize = 0;
const BELL: usize = 64;
fn flag(i: usize) -> usize {
    128 + 64 * i
}
const SIZE: usize = 4096;

#[test]
fn child() {
    let Some((role, path)) = child_role() else {
        return;
    };
    let area = ShmArea::open(Path::new(&path));
    let ev: &Event = area.get(EVENT);
    let bell: &Doorbell = area.get(BELL);
    match role.as_str() {
        "waiter" => {
            // Block until flag 0 is set by the parent, reporting how long.
            let f: &AtomicU32 = area.get(flag(0));
            let ready: &AtomicU32 = area.get(flag(4));
            let t = Instant::now();
            ready.store(1, Ordering::Release);
            let ok = ev.wait_until(
                || f.load(Ordering::Acquire) == 1,
                Some(Duration::from_secs(20)),
            );
            println!("ok={} waited_ms={}", ok as u32, t.elapsed().as_millis());
        }
        "waker" => {
            std::thread::sleep(Duration::from_millis(300));
            let f: &AtomicU32 = area.get(flag(1));
            f.store(1, Ordering::Release);
            ev.notify();
        }
        r if r.starts_with("ringer") => {
            let i: usize = r["ringer".len()..].parse().unwrap();
            std::thread::sleep(Duration::from_millis(100 + 100 * i as u64));
            let f: &AtomicU32 = area.get(flag(2 + i));
            f.store(1, Ordering::Release);
            bell.ring();
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn child_blocked_in_futex_is_woken_by_parent() {
    let area = ShmArea::create(SIZE);
    let ev: &Event = area.get(EVENT);
    let f: &AtomicU32 = area.get(flag(0));
    let ready: &AtomicU32 = area.get(flag(4));
    let c = spawn_child("child", "waiter", &area, &[]);
    // Wait until the child has started its clock (start-up is slow under
    // qemu), then give it time to go to sleep in FUTEX_WAIT.
    let t0 = Instant::now();
    while ready.load(Ordering::Acquire) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "child never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    f.store(1, Ordering::Release);
    let t = Instant::now();
    ev.notify();
    let (st, out) = wait_child(c, 20);
    assert!(st.success(), "{out}");
    assert_eq!(child_value(&out, "ok"), Some(1), "{out}");
    // It really slept (not a busy poll that happened to see the flag)...
    assert!(child_value(&out, "waited_ms").unwrap() >= 300, "{out}");
    // ...and was woken promptly, far before its 20 s timeout.
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn parent_blocked_in_futex_is_woken_by_child() {
    let area = ShmArea::create(SIZE);
    let ev: &Event = area.get(EVENT);
    let f: &AtomicU32 = area.get(flag(1));
    let c = spawn_child("child", "waker", &area, &[]);
    let t = Instant::now();
    assert!(ev.wait_until(
        || f.load(Ordering::Acquire) == 1,
        Some(Duration::from_secs(20))
    ));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    let (st, _) = wait_child(c, 20);
    assert!(st.success());
}

#[test]
fn doorbell_owner_woken_by_two_ringer_processes() {
    let area = ShmArea::create(SIZE);
    let bell: &Doorbell = area.get(BELL);
    let kids: Vec<_> = (0..2)
        .map(|i| spawn_child("child", &format!("ringer{i}"), &area, &[]))
        .collect();
    let flags: Vec<&AtomicU32> = (0..2).map(|i| area.get(flag(2 + i))).collect();
    let t = Instant::now();
    let mut seen = bell.seq();
    let mut wakeups = 0;
    while !flags.iter().all(|f| f.load(Ordering::Acquire) == 1) {
        assert!(t.elapsed() < Duration::from_secs(20), "doorbell never rang");
        seen = bell.wait(seen, Some(Duration::from_secs(20)));
        wakeups += 1;
    }
    // Two sources, one futex word: woken at most once per ring (+ spurious).
    assert!((1..=4).contains(&wakeups), "{wakeups}");
    assert_eq!(bell.seq(), 2);
    for k in kids {
        assert!(wait_child(k, 20).0.success());
    }
}

#[test]
fn wait_timeout_is_honoured_on_shared_memory() {
    let area = ShmArea::create(SIZE);
    let ev: &Event = area.get(EVENT);
    let t = Instant::now();
    assert!(!ev.wait_until(|| false, Some(Duration::from_millis(100))));
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(99) && e < Duration::from_secs(3),
        "{e:?}"
    );
}
