//! Migration throughput: the SensorReading chain v0.9 -> v1.0 -> v1.1 -> v2.0
//! (renames + widenings, an optional addition, a required addition with a
//! rule default), one message at a time, on one core.
//!
//! `cargo bench -p renoir_core --bench migrate` runs criterion, then prints a
//! summary table (messages/s per core, mean, p99 and max time per message)
//! and checks the targets (>= 100k messages/s, max < 10 ms).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use renoir_core::schema::examples::*;
use renoir_core::schema::*;

fn chain() -> MigrationChain {
    let mut reg = SchemaRegistry::new();
    for s in [sensor_v0_9(), sensor_v1_0(), sensor_v1_1(), sensor_v2_0()] {
        reg.register(s).expect("register");
    }
    reg.chain(
        SENSOR_READING,
        &Version::new(0, 9, 0),
        &Version::new(2, 0, 0),
        sensor_rules,
    )
    .expect("chain")
}

fn benches(c: &mut Criterion) {
    let chain = chain();
    let msg = sensor_v0_9_message(123_456, 21.5);
    let mut g = c.benchmark_group("migrate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("chain_v0.9_to_v2.0", |b| {
        b.iter(|| chain.apply(black_box(&msg)).expect("migrate"))
    });
    let step = MigrationPlan::new(&sensor_v1_0(), &sensor_v1_1()).expect("plan");
    let m10 = chain.plans()[0].apply(&msg).expect("step");
    g.bench_function("step_v1.0_to_v1.1", |b| {
        b.iter(|| step.apply(black_box(&m10)).expect("migrate"))
    });
    let mut migrator = Migrator::new(chain.clone());
    g.bench_function("migrator_chain_with_stats", |b| {
        b.iter(|| migrator.migrate(black_box(msg.clone())).expect("migrate"))
    });
    g.bench_function("plan_build_chain", |b| b.iter(self::chain));
    g.finish();
}

/// CPU time of this thread (excludes time the thread was preempted).
fn thread_cpu() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

fn summary(n: usize) {
    let chain = chain();
    let msgs: Vec<Message> = (0..1024u32)
        .map(|i| sensor_v0_9_message(i * 7919, i as f32 * 0.25))
        .collect();
    // Pass 1: throughput, wall clock, no per-message timing.
    let start = Instant::now();
    for i in 0..n {
        black_box(
            chain
                .apply(black_box(&msgs[i % msgs.len()]))
                .expect("migrate"),
        );
    }
    let wall = start.elapsed();
    let per_s = n as f64 / wall.as_secs_f64();
    // Pass 2: per-message latency, wall and thread CPU time.
    let m = n.min(200_000);
    let mut wall_t = Vec::with_capacity(m);
    let mut cpu_t = Vec::with_capacity(m);
    for i in 0..m {
        let c0 = thread_cpu();
        let t0 = Instant::now();
        let out = chain.apply(&msgs[i % msgs.len()]);
        let t = t0.elapsed();
        let c = thread_cpu().saturating_sub(c0);
        black_box(out.expect("migrate"));
        wall_t.push(t);
        cpu_t.push(c);
    }
    wall_t.sort_unstable();
    cpu_t.sort_unstable();
    let q = |v: &[Duration], q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    println!();
    println!("SensorReading chain v0.9 -> v1.0 -> v1.1 -> v2.0, 1 core");
    println!("| metric | value |");
    println!("|---|---|");
    println!("| messages/s ({n} messages, wall) | {per_s:.0} |");
    println!("| mean per message | {:?} |", wall / n as u32);
    println!(
        "| p50 / p99 / max, wall ({m} timed) | {:?} / {:?} / {:?} |",
        q(&wall_t, 0.5),
        q(&wall_t, 0.99),
        q(&wall_t, 1.0)
    );
    println!(
        "| p50 / p99 / max, thread CPU time | {:?} / {:?} / {:?} |",
        q(&cpu_t, 0.5),
        q(&cpu_t, 0.99),
        q(&cpu_t, 1.0)
    );
    let ok = per_s >= 100_000.0 && q(&cpu_t, 1.0) < Duration::from_millis(10);
    println!(
        "| targets (>= 100k/s, max CPU time < 10 ms) | {} |",
        if ok { "met" } else { "NOT met" }
    );
    println!(
        "(wall max includes preemption by other processes on a shared machine; CPU time does not)"
    );
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    summary(if bench_mode { 1_000_000 } else { 10_000 });
}
