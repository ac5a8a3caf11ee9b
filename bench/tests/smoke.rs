//! One tiny real run of the harness on rmw_fastrtps_cpp: the C program
//! starts, discovers, publishes, takes, checks every payload byte and
//! reports; the driver collects it. Bounded by the run's own deadlines.

use std::path::Path;
use std::process::Command;

use renoir_bench::config::{msg, Config, Pub, Take};
use renoir_bench::runner::{self, Env, Rmw, Status};
use renoir_bench::{RCL_EXE, ROS_LIBS};

fn ld_path() -> String {
    match std::env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{ROS_LIBS}:{old}"),
        _ => ROS_LIBS.to_owned(),
    }
}

#[test]
fn rcl_bench_rejects_bad_arguments() {
    let st = Command::new(RCL_EXE)
        .args(["--role", "nobody"])
        .env("LD_LIBRARY_PATH", ld_path())
        .status()
        .expect("rcl_bench runs");
    assert_eq!(st.code(), Some(64));
}

#[test]
fn one_small_run_on_fastrtps() {
    let dir = std::env::temp_dir().join(format!("renoir-bench-smoke-{}", std::process::id()));
    let cfg = Config {
        msg: *msg("scan1440"),
        rate_hz: Some(100.0),
        subs: 1,
        take: Take::Copy,
        count: 20,
        warmup: 5,
        duration_s: 3.0,
        publisher: Pub::Rcl,
    };
    let rmw = Rmw {
        name: "rmw_fastrtps_cpp".into(),
        preload: None,
    };
    let env = Env {
        exe: Path::new(RCL_EXE),
        native_exe: None,
        ros_libs: ROS_LIBS,
        shm_prefix: "renoirbenchsmoke",
        log_dir: &dir,
        extra_env: &[],
    };
    let domain = 150 + std::process::id() % 50;
    let out = runner::run(&cfg, &rmw, domain, &dir.join("run"), &env);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status, Status::Ok, "{}", out.reason);
    let sub = &out.subscribers[0];
    assert_eq!(sub.bad, 0);
    assert!(sub.received > 0 && sub.received <= 20, "{sub:?}");
    assert_eq!(
        sub.received + sub.lost,
        out.publisher.as_ref().unwrap().sent
    );
    assert_eq!(out.lat_ns.len() as u64, sub.received);
    assert_eq!(sub.take_call_us.n, sub.received);
    // The take call is part of the publish -> take latency.
    assert!(sub.take_call_us.p50 > 0.0 && sub.take_call_us.p50 <= sub.lat_us.max);
}
