//! The native publisher (`native_pub`, renoir_core::wire) against the C rcl
//! subscriber on rmw_renoir, both takes: every message arrives, every
//! payload byte checks out under rcl_bench's own checks, and a native
//! configuration is refused on an rmw it cannot talk to. Real processes,
//! real shared memory; bounded by the run's deadlines.

use std::path::{Path, PathBuf};
use std::process::Command;

use renoir_bench::config::{msg, Config, Pub, Take};
use renoir_bench::runner::{self, Env, Rmw, Status};
use renoir_bench::{RCL_EXE, ROS_LIBS};

const NATIVE: &str = env!("CARGO_BIN_EXE_native_pub");

/// librmw_renoir.so as the driver finds it (RENOIR_RMW_LIB, then the target
/// folder); this test needs it, so it says how to build it.
fn renoir_lib() -> PathBuf {
    let mut c: Vec<PathBuf> = std::env::var_os("RENOIR_RMW_LIB")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for profile in ["release", "debug"] {
        c.push(target.join(profile).join("librmw_renoir.so"));
    }
    c.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("no librmw_renoir.so: cargo build -p rmw_renoir (or set RENOIR_RMW_LIB)")
    })
}

fn cfg(key: &str, take: Take) -> Config {
    Config {
        msg: *msg(key),
        rate_hz: Some(100.0),
        subs: 1,
        take,
        count: 20,
        warmup: 5,
        duration_s: 3.0,
        publisher: Pub::Native,
    }
}

fn run_native(key: &str, take: Take, rmw: &Rmw) -> runner::RunOutcome {
    let tag = format!("{}-{key}-{}", std::process::id(), take.as_str());
    let dir = std::env::temp_dir().join(format!("renoir-bench-native-{tag}"));
    let prefix = format!(
        "{}nat{}",
        std::env::var("RENOIR_SHM_PREFIX").unwrap_or_else(|_| "renoirbench".into()),
        std::process::id()
    );
    let env = Env {
        exe: Path::new(RCL_EXE),
        native_exe: Some(Path::new(NATIVE)),
        ros_libs: ROS_LIBS,
        shm_prefix: &prefix,
        log_dir: &dir,
        extra_env: &[],
    };
    let domain = 100 + (std::process::id() + take as u32 * 7 + key.len() as u32) % 50;
    let out = runner::run(&cfg(key, take), rmw, domain, &dir.join("run"), &env);
    if out.status == Status::Ok {
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

fn renoir() -> Rmw {
    Rmw {
        name: "rmw_renoir".into(),
        preload: Some(renoir_lib()),
    }
}

fn assert_complete(out: &runner::RunOutcome) {
    assert_eq!(out.status, Status::Ok, "{}", out.reason);
    let publ = out.publisher.as_ref().expect("publisher result");
    assert_eq!(publ.rmw, "renoir_core::wire");
    assert_eq!(publ.sent, 20);
    let sub = &out.subscribers[0];
    assert_eq!(sub.rmw, "rmw_renoir");
    assert_eq!(sub.bad, 0);
    assert!(sub.end_seen, "{sub:?}");
    assert_eq!(sub.received + sub.lost, publ.sent);
    assert!(sub.received > 0);
    assert_eq!(out.lat_ns.len() as u64, sub.received);
    // The stamp is CLOCK_MONOTONIC like rcl_bench's: latencies are sane.
    assert!(sub.lat_us.max < 1e6, "{:?}", sub.lat_us);
}

#[test]
fn native_image_to_rcl_loaned_take() {
    let out = run_native("img64k", Take::Loan, &renoir());
    assert_complete(&out);
    assert_eq!(out.subscribers[0].take, "loan");
}

#[test]
fn native_scan_and_cloud_to_rcl_copy_take() {
    for key in ["scan1440", "pcl100k"] {
        let out = run_native(key, Take::Copy, &renoir());
        assert_complete(&out);
        assert_eq!(out.subscribers[0].take, "copy");
    }
}

#[test]
fn native_config_is_refused_on_another_rmw() {
    let peer = Rmw {
        name: "rmw_fastrtps_cpp".into(),
        preload: None,
    };
    let out = run_native("img1k", Take::Copy, &peer);
    assert_eq!(out.status, Status::Failed);
    assert!(out.reason.contains("cannot publish"), "{}", out.reason);
    assert!(out.subscribers.is_empty() && out.publisher.is_none());
}

#[test]
fn native_pub_rejects_what_it_cannot_write() {
    for args in [
        &["--msg", "string"][..],
        &["--msg", "image", "--channels", "2"][..],
        &["--msg", "image", "--bogus", "1"][..],
        &["--msg", "image", "--rate"][..],
    ] {
        let st = Command::new(NATIVE)
            .args(args)
            .env("LD_LIBRARY_PATH", ROS_LIBS)
            .status()
            .expect("native_pub runs");
        assert_eq!(st.code(), Some(64), "{args:?}");
    }
}
