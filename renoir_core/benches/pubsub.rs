//! Cross-process publish -> receive benchmarks for renoir_core topics.
//!
//! `cargo bench -p renoir_core --bench pubsub`
//!
//! The bench process publishes on `/ping`; a child process (this binary
//! re-executed with `RENOIR_BENCH_ROLE=echo`) takes each sample and answers
//! with a 16-byte sample on `/pong`.
//! - `latency/{poll,block}/<size>`: one round trip = `<size>` one way +
//!   16 bytes back; both sides busy-poll `take()` (poll) or sleep in
//!   `Domain::wait` on their futex doorbell (block). One-way latency is
//!   about half of it for small sizes.
//! - `throughput/<size>`: a batch of 64 samples (each written in full by
//!   the publisher into its loaned slot) followed by one acknowledgement;
//!   reported in bytes/s. Reliable KeepAll: the writer waits for the reader
//!   when the ring is full.
//!
//! Sizes: 64 B, 4 KiB, 1 MiB, 6 MiB. Compare against `benches/ipc.rs`
//! (iceoryx2) run on the same machine at the same time.

use criterion::{BenchmarkId, Criterion, Throughput};
use renoir_core::registry::Domain;
use renoir_core::topic::{Publisher, Qos, Subscriber, TopicSpec};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROLE: &str = "RENOIR_BENCH_ROLE";
const MODE: &str = "RENOIR_BENCH_MODE";
const DOMAIN: u32 = 77;
const BATCH: u64 = 64;
const SIZES: [usize; 4] = [64, 4096, 1 << 20, 6 << 20];

const PING: u8 = 0;
const ITEM: u8 = 1;
const END: u8 = 2;
const QUIT: u8 = 255;

fn spec(topic: &str, hint: usize) -> TopicSpec {
    TopicSpec::new(topic, "bench/Bytes", Qos::keep_all_reliable()).hint(hint)
}

/// Wait for the next sample, busy-polling or sleeping on the doorbell.
fn next(d: &Domain, s: &Subscriber, poll: bool) -> renoir_core::topic::Sample {
    let t = Instant::now();
    loop {
        let seen = d.doorbell_seq();
        if let Some(x) = s.take().expect("take") {
            return x;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "peer stopped answering"
        );
        if poll {
            std::hint::spin_loop();
        } else {
            d.wait(seen, Some(Duration::from_millis(100)));
        }
    }
}

fn echo() {
    let poll = std::env::var(MODE).as_deref() == Ok("poll");
    let d = Domain::join(DOMAIN).unwrap();
    let n = d.add_node("echo", "/", "").unwrap();
    let s = d.create_subscriber(&n, spec("/ping", 0)).unwrap();
    let p = d.create_publisher(&n, spec("/pong", 16)).unwrap();
    loop {
        let x = next(&d, &s, poll);
        let flag = x.get(8).copied().unwrap_or(QUIT);
        if flag == QUIT {
            break;
        }
        if flag == ITEM {
            continue;
        }
        let mut r = p.loan(16).unwrap();
        r[..8].copy_from_slice(&x[..8]);
        r[8..].fill(0);
        drop(x);
        p.publish(r, 0).unwrap();
    }
}

struct Peer {
    d: Arc<Domain>,
    _n: renoir_core::registry::NodeHandle,
    ping: Publisher,
    pong: Subscriber,
    child: Child,
    poll: bool,
}

impl Peer {
    fn start(poll: bool) -> Peer {
        let d = Domain::join(DOMAIN).unwrap();
        let n = d.add_node("bench", "/", "").unwrap();
        let ping = d.create_publisher(&n, spec("/ping", 4096)).unwrap();
        ping.set_max_blocking(Duration::from_secs(10));
        let pong = d.create_subscriber(&n, spec("/pong", 16)).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, "echo")
            .env(MODE, if poll { "poll" } else { "block" })
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while ping.matched_subscribers() < 1 || pong.matched_publishers() < 1 {
            assert!(t.elapsed() < Duration::from_secs(10), "echo did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        Peer {
            d,
            _n: n,
            ping,
            pong,
            child,
            poll,
        }
    }

    fn send(&self, seq: u64, len: usize, flag: u8, fill: bool) {
        let mut m = self.ping.loan(len.max(16)).unwrap();
        if fill {
            m.fill(seq as u8);
        }
        m[..8].copy_from_slice(&seq.to_le_bytes());
        m[8] = flag;
        self.ping.publish(m, 0).unwrap();
    }

    fn ack(&self, seq: u64) {
        let x = next(&self.d, &self.pong, self.poll);
        assert_eq!(u64::from_le_bytes(x[..8].try_into().unwrap()), seq);
    }

    fn stop(mut self) {
        self.send(0, 16, QUIT, false);
        let _ = self.child.wait();
    }
}

fn latency(c: &mut Criterion) {
    for poll in [true, false] {
        let mode = if poll { "poll" } else { "block" };
        let peer = Peer::start(poll);
        let mut g = c.benchmark_group(format!("latency/{mode}"));
        g.sample_size(20)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        let mut seq = 0u64;
        for size in SIZES {
            g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        seq += 1;
                        peer.send(seq, size, PING, false);
                        peer.ack(seq);
                    }
                    t.elapsed()
                })
            });
        }
        g.finish();
        peer.stop();
    }
}

fn throughput(c: &mut Criterion) {
    let peer = Peer::start(false);
    let mut g = c.benchmark_group("throughput");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    let mut seq = 0u64;
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64 * BATCH));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for k in 0..BATCH {
                        seq += 1;
                        peer.send(seq, size, if k + 1 == BATCH { END } else { ITEM }, true);
                    }
                    peer.ack(seq);
                }
                t.elapsed()
            })
        });
    }
    g.finish();
    peer.stop();
}

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("echo") {
        echo();
        return;
    }
    if std::env::var("RENOIR_SHM_PREFIX").is_err() {
        // Our own prefix: never collide with a running system.
        std::env::set_var("RENOIR_SHM_PREFIX", format!("rbench{}", std::process::id()));
    }
    let mut c = Criterion::default().configure_from_args();
    latency(&mut c);
    throughput(&mut c);
    c.final_summary();
    renoir_core::cleanup::clean(Some(DOMAIN));
}
