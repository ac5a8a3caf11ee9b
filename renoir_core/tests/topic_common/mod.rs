//! Shared helpers for the topic/registry/crash tests: a unique segment
//! prefix per test binary, leftover checks, child processes that re-exec
//! the test binary.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

static INIT: Once = Once::new();

/// Role env var: set in children to pick what they do.
pub const ROLE: &str = "RENOIR_TEST_ROLE";

/// Set a unique `RENOIR_SHM_PREFIX` for this test binary (children inherit
/// it). Call first in every test.
pub fn init() -> String {
    INIT.call_once(|| {
        if std::env::var("RENOIR_SHM_PREFIX").is_err() {
            let p = format!(
                "rt{}x{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_micros()
            );
            // Set before any other thread of this binary reads it (Once).
            std::env::set_var("RENOIR_SHM_PREFIX", p);
        }
    });
    std::env::var("RENOIR_SHM_PREFIX").unwrap()
}

/// Files in /dev/shm that belong to `domain` under our prefix.
pub fn leftovers(domain: u32) -> Vec<String> {
    let pre = format!("{}_{}_", init(), domain);
    let mut v: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|n| n.starts_with(&pre))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Assert (waiting up to 3 s for reapers) that nothing of `domain` is left.
pub fn assert_clean(domain: u32) {
    let t = Instant::now();
    loop {
        let l = leftovers(domain);
        if l.is_empty() {
            return;
        }
        if t.elapsed() > Duration::from_secs(3) {
            panic!("leftover segments for domain {domain}: {l:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawn this test binary running only test `test_name` with `ROLE=role`
/// and extra env.
pub fn spawn_child(test_name: &str, role: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe);
    c.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// The role of this process, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// Wait for a child with a timeout; kill it if it overstays.
pub fn wait_child(mut c: Child, timeout: Duration) -> (bool, String) {
    let t = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(mut o) = c.stdout.take() {
                use std::io::Read;
                let _ = o.read_to_string(&mut out);
            }
            return (st.success(), out);
        }
        if t.elapsed() > timeout {
            let _ = c.kill();
            let _ = c.wait();
            return (false, "timeout".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// `RENOIR_NO_SPAWN=1` (qemu-user runs without binfmt_misc): tests that
/// re-exec this binary skip themselves, saying so.
pub fn no_spawn(test: &str) -> bool {
    let skip = std::env::var_os("RENOIR_NO_SPAWN").is_some();
    if skip {
        eprintln!("SKIPPED {test}: RENOIR_NO_SPAWN is set (cannot spawn children)");
    }
    skip
}
