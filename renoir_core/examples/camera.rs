//! The core demo: two processes pass 1920x1080 RGB frames (6.2 MB) at
//! 30 Hz through renoir_core shared memory, zero copy.
//!
//! ```text
//! cargo run -p renoir_core --release --example camera -- [SECONDS] [--hz 30] [--width 1920 --height 1080] [--subs 1]
//! ```
//! The publisher (this process) spawns the subscriber(s) itself. Each frame
//! carries a header (frame number, checksum) that the subscriber verifies;
//! it prints a latency/throughput line every second and a summary at the
//! end: p50/p99/max publish->take latency, frames, lost, bad.
//!
//! Latency is measured from the source timestamp (taken right before
//! `publish`, after the frame was written into the loaned slot) to the
//! moment `take` returns in the other process; both use CLOCK_REALTIME.

use renoir_core::registry::Domain;
use renoir_core::topic::{Qos, TopicSpec};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOPIC: &str = "/camera/image_raw";
const TYPE: &str = "sensor_msgs/msg/Image";
const ROLE: &str = "RENOIR_CAMERA_ROLE";
const HDR: usize = 64;

struct Args {
    secs: u64,
    hz: f64,
    width: usize,
    height: usize,
    subs: usize,
    domain: u32,
}

fn parse_args() -> Args {
    let mut a = Args {
        secs: 10,
        hz: 30.0,
        width: 1920,
        height: 1080,
        subs: 1,
        domain: std::env::var("ROS_DOMAIN_ID")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = |i: usize| v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--hz" => a.hz = next(i).parse().expect("--hz N"),
            "--width" => a.width = next(i).parse().expect("--width N"),
            "--height" => a.height = next(i).parse().expect("--height N"),
            "--subs" => a.subs = next(i).parse().expect("--subs N"),
            "--domain" => a.domain = next(i).parse().expect("--domain N"),
            s => {
                a.secs = s
                    .parse()
                    .expect("usage: camera [SECONDS] [--hz N] [--width N --height N] [--subs N]");
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Word-wise multiplicative hash over the frame body (fast enough to check
/// every byte of a 6 MB frame in well under a millisecond per pass).
fn checksum(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap());
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    for &x in chunks.remainder() {
        h = (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fill the body with a frame-dependent pattern (a moving gradient).
fn paint(body: &mut [u8], frame: u64) {
    let mut chunks = body.chunks_exact_mut(8);
    let base = frame.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for (i, c) in (&mut chunks).enumerate() {
        c.copy_from_slice(&(base ^ (i as u64).wrapping_mul(0x0101_0101_0101_0101)).to_le_bytes());
    }
    for x in chunks.into_remainder() {
        *x = frame as u8;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn subscriber(a: &Args) {
    let d = Domain::join(a.domain).expect("join");
    let node = d.add_node("camera_viewer", "/", "").expect("node");
    let s = d
        .create_subscriber(&node, TopicSpec::new(TOPIC, TYPE, Qos::best_effort(4)))
        .expect("subscriber");
    println!("READY");
    let id = std::process::id();
    let (mut frames, mut bad, mut bytes) = (0u64, 0u64, 0u64);
    let mut all: Vec<f64> = Vec::new();
    let mut sec: Vec<f64> = Vec::new();
    let (mut sec_frames, mut sec_bytes) = (0u64, 0u64);
    let t0 = Instant::now();
    let mut tick = Instant::now();
    let mut had_pub = false;
    let deadline = t0 + Duration::from_secs(a.secs + 10);
    loop {
        let seen = d.doorbell_seq();
        match s.take() {
            Ok(Some(x)) => {
                let lat_ms =
                    (x.info().received_timestamp_ns - x.info().source_timestamp_ns) as f64 / 1e6;
                let ok = x.len() >= HDR && {
                    let sum = u64::from_le_bytes(x[8..16].try_into().unwrap());
                    checksum(&x[HDR..]) == sum
                };
                if !ok {
                    bad += 1;
                }
                frames += 1;
                sec_frames += 1;
                bytes += x.len() as u64;
                sec_bytes += x.len() as u64;
                all.push(lat_ms);
                sec.push(lat_ms);
            }
            Ok(None) => {
                let m = s.matched_publishers();
                if m > 0 {
                    had_pub = true;
                }
                if (had_pub && m == 0 && !s.has_data()) || Instant::now() > deadline {
                    break;
                }
                d.wait(seen, Some(Duration::from_millis(100)));
            }
            Err(e) => {
                eprintln!("[sub {id}] take error: {e}");
                bad += 1;
            }
        }
        if tick.elapsed() >= Duration::from_secs(1) {
            let dt = tick.elapsed().as_secs_f64();
            sec.sort_by(f64::total_cmp);
            println!(
                "[sub {id}] t={:>3.0}s  {:>5.1} fps  {:>7.1} MB/s  latency p50 {:>6.3} ms  max {:>6.3} ms  lost {}  bad {}",
                t0.elapsed().as_secs_f64(),
                sec_frames as f64 / dt,
                sec_bytes as f64 / dt / 1e6,
                pct(&sec, 0.5),
                sec.last().copied().unwrap_or(f64::NAN),
                s.lost(),
                bad
            );
            sec.clear();
            sec_frames = 0;
            sec_bytes = 0;
            tick = Instant::now();
        }
    }
    all.sort_by(f64::total_cmp);
    println!(
        "SUMMARY frames={frames} lost={} bad={bad} bytes={bytes} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        s.lost(),
        pct(&all, 0.5),
        pct(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
}

fn main() {
    let a = parse_args();
    if std::env::var(ROLE).as_deref() == Ok("sub") {
        subscriber(&a);
        return;
    }
    let frame_len = HDR + a.width * a.height * 3;
    println!(
        "renoir camera demo: {}x{} rgb8 ({:.1} MB/frame) at {} Hz for {} s, {} subscriber process(es), domain {}",
        a.width,
        a.height,
        frame_len as f64 / 1e6,
        a.hz,
        a.secs,
        a.subs,
        a.domain
    );
    let d = Domain::join(a.domain).expect("join");
    let node = d.add_node("camera", "/", "").expect("node");
    let p = d
        .create_publisher(
            &node,
            TopicSpec::new(TOPIC, TYPE, Qos::best_effort(4)).hint(frame_len),
        )
        .expect("publisher");
    let exe = std::env::current_exe().expect("exe");
    let mut kids = Vec::new();
    for _ in 0..a.subs {
        let mut c = Command::new(&exe)
            .args(std::env::args().skip(1))
            .env(ROLE, "sub")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn subscriber");
        let mut out = BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 && line.trim() != "READY" {
            line.clear();
        }
        let h = std::thread::spawn(move || {
            let mut summary = String::new();
            let mut line = String::new();
            while out.read_line(&mut line).unwrap_or(0) > 0 {
                if line.starts_with("SUMMARY") {
                    summary = line.trim().to_string();
                } else {
                    print!("{line}");
                }
                line.clear();
            }
            summary
        });
        kids.push((c, h));
    }
    let t = Instant::now();
    while p.matched_subscribers() < a.subs {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "subscribers did not match"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let period = Duration::from_secs_f64(1.0 / a.hz);
    let start = Instant::now();
    let mut write_ms = Vec::new();
    let mut frame = 0u64;
    while start.elapsed() < Duration::from_secs(a.secs) {
        let due = start + period * frame as u32;
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let tw = Instant::now();
        let mut m = p.loan(frame_len).expect("loan");
        paint(&mut m[HDR..], frame);
        let sum = checksum(&m[HDR..]);
        m[..8].copy_from_slice(&frame.to_le_bytes());
        m[8..16].copy_from_slice(&sum.to_le_bytes());
        write_ms.push(tw.elapsed().as_secs_f64() * 1e3);
        p.publish(m, now_ns()).expect("publish");
        frame += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Let the subscribers drain, then leave (they exit when we are gone).
    std::thread::sleep(Duration::from_millis(200));
    let st = p.stats();
    drop(p);
    drop(node);
    write_ms.sort_by(f64::total_cmp);
    println!(
        "publisher: {frame} frames in {elapsed:.1} s ({:.1} fps, {:.0} MB/s); frame fill+checksum in the loaned slot p50 {:.2} ms; pool {}/{} slots",
        frame as f64 / elapsed,
        frame as f64 * frame_len as f64 / elapsed / 1e6,
        pct(&write_ms, 0.5),
        st.pool_used,
        st.pool_total
    );
    let mut all_ok = true;
    for (mut c, h) in kids {
        let summary = h.join().unwrap_or_default();
        let _ = c.wait();
        println!("subscriber {}: {summary}", c.id());
        let get = |k: &str| -> f64 {
            summary
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        if get("frames") != frame as f64 || get("bad") != 0.0 {
            all_ok = false;
        }
    }
    println!(
        "RESULT {}: every frame delivered to every subscriber and verified",
        if all_ok { "PASS" } else { "FAIL" }
    );
    if !all_ok {
        std::process::exit(1);
    }
}
