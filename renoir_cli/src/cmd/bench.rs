//! `renoir bench ring|pool|pubsub`: quick measurements printed as tables.
//!
//! `ring`: push+pop cost of each ring (one thread) and SPSC two-thread
//! throughput. `pool`: alloc+free of a fixed-block pool against the system
//! allocator in the same run. `pubsub`: cross-process publish -> take round
//! trips on renoir_core topics, with this binary re-executed as the echo
//! process.
//!
//! Prints p50/p99/max round-trip time per payload size (size one way, 16
//! bytes back) and the one-way throughput of a stream of samples written in
//! full by the publisher. `--mode poll` busy-polls instead of sleeping on the
//! futex doorbell. Runs under its own segment prefix and domain, and cleans
//! up after itself.

use super::{human_bytes, print_table, CmdResult};
use renoir_core::registry::Domain;
use renoir_core::topic::{Publisher, Qos, Subscriber, TopicSpec};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "RENOIR_BENCH_ECHO";
const DOMAIN: u32 = 232;
const QUIT: u8 = 255;
const ITEM: u8 = 1;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand, Debug)]
pub enum What {
    /// Push+pop cost of each ring and SPSC two-thread throughput.
    Ring(CountArgs),
    /// Pool alloc+free against the system allocator.
    Pool(CountArgs),
    /// Publish -> take round trips and throughput between two processes.
    Pubsub(PubsubArgs),
}

#[derive(clap::Args, Debug)]
pub struct CountArgs {
    /// Operations per measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: usize,
}

/// Nanoseconds per operation of `f` run `n` times (best of 3 runs, so a
/// preempted run on a shared machine does not decide the number).
fn ns_per_op(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    best
}

fn run_ring(a: CountArgs) -> CmdResult {
    use renoir_core::ring::{HeapMpmc, HeapSequenced, HeapSpsc};
    let n = a.count.max(1);
    let spsc = HeapSpsc::<1>::new(1024)?;
    let mpmc = HeapMpmc::<1>::new(1024)?;
    let seq = HeapSequenced::<1>::new(1024)?;
    let mut rows = Vec::new();
    let spsc_ns = ns_per_op(n, |i| {
        spsc.push([i as u64]).expect("push into a non-full ring");
        std::hint::black_box(spsc.pop().expect("pop"));
    });
    rows.push(vec!["spsc push+pop".into(), format!("{spsc_ns:.1}")]);
    let mpmc_ns = ns_per_op(n, |i| {
        mpmc.push([i as u64]).expect("push into a non-full ring");
        std::hint::black_box(mpmc.pop().expect("pop"));
    });
    rows.push(vec!["mpmc push+pop".into(), format!("{mpmc_ns:.1}")]);
    let seq_ns = ns_per_op(n, |i| {
        seq.push([i as u64]).expect("push into a non-full ring");
        std::hint::black_box(seq.pop().expect("pop"));
    });
    rows.push(vec!["sequenced push+pop".into(), format!("{seq_ns:.1}")]);
    // Two threads: producer and consumer of one SPSC ring.
    let t = Instant::now();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            for i in 0..n {
                while spsc.push([i as u64]).is_err() {
                    std::hint::spin_loop();
                }
            }
        });
        let mut got = 0;
        while got < n {
            match spsc.pop() {
                Ok(Some(_)) => got += 1,
                _ => std::hint::spin_loop(),
            }
        }
    });
    let rate = n as f64 / t.elapsed().as_secs_f64();
    rows.push(vec![
        "spsc two threads".into(),
        format!("{:.1} ({:.1} M items/s)", 1e9 / rate, rate / 1e6),
    ]);
    print_table(&["ring", "ns per item"], &rows);
    Ok(ExitCode::SUCCESS)
}

fn run_pool(a: CountArgs) -> CmdResult {
    use renoir_core::alloc::Pool;
    let n = a.count.max(1);
    let mut rows = Vec::new();
    for block in [64u32, 4096] {
        let pool = Pool::new(block, 1024, 1024)?;
        let pool_ns = ns_per_op(n, |_| {
            let b = pool.alloc().expect("a free block");
            pool.free(std::hint::black_box(b))
                .expect("free what we allocated");
        });
        let malloc_ns = ns_per_op(n, |_| {
            let v: Vec<u8> = Vec::with_capacity(block as usize);
            std::hint::black_box(&v);
        });
        rows.push(vec![
            human_bytes(block as u64),
            format!("{pool_ns:.1}"),
            format!("{malloc_ns:.1}"),
            format!("{:.2}x", pool_ns / malloc_ns),
        ]);
    }
    print_table(
        &[
            "block",
            "pool alloc+free ns",
            "malloc+free ns",
            "pool/malloc",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct PubsubArgs {
    /// Payload sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "64,4096,1048576,6291456")]
    pub sizes: Vec<usize>,
    /// Round trips per size.
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// `block` (futex doorbell) or `poll` (busy-poll).
    #[arg(long, default_value = "block")]
    pub mode: String,
}

fn spec(topic: &str, hint: usize) -> TopicSpec {
    TopicSpec::new(topic, "bench/Bytes", Qos::keep_all_reliable()).hint(hint)
}

fn next(d: &Domain, s: &Subscriber, poll: bool) -> Option<renoir_core::topic::Sample> {
    let t = Instant::now();
    loop {
        let seen = d.doorbell_seq();
        if let Ok(Some(x)) = s.take() {
            return Some(x);
        }
        if t.elapsed() > Duration::from_secs(20) {
            return None;
        }
        if poll {
            std::hint::spin_loop();
        } else {
            d.wait(seen, Some(Duration::from_millis(100)));
        }
    }
}

/// The child: answer every `/ping` that asks for it with 16 bytes on `/pong`.
pub fn echo_if_child() -> bool {
    let Ok(mode) = std::env::var(ROLE) else {
        return false;
    };
    let poll = mode == "poll";
    let run = || -> Option<()> {
        let d = Domain::join(DOMAIN).ok()?;
        let n = d.add_node("renoir_bench_echo", "/", "").ok()?;
        let s = d.create_subscriber(&n, spec("/ping", 0)).ok()?;
        let p = d.create_publisher(&n, spec("/pong", 16)).ok()?;
        p.set_max_blocking(Duration::from_secs(10));
        loop {
            let x = next(&d, &s, poll)?;
            match x.get(8).copied() {
                Some(QUIT) | None => return Some(()),
                Some(ITEM) if x.get(9) != Some(&1) => continue,
                _ => {}
            }
            let mut r = p.loan(16).ok()?;
            r[..8].copy_from_slice(&x[..8]);
            r[8..].fill(0);
            p.publish(r, 0).ok()?;
        }
    };
    let _ = run();
    true
}

struct Peer {
    d: std::sync::Arc<Domain>,
    _n: renoir_core::registry::NodeHandle,
    ping: Publisher,
    pong: Subscriber,
    poll: bool,
}

impl Peer {
    fn send(&self, seq: u64, len: usize, flag: u8, last: bool, fill: bool) -> Result<(), String> {
        let mut m = self.ping.loan(len.max(16)).map_err(|e| e.to_string())?;
        if fill {
            m.fill(seq as u8);
        }
        m[..8].copy_from_slice(&seq.to_le_bytes());
        m[8] = flag;
        m[9] = last as u8;
        self.ping.publish(m, 0).map_err(|e| e.to_string())?;
        Ok(())
    }
    fn ack(&self, seq: u64) -> Result<(), String> {
        let x = next(&self.d, &self.pong, self.poll).ok_or("echo process stopped answering")?;
        if x.get(..8) != Some(&seq.to_le_bytes()[..]) {
            return Err("echo answered out of order".into());
        }
        Ok(())
    }
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub fn run(args: Args) -> CmdResult {
    let a = match args.what {
        What::Ring(a) => return run_ring(a),
        What::Pool(a) => return run_pool(a),
        What::Pubsub(a) => a,
    };
    let poll = match a.mode.as_str() {
        "block" => false,
        "poll" => true,
        m => return Err(format!("--mode must be block or poll, not {m:?}").into()),
    };
    // Our own prefix: never touch a running system's segments.
    std::env::set_var("RENOIR_SHM_PREFIX", format!("rbench{}", std::process::id()));
    let d = Domain::join(DOMAIN)?;
    let n = d.add_node("renoir_bench", "/", "")?;
    let ping = d.create_publisher(&n, spec("/ping", 4096))?;
    ping.set_max_blocking(Duration::from_secs(10));
    let pong = d.create_subscriber(&n, spec("/pong", 16))?;
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, &a.mode)
        .stdin(Stdio::null())
        .spawn()?;
    let t = Instant::now();
    while ping.matched_subscribers() < 1 || pong.matched_publishers() < 1 {
        if t.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            return Err("echo process did not start".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let peer = Peer {
        d: d.clone(),
        _n: n,
        ping,
        pong,
        poll,
    };
    let mut rows = Vec::new();
    let mut seq = 0u64;
    let result = (|| -> Result<(), String> {
        for &size in &a.sizes {
            let mut rtt = Vec::with_capacity(a.count);
            for _ in 0..a.count {
                seq += 1;
                let t = Instant::now();
                peer.send(seq, size, 0, true, false)?;
                peer.ack(seq)?;
                rtt.push(t.elapsed().as_secs_f64() * 1e6);
            }
            rtt.sort_by(f64::total_cmp);
            // Throughput: a stream of fully written samples, one ack at the end.
            let k = (64usize << 20).div_ceil(size.max(16)).clamp(64, 20_000);
            let t = Instant::now();
            for i in 0..k {
                seq += 1;
                peer.send(seq, size, ITEM, i + 1 == k, true)?;
            }
            peer.ack(seq)?;
            let secs = t.elapsed().as_secs_f64();
            rows.push(vec![
                human_bytes(size as u64),
                format!("{:.1}", pct(&rtt, 0.5)),
                format!("{:.1}", pct(&rtt, 0.99)),
                format!("{:.1}", rtt[rtt.len() - 1]),
                format!("{:.0}", k as f64 / secs),
                format!("{}/s", human_bytes((k as f64 * size as f64 / secs) as u64)),
            ]);
        }
        Ok(())
    })();
    let _ = peer.send(0, 16, QUIT, true, false);
    let _ = child.wait();
    drop(peer);
    drop(d);
    renoir_core::cleanup::clean(Some(DOMAIN));
    result?;
    println!(
        "renoir bench pubsub ({} mode, {} round trips per size; RTT = size one way + 16 B back)",
        a.mode, a.count
    );
    print_table(
        &[
            "SIZE",
            "RTT p50 us",
            "RTT p99 us",
            "RTT max us",
            "MSG/S",
            "THROUGHPUT",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}
