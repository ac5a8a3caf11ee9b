//! Cross-process ping-pong latency, renoir vs iceoryx2 vs memcpy, in one run.
//!
//! `cargo bench -p renoir_core --bench ipc` (env: `IPC_QUICK=1` for a short
//! run, `IPC_CSV=path` to also write CSV).
//!
//! Each row is one round trip between this process and a child process (the
//! bench binary re-executed with a role):
//! - the pinger writes the payload (`size` bytes) into shared memory and
//!   sends it; the ponger receives it, reads its first and last byte and
//!   answers with a 64-byte message; the pinger times until the answer.
//! - renoir: payload in a `Region`, a 64-byte descriptor (`[u64; 8]`) on an
//!   `SpscRing` in each direction; `busy` spins on the ring, `futex` sleeps in
//!   `Event::wait_until` (futex) and is woken by `notify`.
//! - iceoryx2 0.10 publish/subscribe (`[u8]` slices, loan + write + send),
//!   busy-polling `receive` ("iceoryx2 busy"), or sleeping in an event
//!   `Listener::timed_wait` woken by the sender's `Notifier::notify` after
//!   each send ("iceoryx2 event", iceoryx2's blocking pattern).
//! - renoir topic: the full publish -> take path of `renoir_core::topic`
//!   (Domain, loaned slot, descriptor ring, doorbell), busy-polling `take`
//!   or sleeping in `Domain::wait`.
//! - memcpy: copying `size` bytes between two heap buffers (the bandwidth
//!   floor every transport that copies pays once).
//!
//! Reported: p50/p99/max round-trip time, CPU time of both processes per
//! round trip (the child reports its own, start-up excluded), and the p50
//! ratio to iceoryx2 of the same size, so ratios read off one table.
#![allow(clippy::disallowed_types)] // atomics via renoir_core::sync

use renoir_core::notify::Event;
use renoir_core::region::{Access, Backend, Region, RegionConfig};
use renoir_core::ring::{Cell, ShmMem, SpscHeader, SpscRing};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "RENOIR_IPC_ROLE";
const SIZES: [usize; 4] = [64, 4096, 1 << 20, 6 << 20];
const RING_CAP: usize = 64;
type Desc = [u64; 8]; // 64-byte descriptor

mod sys {
    //! getrusage, the only unsafe of this bench.
    pub fn cpu_us(who: i32) -> u64 {
        let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `ru` is a valid, writable rusage; getrusage only writes it.
        let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
        if rc != 0 {
            return 0;
        }
        // SAFETY: zero-initialised and filled by a successful getrusage.
        let ru = unsafe { ru.assume_init() };
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        us(ru.ru_utime) + us(ru.ru_stime)
    }
    pub const SELF: i32 = libc::RUSAGE_SELF;
}

// ------------------------------------------------------------ renoir layout

/// Offsets (from the region's payload start): two events, two SPSC rings,
/// two payload buffers.
struct Lay {
    base: usize,
}
impl Lay {
    const PING_EV: usize = 0;
    const PONG_EV: usize = 64;
    const PING_H: usize = 128;
    const PING_S: usize = 128 + 192;
    const PONG_H: usize = Self::PING_S + RING_CAP * 64;
    const PONG_S: usize = Self::PONG_H + 192;
    const BUF: usize = 64 * 1024;
    const MAXP: usize = 6 << 20;
    const SIZE: usize = Self::BUF + 2 * Self::MAXP;
    fn at(&self, off: usize) -> usize {
        self.base + off
    }
}

struct Side<'a> {
    ping: SpscRing<ShmMem<'a, SpscHeader, Cell<8>>, 8>,
    pong: SpscRing<ShmMem<'a, SpscHeader, Cell<8>>, 8>,
    ping_ev: &'a Event,
    pong_ev: &'a Event,
}

fn side(r: &Region, create: bool) -> Side<'_> {
    let l = Lay {
        base: r.payload_offset(),
    };
    let mk = |h: usize, s: usize| {
        let mem = ShmMem::new(
            r.get::<SpscHeader>(l.at(h)).unwrap(),
            r.get_slice::<Cell<8>>(l.at(s), RING_CAP).unwrap(),
        );
        if create {
            SpscRing::init(mem).unwrap()
        } else {
            SpscRing::attach(mem).unwrap()
        }
    };
    Side {
        ping: mk(Lay::PING_H, Lay::PING_S),
        pong: mk(Lay::PONG_H, Lay::PONG_S),
        ping_ev: r.get(l.at(Lay::PING_EV)).unwrap(),
        pong_ev: r.get(l.at(Lay::PONG_EV)).unwrap(),
    }
}

fn recv(ring: &SpscRing<ShmMem<'_, SpscHeader, Cell<8>>, 8>, ev: &Event, futex: bool) -> Desc {
    loop {
        if let Some(d) = ring.pop().unwrap() {
            return d;
        }
        if futex {
            ev.wait_until(|| !ring.is_empty(), Some(Duration::from_secs(5)));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn send(ring: &SpscRing<ShmMem<'_, SpscHeader, Cell<8>>, 8>, ev: &Event, d: Desc, futex: bool) {
    while ring.push(d).is_err() {
        std::hint::spin_loop();
    }
    if futex {
        ev.notify();
    }
}

fn renoir_child(name: &str, futex: bool) {
    let r = Region::open(name, Backend::Shm, Access::ReadWrite).expect("open region");
    let s = side(&r, false);
    let base = r.payload_offset();
    let mut cpu0 = None;
    loop {
        let d = recv(&s.ping, s.ping_ev, futex);
        cpu0.get_or_insert_with(|| sys::cpu_us(sys::SELF));
        if d[0] == u64::MAX {
            break;
        }
        let (off, len) = (d[1] as usize, d[2] as usize);
        let p = r.bytes(base + off, len).expect("payload in bounds");
        let touch = p[0] as u64 + p[len - 1] as u64;
        send(&s.pong, s.pong_ev, [d[0], touch, 0, 0, 0, 0, 0, 0], futex);
    }
    println!("cpu_us={}", sys::cpu_us(sys::SELF) - cpu0.unwrap_or(0));
}

fn renoir_run(size: usize, iters: usize, futex: bool) -> Vec<Duration> {
    let name = format!("ipcbench_{}_{}", std::process::id(), size);
    let r = Region::create(&RegionConfig::new(&name, Lay::SIZE)).expect("create region");
    let s = side(&r, true);
    let base = r.payload_offset();
    let child = spawn_child(if futex { "renoir_futex" } else { "renoir_busy" }, &name);
    let src = vec![0xA5u8; size];
    // Warm-up round trip: waits for the child to start.
    // SAFETY: as below, no descriptor for the ping buffer is in flight.
    unsafe { r.bytes_mut(base + Lay::BUF, size) }
        .unwrap()
        .copy_from_slice(&src);
    send(
        &s.ping,
        s.ping_ev,
        [1 << 62, Lay::BUF as u64, size as u64, 0, 0, 0, 0, 0],
        futex,
    );
    assert_eq!(recv(&s.pong, s.pong_ev, futex)[0], 1 << 62);
    loop_starts();
    let mut out = Vec::with_capacity(iters);
    for i in 0..iters as u64 {
        let t = Instant::now();
        // SAFETY: the ping buffer is written only by this process, and only
        // while no descriptor for it is in flight (the previous round trip
        // completed), so nobody reads it concurrently.
        let buf = unsafe { r.bytes_mut(base + Lay::BUF, size) }.unwrap();
        buf.copy_from_slice(&src);
        send(
            &s.ping,
            s.ping_ev,
            [i, Lay::BUF as u64, size as u64, 0, 0, 0, 0, 0],
            futex,
        );
        let d = recv(&s.pong, s.pong_ev, futex);
        out.push(t.elapsed());
        assert_eq!(d[0], i);
        assert_eq!(d[1], 0xA5 * 2);
    }
    send(&s.ping, s.ping_ev, [u64::MAX; 8], futex);
    child_cpu(child);
    out
}

// ------------------------------------------------------------ iceoryx2

mod ice {
    use iceoryx2::port::listener::Listener;
    use iceoryx2::port::notifier::Notifier;
    use iceoryx2::prelude::*;
    use std::time::{Duration, Instant};

    type Pub = iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>;
    type Sub = iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8], ()>;

    /// One side of the ping-pong: publisher + subscriber, and in blocking
    /// mode an event notifier/listener pair (iceoryx2's way to sleep until
    /// data arrives: publish, then notify).
    struct Ends {
        _node: Node<ipc::Service>,
        publ: Pub,
        sub: Sub,
        ev: Option<(Notifier<ipc::Service>, Listener<ipc::Service>)>,
    }

    fn ends(tag: &str, parent: bool, max_len: usize, blocking: bool) -> Ends {
        set_log_level(LogLevel::Error);
        let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
        let name = |x: &str| ServiceName::new(&format!("renoir_bench/{tag}/{x}")).unwrap();
        let ps = |x: &str| {
            node.service_builder(&name(x))
                .publish_subscribe::<[u8]>()
                .open_or_create()
                .unwrap()
        };
        let (out, inp) = if parent {
            ("ping", "pong")
        } else {
            ("pong", "ping")
        };
        let publ = ps(out)
            .publisher_builder()
            .initial_max_slice_len(max_len)
            .create()
            .unwrap();
        let sub = ps(inp).subscriber_builder().create().unwrap();
        let ev = blocking.then(|| {
            let es = |x: &str| {
                node.service_builder(&name(&format!("{x}_ev")))
                    .event()
                    .open_or_create()
                    .unwrap()
            };
            (
                es(out).notifier_builder().create().unwrap(),
                es(inp).listener_builder().create().unwrap(),
            )
        });
        Ends {
            _node: node,
            publ,
            sub,
            ev,
        }
    }

    impl Ends {
        fn send(&self, bytes: &[u8]) {
            self.publ
                .loan_slice_uninit(bytes.len())
                .unwrap()
                .write_from_slice(bytes)
                .send()
                .unwrap();
            if let Some((n, _)) = &self.ev {
                n.notify().unwrap();
            }
        }

        /// Next sample's first 16 bytes (seq, touch), or None after `patience`.
        fn recv(&self, patience: Duration) -> Option<(u64, u64)> {
            let t = Instant::now();
            loop {
                if let Some(s) = self.sub.receive().unwrap() {
                    let p = s.payload();
                    let seq = u64::from_le_bytes(p[..8].try_into().unwrap());
                    let touch = p[8] as u64 + p[p.len() - 1] as u64;
                    return Some((seq, touch));
                }
                if t.elapsed() > patience {
                    return None;
                }
                match &self.ev {
                    Some((_, l)) => {
                        l.timed_wait(|_| {}, Duration::from_millis(50)).unwrap();
                    }
                    None => std::hint::spin_loop(),
                }
            }
        }
    }

    pub fn child(tag: &str, blocking: bool) {
        let e = ends(tag, false, 64, blocking);
        let mut cpu0 = None;
        loop {
            let (seq, touch) = e.recv(Duration::from_secs(120)).expect("no ping");
            cpu0.get_or_insert_with(|| super::sys::cpu_us(super::sys::SELF));
            let mut ans = [0u8; 64];
            ans[..8].copy_from_slice(&seq.to_le_bytes());
            ans[8..16].copy_from_slice(&touch.to_le_bytes());
            e.send(&ans);
            if seq == u64::MAX {
                println!(
                    "cpu_us={}",
                    super::sys::cpu_us(super::sys::SELF) - cpu0.unwrap_or(0)
                );
                break;
            }
        }
    }

    pub fn run(
        tag: &str,
        size: usize,
        iters: usize,
        blocking: bool,
        spawn: impl Fn() -> std::process::Child,
    ) -> Vec<Duration> {
        let e = ends(tag, true, size.max(16), blocking);
        let child = spawn();
        let mut src = vec![0xA5u8; size.max(16)];
        // Handshake: samples and events reach only connected ports, so
        // repeat seq 0 until the child answers.
        let t0 = Instant::now();
        src[..8].copy_from_slice(&0u64.to_le_bytes());
        loop {
            e.send(&src);
            if e.recv(Duration::from_millis(20)).is_some() {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "iceoryx2 child never connected"
            );
        }
        while e.recv(Duration::from_millis(20)).is_some() {}
        super::loop_starts();
        let mut out = Vec::with_capacity(iters);
        for i in 1..=iters as u64 {
            let t = Instant::now();
            src[..8].copy_from_slice(&i.to_le_bytes());
            e.send(&src);
            let (got, _) = e.recv(Duration::from_secs(60)).expect("no pong");
            out.push(t.elapsed());
            assert_eq!(got, i);
        }
        src[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        e.send(&src);
        super::child_cpu(child);
        out
    }
}

// ------------------------------------------------------------ renoir topic

/// The topic layer's publish -> take path (registry + publisher pool +
/// descriptor ring + doorbell), measured the same way as the rows above.
mod topic {
    use renoir_core::registry::Domain;
    use renoir_core::topic::{Qos, Subscriber, TopicSpec};
    use std::time::{Duration, Instant};

    fn spec(name: &str, hint: usize) -> TopicSpec {
        TopicSpec::new(name, "bench/Bytes", Qos::keep_all_reliable()).hint(hint)
    }

    /// A domain of its own per bench run, so parallel runs do not meet;
    /// the child gets the parent's through its role argument.
    pub fn domain() -> u32 {
        150 + std::process::id() % 80
    }

    fn take(d: &Domain, s: &Subscriber, busy: bool) -> renoir_core::topic::Sample {
        let t = Instant::now();
        loop {
            let seen = d.doorbell_seq();
            if let Some(x) = s.take().expect("take") {
                return x;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "topic peer silent");
            if busy {
                std::hint::spin_loop();
            } else {
                d.wait(seen, Some(Duration::from_millis(200)));
            }
        }
    }

    pub fn child(busy: bool, domain: u32) {
        let d = Domain::join(domain).unwrap();
        let n = d.add_node("ipc_echo", "/", "").unwrap();
        let sub = d.create_subscriber(&n, spec("/ipc_ping", 0)).unwrap();
        let publ = d.create_publisher(&n, spec("/ipc_pong", 64)).unwrap();
        let mut cpu0 = None;
        loop {
            let x = take(&d, &sub, busy);
            cpu0.get_or_insert_with(|| super::sys::cpu_us(super::sys::SELF));
            let seq = u64::from_le_bytes(x[..8].try_into().unwrap());
            let touch = x[8] as u64 + x[x.len() - 1] as u64;
            drop(x);
            let mut a = publ.loan(64).unwrap();
            a.fill(0);
            a[..8].copy_from_slice(&seq.to_le_bytes());
            a[8..16].copy_from_slice(&touch.to_le_bytes());
            publ.publish(a, 0).unwrap();
            if seq == u64::MAX {
                break;
            }
        }
        println!(
            "cpu_us={}",
            super::sys::cpu_us(super::sys::SELF) - cpu0.unwrap_or(0)
        );
    }

    pub fn run(
        size: usize,
        iters: usize,
        busy: bool,
        spawn: impl Fn() -> std::process::Child,
    ) -> Vec<Duration> {
        let d = Domain::join(domain()).unwrap();
        let n = d.add_node("ipc_bench", "/", "").unwrap();
        let publ = d
            .create_publisher(&n, spec("/ipc_ping", size.max(16)))
            .unwrap();
        publ.set_max_blocking(Duration::from_secs(10));
        let sub = d.create_subscriber(&n, spec("/ipc_pong", 64)).unwrap();
        let child = spawn();
        let t = Instant::now();
        while publ.matched_subscribers() < 1 || sub.matched_publishers() < 1 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "topic echo did not start"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let src = vec![0xA5u8; size.max(16)];
        let one = |seq: u64| -> u64 {
            let mut m = publ.loan(src.len()).unwrap();
            m.copy_from_slice(&src);
            m[..8].copy_from_slice(&seq.to_le_bytes());
            publ.publish(m, 0).unwrap();
            let x = take(&d, &sub, busy);
            u64::from_le_bytes(x[..8].try_into().unwrap())
        };
        assert_eq!(one(0), 0); // warm-up round trip
        super::loop_starts();
        let mut out = Vec::with_capacity(iters);
        for i in 1..=iters as u64 {
            let t = Instant::now();
            let got = one(i);
            out.push(t.elapsed());
            assert_eq!(got, i);
        }
        one(u64::MAX);
        super::child_cpu(child);
        out
    }
}

// ------------------------------------------------------------ harness

fn spawn_child(role: &str, arg: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, format!("{role}:{arg}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Wait for a child and return the CPU time it reported for its measured
/// part (`cpu_us=` line), so process start-up is not counted.
fn child_cpu(mut c: std::process::Child) -> u64 {
    use std::io::Read;
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(c.wait().unwrap().success(), "child failed");
    CHILD_CPU.with(|x| x.set(0));
    let v = out
        .split_whitespace()
        .filter_map(|t| t.strip_prefix("cpu_us="))
        .filter_map(|v| v.parse().ok())
        .next_back()
        .unwrap_or(0);
    CHILD_CPU.with(|x| x.set(v));
    v
}

thread_local! {
    static CHILD_CPU: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// This process's CPU time when the measured loop started (after the
    /// child is up and one warm-up round trip is done).
    static LOOP_CPU0: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Called by each run right before its measured loop.
fn loop_starts() {
    LOOP_CPU0.with(|x| x.set(sys::cpu_us(sys::SELF)));
}

fn memcpy_run(size: usize, iters: usize) -> Vec<Duration> {
    let src = vec![0x5Au8; size];
    let mut dst = vec![0u8; size];
    (0..iters)
        .map(|_| {
            let t = Instant::now();
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&mut dst);
            t.elapsed()
        })
        .collect()
}

struct Row {
    what: &'static str,
    size: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    cpu_us_per_op: f64,
    n: usize,
}

fn row(what: &'static str, size: usize, mut v: Vec<Duration>, cpu_us: u64) -> Row {
    let n = v.len();
    // Drop the first 10% (warm-up: page faults, caches, scheduler).
    let mut v = v.split_off(n / 10);
    v.sort_unstable();
    let q = |p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
    Row {
        what,
        size,
        p50: q(0.5),
        p99: q(0.99),
        max: *v.last().unwrap(),
        cpu_us_per_op: cpu_us as f64 / n as f64,
        n,
    }
}

fn measure(what: &'static str, size: usize, f: impl FnOnce() -> Vec<Duration>) -> Row {
    CHILD_CPU.with(|x| x.set(0));
    loop_starts();
    let v = f();
    // This process from the start of its measured loop (set-up and the
    // child's start-up excluded) plus the child's own report.
    let cpu = sys::cpu_us(sys::SELF) - LOOP_CPU0.with(|x| x.get()) + CHILD_CPU.with(|x| x.get());
    row(what, size, v, cpu)
}

fn fmt_d(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let (role, arg) = role.split_once(':').unwrap();
        match role {
            "renoir_busy" => renoir_child(arg, false),
            "renoir_futex" => renoir_child(arg, true),
            "topic_busy" => topic::child(true, arg.parse().unwrap()),
            "topic_futex" => topic::child(false, arg.parse().unwrap()),
            "ice" => ice::child(arg, false),
            "ice_ev" => ice::child(arg, true),
            _ => panic!("unknown role {role}"),
        }
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // special, so run a tiny smoke version there.
    let quick = std::env::var("IPC_QUICK").is_ok() || !std::env::args().any(|a| a == "--bench");
    let mut rows = vec![];
    for &size in &SIZES {
        let iters = match (quick, size) {
            (true, s) if s >= 1 << 20 => 20,
            (true, _) => 200,
            (false, s) if s >= 6 << 20 => 100,
            (false, s) if s >= 1 << 20 => 300,
            (false, _) => 5_000,
        };
        rows.push(measure("memcpy", size, || memcpy_run(size, iters)));
        rows.push(measure("renoir spsc busy", size, || {
            renoir_run(size, iters, false)
        }));
        rows.push(measure("renoir spsc futex", size, || {
            renoir_run(size, iters, true)
        }));
        rows.push(measure("renoir topic busy", size, || {
            topic::run(size, iters, true, || {
                spawn_child("topic_busy", &topic::domain().to_string())
            })
        }));
        rows.push(measure("renoir topic futex", size, || {
            topic::run(size, iters, false, || {
                spawn_child("topic_futex", &topic::domain().to_string())
            })
        }));
        let tag = format!("{}_{}", std::process::id(), size);
        rows.push(measure("iceoryx2 busy", size, || {
            ice::run(&tag, size, iters, false, || spawn_child("ice", &tag))
        }));
        let tag = format!("{}_{}_ev", std::process::id(), size);
        rows.push(measure("iceoryx2 event", size, || {
            ice::run(&tag, size, iters, true, || spawn_child("ice_ev", &tag))
        }));
    }
    println!();
    // Ratios of p50 against iceoryx2 of the same size: busy rows against
    // its busy-polling run, blocking rows (futex/event) against its event run.
    println!(
        "{:<20} {:>8} {:>10} {:>10} {:>10} {:>12} {:>8} {:>9} {:>9}",
        "round trip", "size", "p50", "p99", "max", "cpu/op", "n", "/ice busy", "/ice ev"
    );
    let ratio = |r: &Row, peer: &str| {
        rows.iter()
            .find(|x| x.what == peer && x.size == r.size)
            .map_or("-".into(), |x| {
                format!("{:.2}", r.p50.as_nanos() as f64 / x.p50.as_nanos() as f64)
            })
    };
    for r in &rows {
        println!(
            "{:<20} {:>8} {:>10} {:>10} {:>10} {:>9.1} us {:>8} {:>9} {:>9}",
            r.what,
            r.size,
            fmt_d(r.p50),
            fmt_d(r.p99),
            fmt_d(r.max),
            r.cpu_us_per_op,
            r.n,
            ratio(r, "iceoryx2 busy"),
            ratio(r, "iceoryx2 event"),
        );
    }
    if let Ok(path) = std::env::var("IPC_CSV") {
        let mut s = String::from("what,size,p50_ns,p99_ns,max_ns,cpu_us_per_op,n\n");
        for r in &rows {
            s += &format!(
                "{},{},{},{},{},{:.3},{}\n",
                r.what,
                r.size,
                r.p50.as_nanos(),
                r.p99.as_nanos(),
                r.max.as_nanos(),
                r.cpu_us_per_op,
                r.n
            );
        }
        std::fs::write(&path, s).expect("write csv");
        println!("wrote {path}");
    }
}
