//! A native camera driver: 1920x1080 rgb8 frames written straight into
//! shared memory as `sensor_msgs/msg/Image`, received by ROS 2 (rclpy /
//! rclcpp on rmw_renoir) as a normal message. Zero copies end to end.
//!
//! ```text
//! cargo run -p renoir_core --release --example native_camera -- \
//!     [--topic /camera/image_raw] [--hz 30] [--frames 300] [--width 1920 --height 1080] \
//!     [--wait-subs 1] [--qos reliable|best_effort] [--depth 5] [--linger 1]
//! ros2 topic hz /camera/image_raw     # (RMW_IMPLEMENTATION=rmw_renoir) in another shell
//! ```
//! Domain from `ROS_DOMAIN_ID`, shared-memory prefix from
//! `RENOIR_SHM_PREFIX`, as for rmw_renoir.
//!
//! Frame `k` (from 0) has `header.frame_id = "camera k"`, the stamp taken
//! right before its loan, and pixel byte `i = (i + k) % 251` (a moving
//! gradient a subscriber can check). The "driver" writes the pixels with one
//! copy from its own pattern buffer into the loaned slot (where a real
//! driver's DMA or decoder would write). Prints JSON lines: `ready`,
//! `matched`, one `stats` per second (frames/s, MB/s, loan+write+publish
//! time), `done` with totals.

use renoir_core::registry::Domain;
use renoir_core::topic::{Qos, Reliability};
use renoir_core::wire::sensor_msgs::{Header, Image, ImageLoan, WireType};
use std::time::{Duration, Instant};

struct Args {
    topic: String,
    hz: f64,
    frames: u64,
    width: u32,
    height: u32,
    wait_subs: usize,
    reliable: bool,
    depth: u32,
    linger: f64,
}

fn parse_args() -> Args {
    let mut a = Args {
        topic: "/camera/image_raw".into(),
        hz: 30.0,
        frames: 300,
        width: 1920,
        height: 1080,
        wait_subs: 0,
        reliable: true,
        depth: 5,
        linger: 1.0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for p in v.chunks(2) {
        let val = p.get(1).cloned().unwrap_or_default();
        match p[0].as_str() {
            "--topic" => a.topic = val,
            "--hz" => a.hz = num(&p[0], &val),
            "--frames" => a.frames = num(&p[0], &val),
            "--width" => a.width = num(&p[0], &val),
            "--height" => a.height = num(&p[0], &val),
            "--wait-subs" => a.wait_subs = num(&p[0], &val),
            "--depth" => a.depth = num(&p[0], &val),
            "--linger" => a.linger = num(&p[0], &val),
            "--qos" => a.reliable = val == "reliable",
            o => panic!("unknown option {o} (see the example's doc comment)"),
        }
    }
    a
}

fn num<T: std::str::FromStr>(opt: &str, val: &str) -> T {
    val.parse()
        .unwrap_or_else(|_| panic!("bad value for {opt}: {val:?}"))
}

const PERIOD: usize = 251;

fn main() {
    let a = parse_args();
    let domain_id = std::env::var("ROS_DOMAIN_ID")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let d = Domain::join(domain_id).expect("join domain");
    let node = d.add_node("native_camera", "/", "").expect("node");
    let mut qos = Qos::reliable(a.depth);
    if !a.reliable {
        qos.reliability = Reliability::BestEffort;
    }
    let p = d
        .create_publisher(&node, Image::topic_spec(&a.topic, qos))
        .expect("publisher");
    let n = a.width as usize * 3 * a.height as usize;
    // The driver's source: the gradient, one period longer than a frame, so
    // frame k is the window starting at k % 251.
    let pattern: Vec<u8> = (0..n + PERIOD).map(|i| (i % PERIOD) as u8).collect();
    println!(
        r#"{{"event": "ready", "topic": "{}", "bytes": {n}}}"#,
        a.topic
    );

    let t0 = Instant::now();
    while p.matched_subscribers() < a.wait_subs && t0.elapsed() < Duration::from_secs(20) {
        // Wakes when the graph changes (a subscriber appears) or after 50 ms.
        d.wait(d.doorbell_seq(), Some(Duration::from_millis(50)));
    }
    println!(
        r#"{{"event": "matched", "count": {}}}"#,
        p.matched_subscribers()
    );

    let period = Duration::from_secs_f64(1.0 / a.hz);
    let start = Instant::now();
    let (mut sent, mut errors) = (0u64, 0u64);
    let mut work: Vec<f64> = Vec::new();
    let mut sec = (Instant::now(), 0u64, Vec::<f64>::new());
    for k in 0..a.frames {
        let due = start + period.mul_f64(k as f64);
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let t = Instant::now();
        let fid = format!("camera {k}");
        let img = Image::rgb8(Header::now(&fid), a.width, a.height);
        let r = ImageLoan::new(&p, &img).and_then(|mut frame| {
            let off = (k % PERIOD as u64) as usize;
            frame.data_mut().copy_from_slice(&pattern[off..off + n]);
            frame.publish()
        });
        match r {
            Ok(_) => sent += 1,
            Err(e) => {
                errors += 1;
                eprintln!("frame {k}: {e}");
            }
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        work.push(ms);
        sec.1 += 1;
        sec.2.push(ms);
        if sec.0.elapsed() >= Duration::from_secs(1) {
            let dt = sec.0.elapsed().as_secs_f64();
            sec.2.sort_by(f64::total_cmp);
            println!(
                r#"{{"event": "stats", "fps": {:.1}, "mb_s": {:.1}, "publish_ms_p50": {:.3}, "publish_ms_max": {:.3}, "subscribers": {}}}"#,
                sec.1 as f64 / dt,
                sec.1 as f64 * n as f64 / dt / 1e6,
                sec.2[sec.2.len() / 2],
                sec.2[sec.2.len() - 1],
                p.matched_subscribers()
            );
            sec = (Instant::now(), 0, Vec::new());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    work.sort_by(f64::total_cmp);
    let st = p.stats();
    println!(
        r#"{{"event": "done", "sent": {sent}, "errors": {errors}, "seconds": {secs:.2}, "fps": {:.1}, "publish_ms_p50": {:.3}, "publish_ms_max": {:.3}, "type": "{}", "pool_used": {}, "pool_total": {}}}"#,
        sent as f64 / secs,
        work.get(work.len() / 2).copied().unwrap_or(0.0),
        work.last().copied().unwrap_or(0.0),
        Image::TYPE_NAME,
        st.pool_used,
        st.pool_total
    );
    std::thread::sleep(Duration::from_secs_f64(a.linger));
}
