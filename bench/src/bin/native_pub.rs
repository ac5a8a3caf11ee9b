//! native_pub: the publisher of the "native zero-copy publish" series. A
//! Rust program on renoir_core alone (no rcl, no rmw), standing in for a
//! camera / lidar driver: for each message it loans a shared-memory slot of
//! the exact CDR size of a `sensor_msgs/msg/{Image, PointCloud2, LaserScan}`,
//! writes the payload in place and publishes the slot. The rcl subscribers of
//! `c/rcl_bench.c` (on rmw_renoir) take it as a normal message and check it
//! exactly as they check rcl_bench's own publisher.
//!
//! Takes the arguments of `rcl_bench --role pub` (the driver passes the same
//! list): `--msg image|pointcloud2|laserscan`, `--width --height --channels`,
//! `--points`, `--rays`, `--rate`, `--count`, `--warmup`, `--duration`,
//! `--subs`, `--topic`, `--timeout`, `--discovery`, `--depth`, `--out`.
//! Domain from `ROS_DOMAIN_ID`, segment prefix from `RENOIR_SHM_PREFIX`.
//!
//! Per message, in this order (timing as in rcl_bench.c's publisher):
//! 1. loan the slot and write the non-bulk fields (renoir_core::wire
//!    `Image::write` etc. into `Publisher::loan`);
//! 2. write the payload pattern into the slot: this stands for the camera's
//!    DMA (or the decoder) filling a frame in shared memory, and like
//!    rcl_bench's pattern fill it happens BEFORE the send time is taken and
//!    is not part of the measured latency;
//! 3. take the send time (CLOCK_MONOTONIC), write it into `header.stamp` in
//!    place (the non-bulk fields are rewritten, ~100 bytes; the payload is
//!    not touched), and publish the slot: zero copies of the payload.
//!
//! The `ImageLoan`-style wrappers write the header when the slot is loaned,
//! before the payload exists; this program uses the lower-level pieces of
//! the same module (the message descriptions' `write` and the core
//! publisher's `loan`/`publish`) so the stamp can follow the payload write.
//!
//! Output: one JSON line (the fields `renoir_bench::runner::ProcResult`
//! reads); its latency fields are the publish step (3.) durations.

use std::io::Write as _;
use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};
use renoir_bench::pattern::{self, END_FLAG};
use renoir_bench::runner::{LatUs, ProcResult};
use renoir_core::registry::Domain;
use renoir_core::topic::{Publisher, Qos};
use renoir_core::wire::sensor_msgs::{Header, Image, LaserScan, PointCloud2, WireType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image,
    Pcl,
    Scan,
}

#[derive(Debug)]
struct Opts {
    kind: Kind,
    kind_name: String,
    width: u32,
    height: u32,
    channels: u32,
    points: u32,
    rays: u32,
    rate: f64,
    count: u64,
    warmup: u64,
    duration: f64,
    subs: usize,
    topic: String,
    timeout: f64,
    discovery: f64,
    depth: u32,
    out: String,
}

fn usage(why: &str) -> ! {
    eprintln!(
        "native_pub: {why}\nusage: native_pub --msg image|pointcloud2|laserscan \
         [--width W --height H --channels 1|3] [--points N] [--rays N] [--rate HZ] \
         [--count N] [--warmup N] [--duration S] [--subs N] [--topic T] [--timeout S] \
         [--discovery S] [--depth N] [--out FILE]"
    );
    std::process::exit(64);
}

fn num<T: std::str::FromStr>(opt: &str, v: &str) -> T {
    v.parse()
        .unwrap_or_else(|_| usage(&format!("bad value for {opt}: {v:?}")))
}

fn parse() -> Opts {
    let mut o = Opts {
        kind: Kind::Image,
        kind_name: "image".into(),
        width: 32,
        height: 32,
        channels: 1,
        points: 100_000,
        rays: 1440,
        rate: 30.0,
        count: 100,
        warmup: 10,
        duration: 0.0,
        subs: 1,
        topic: "renoir_bench".into(),
        timeout: 60.0,
        discovery: 15.0,
        depth: 10,
        out: "-".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for p in args.chunks(2) {
        let [a, v] = p else {
            usage("options come in pairs")
        };
        let (a, v) = (a.as_str(), v.as_str());
        match a {
            "--msg" => {
                o.kind = match v {
                    "image" => Kind::Image,
                    "pointcloud2" => Kind::Pcl,
                    "laserscan" => Kind::Scan,
                    _ => usage(&format!("no native writer for --msg {v}")),
                };
                o.kind_name = v.into();
            }
            "--width" => o.width = num(a, v),
            "--height" => o.height = num(a, v),
            "--channels" => o.channels = num(a, v),
            "--points" => o.points = num(a, v),
            "--rays" => o.rays = num(a, v),
            "--rate" => o.rate = num(a, v),
            "--count" => o.count = num(a, v),
            "--warmup" => o.warmup = num(a, v),
            "--duration" => o.duration = num(a, v),
            "--subs" => o.subs = num(a, v),
            "--topic" => o.topic = v.into(),
            "--timeout" => o.timeout = num(a, v),
            "--discovery" => o.discovery = num(a, v),
            "--depth" => o.depth = num(a, v),
            "--out" => o.out = v.into(),
            // Accepted for argument compatibility with rcl_bench.
            "--role" | "--qos" | "--id" | "--idle" => {}
            _ => usage(&format!("unknown option {a}")),
        }
    }
    if o.count == 0 || o.count > 10_000_000 || o.timeout <= 0.0 || o.depth == 0 || o.rays == 0 {
        usage("bad count, timeout, depth or rays");
    }
    if o.channels != 1 && o.channels != 3 {
        usage("--channels is 1 or 3");
    }
    // rcl_bench's topic is relative ("renoir_bench_x"); rcl expands it to
    // "/renoir_bench_x" for a node in "/", which is what rmw_renoir registers.
    if !o.topic.starts_with('/') {
        o.topic = format!("/{}", o.topic);
    }
    o
}

fn clock_ns(id: ClockId) -> u64 {
    clock_gettime(id)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

fn mono_ns() -> u64 {
    clock_ns(ClockId::CLOCK_MONOTONIC)
}

fn cpu_s() -> f64 {
    clock_ns(ClockId::CLOCK_PROCESS_CPUTIME_ID) as f64 * 1e-9
}

fn thread_cpu_s() -> f64 {
    clock_ns(ClockId::CLOCK_THREAD_CPUTIME_ID) as f64 * 1e-9
}

fn unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Peak resident set, KiB (VmHWM of /proc/self/status), -1 if unknown.
fn max_rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(-1)
}

fn payload_bytes(o: &Opts) -> usize {
    match o.kind {
        Kind::Image => o.width as usize * o.height as usize * o.channels as usize,
        Kind::Pcl => o.points as usize * 16,
        Kind::Scan => o.rays as usize * 8,
    }
}

/// One message's wire layout: writes the non-bulk fields with a given
/// header into a buffer of its serialized size.
struct Msg {
    kind: Kind,
    width: u32,
    height: u32,
    channels: u32,
    points: u32,
    rays: u32,
}

impl Msg {
    fn image<'a>(&self, h: Header<'a>) -> Image<'a> {
        Image {
            header: h,
            height: self.height,
            width: self.width,
            encoding: if self.channels == 3 { "rgb8" } else { "mono8" },
            is_bigendian: 0,
            step: self.width * self.channels,
        }
    }

    fn scan<'a>(&self, h: Header<'a>) -> LaserScan<'a> {
        LaserScan {
            header: h,
            angle_min: -std::f32::consts::PI,
            angle_max: std::f32::consts::PI,
            angle_increment: std::f32::consts::TAU / self.rays as f32,
            time_increment: 0.0,
            scan_time: 0.1,
            range_min: 0.05,
            range_max: 100.0,
            ranges: self.rays as usize,
            intensities: self.rays as usize,
        }
    }

    fn size(&self, h: Header<'_>) -> Result<usize, String> {
        let r = match self.kind {
            Kind::Image => self.image(h).serialized_size(),
            Kind::Pcl => PointCloud2::xyzi(h, self.points).serialized_size(),
            Kind::Scan => self.scan(h).serialized_size(),
        };
        r.map_err(|e| e.to_string())
    }

    /// Write the non-bulk fields; returns the bulk byte ranges.
    fn write(&self, h: Header<'_>, buf: &mut [u8]) -> Result<Vec<std::ops::Range<usize>>, String> {
        let r = match self.kind {
            Kind::Image => self.image(h).write(buf).map(|d| vec![d]),
            Kind::Pcl => PointCloud2::xyzi(h, self.points)
                .write(buf)
                .map(|d| vec![d]),
            Kind::Scan => self.scan(h).write(buf).map(|[a, b]| vec![a, b]),
        };
        r.map_err(|e| e.to_string())
    }

    fn spec(&self, topic: &str, qos: Qos) -> renoir_core::topic::TopicSpec {
        match self.kind {
            Kind::Image => Image::topic_spec(topic, qos),
            Kind::Pcl => PointCloud2::topic_spec(topic, qos),
            Kind::Scan => LaserScan::topic_spec(topic, qos),
        }
    }

    /// The payload for `seq` into the bulk ranges (the "DMA").
    fn fill(&self, buf: &mut [u8], bulk: &[std::ops::Range<usize>], seq: u64) {
        match self.kind {
            Kind::Image | Kind::Pcl => pattern::fill_bytes(&mut buf[bulk[0].clone()], seq),
            Kind::Scan => {
                pattern::fill_floats_le(&mut buf[bulk[0].clone()], seq, 1);
                pattern::fill_floats_le(&mut buf[bulk[1].clone()], seq, 2);
            }
        }
    }
}

/// Loan, fill (not timed), stamp and publish one message; returns the
/// duration of the stamp + publish step in ns.
fn send(p: &Publisher, m: &Msg, seq: u64, harness_s: Option<&mut f64>) -> Result<u64, String> {
    let fid = seq.to_string();
    // Placeholder stamp: same serialized size as the real one (fixed-size).
    let h = Header {
        sec: 0,
        nanosec: 0,
        frame_id: &fid,
    };
    let len = m.size(h.clone())?;
    let mut sample = p.loan(len).map_err(|e| format!("loan: {e}"))?;
    let bulk = m.write(h, &mut sample)?;
    let h0 = thread_cpu_s();
    m.fill(&mut sample, &bulk, seq);
    if let Some(acc) = harness_s {
        *acc += thread_cpu_s() - h0;
    }
    let t0 = mono_ns();
    let (sec, nanosec) = pattern::stamp(t0);
    m.write(
        Header {
            sec,
            nanosec,
            frame_id: &fid,
        },
        &mut sample,
    )?;
    p.publish(sample, unix_ns())
        .map_err(|e| format!("publish: {e}"))?;
    Ok(mono_ns() - t0)
}

fn pct_us(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return -1.0;
    }
    let i = ((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
    sorted[i] as f64 / 1000.0
}

fn sleep_until(t_ns: u64) {
    let now = mono_ns();
    if t_ns > now {
        std::thread::sleep(Duration::from_nanos(t_ns - now));
    }
}

fn run(o: &Opts, r: &mut ProcResult, lat: &mut Vec<u64>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs_f64(o.timeout);
    let domain_id = std::env::var("ROS_DOMAIN_ID")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let d = Domain::join(domain_id).map_err(|e| format!("join domain {domain_id}: {e}"))?;
    let node = d
        .add_node("renoir_bench_native_pub", "/", "")
        .map_err(|e| format!("add_node: {e}"))?;
    let m = Msg {
        kind: o.kind,
        width: o.width,
        height: o.height,
        channels: o.channels,
        points: o.points,
        rays: o.rays,
    };
    // rcl_bench's QoS: rmw_qos_profile_default with --depth (reliable,
    // keep last, volatile).
    let p = d
        .create_publisher(&node, m.spec(&o.topic, Qos::reliable(o.depth)))
        .map_err(|e| format!("create_publisher: {e}"))?;

    // Discovery: wait (bounded) until every subscriber has matched.
    let disc = (Instant::now() + Duration::from_secs_f64(o.discovery)).min(deadline);
    while p.matched_subscribers() < o.subs {
        if Instant::now() > disc {
            return Err(format!(
                "discovery timeout: {} of {} subscribers matched",
                p.matched_subscribers(),
                o.subs
            ));
        }
        d.wait(d.doorbell_seq(), Some(Duration::from_millis(10)));
    }
    std::thread::sleep(Duration::from_millis(300));

    let period = if o.rate > 0.0 {
        (1e9 / o.rate) as u64
    } else {
        0
    };
    let total = o.warmup + o.count;
    let mut next = mono_ns();
    let (mut t_start, mut t_stop, mut cpu0) = (0u64, 0u64, 0.0);
    let mut seq = 0;
    let mut result = Ok(());
    while seq < total {
        if seq == o.warmup {
            t_start = mono_ns();
            cpu0 = cpu_s();
            t_stop = t_start + (o.duration * 1e9) as u64;
            next = t_start;
        }
        if seq >= o.warmup && o.duration > 0.0 && mono_ns() > t_stop {
            break;
        }
        if Instant::now() > deadline {
            result = Err(format!("deadline while publishing (seq {seq})"));
            break;
        }
        if period > 0 {
            sleep_until(next);
            next += period;
        }
        let measured = seq >= o.warmup;
        match send(&p, &m, seq, measured.then_some(&mut r.harness_s)) {
            Ok(ns) if measured => lat.push(ns),
            Ok(_) => {}
            Err(e) => {
                result = Err(format!("seq {seq}: {e}"));
                break;
            }
        }
        seq += 1;
    }
    r.sent = seq.saturating_sub(o.warmup);
    if t_start > 0 {
        r.window_s = (mono_ns() - t_start) as f64 / 1e9;
        r.cpu_s = cpu_s() - cpu0;
    }
    result?;

    // End marker, a few times, as rcl_bench does.
    for _ in 0..3 {
        if send(&p, &m, END_FLAG | r.sent, None).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Linger (bounded) until the subscribers are gone, so samples in flight
    // stay mapped until they are taken.
    let linger = (Instant::now() + Duration::from_secs(5)).min(deadline);
    while Instant::now() < linger && p.matched_subscribers() > 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn main() {
    let o = parse();
    let mut r = ProcResult {
        role: "pub".into(),
        status: "ok".into(),
        rmw: "renoir_core::wire".into(),
        take: "n/a".into(),
        ..Default::default()
    };
    let mut lat = Vec::with_capacity(o.count as usize);
    if let Err(e) = run(&o, &mut r, &mut lat) {
        r.status = "error".into();
        r.error = e;
    }
    lat.sort_unstable();
    let n = lat.len();
    r.lat_n = n as u64;
    r.lat_us = LatUs {
        min: lat.first().map_or(-1.0, |v| *v as f64 / 1000.0),
        p50: pct_us(&lat, 0.5),
        p90: pct_us(&lat, 0.9),
        p99: pct_us(&lat, 0.99),
        max: lat.last().map_or(-1.0, |v| *v as f64 / 1000.0),
        mean: if n > 0 {
            lat.iter().sum::<u64>() as f64 / n as f64 / 1000.0
        } else {
            -1.0
        },
    };
    if r.window_s > 0.0 {
        r.msgs_per_s = r.sent as f64 / r.window_s;
        r.mb_per_s = r.msgs_per_s * payload_bytes(&o) as f64 / 1e6;
        r.cpu_pct = 100.0 * r.cpu_s / r.window_s;
    }
    r.rss_kb = max_rss_kb();
    let line = serde_json::to_string(&r).expect("serializable result") + "\n";
    let written = if o.out == "-" {
        std::io::stdout().write_all(line.as_bytes())
    } else {
        std::fs::write(&o.out, &line)
    };
    if let Err(e) = written {
        eprintln!("native_pub: cannot write {}: {e}", o.out);
    }
    std::process::exit(if r.status == "error" { 2 } else { 0 });
}
