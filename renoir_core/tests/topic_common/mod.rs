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

/// Factor for wall-clock limits in tests. 1 natively. Under instruction
/// emulation (the aarch64 CI stage runs the tests, and every child process,
/// under qemu-user) debug code runs 10-30x slower, so limits that are
/// generous natively become too tight: scaled by `RENOIR_TEST_TIME_SCALE`
/// when set, else 10 when qemu-user is detected. Only *limits* (deadlines,
/// "within N s" assertions) are scaled, never what the tests check.
pub fn time_scale() -> u32 {
    static SCALE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *SCALE.get_or_init(|| {
        if let Some(v) = std::env::var("RENOIR_TEST_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
        {
            return v.max(1);
        }
        if under_qemu() {
            10
        } else {
            1
        }
    })
}

/// `d` times [`time_scale`].
pub fn scaled(d: Duration) -> Duration {
    d * time_scale()
}

/// qemu-user answers `open("/proc/self/stat")` itself, with a synthesized
/// file whose state field (3) is `0` instead of a letter; the kernel's file
/// always has a letter there. `QEMU_LD_PREFIX` (set by the CI stage) also
/// counts.
fn under_qemu() -> bool {
    if std::env::var_os("QEMU_LD_PREFIX").is_some() {
        return true;
    }
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| {
            let rest = &t[t.rfind(')')? + 1..];
            rest.split_ascii_whitespace().next()?.chars().next()
        })
        .is_some_and(|c| !c.is_ascii_alphabetic())
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
        if t.elapsed() > scaled(Duration::from_secs(3)) {
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
/// `timeout` is scaled by [`time_scale`].
pub fn wait_child(mut c: Child, timeout: Duration) -> (bool, String) {
    let timeout = scaled(timeout);
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
