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

fn summary(n: usize) {
    let chain = chain();
    let msgs: Vec<Message> = (0..1024u32)
        .map(|i| sensor_v0_9_message(i * 7919, i as f32 * 0.25))
        .collect();
    let mut times = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let out = chain.apply(&msgs[i % msgs.len()]);
        times.push(t.elapsed());
        black_box(out.expect("migrate"));
    }
    let wall = start.elapsed();
    times.sort_unstable();
    let total: Duration = times.iter().sum();
    let per_s = n as f64 / total.as_secs_f64();
    let wall_per_s = n as f64 / wall.as_secs_f64();
    let p = |q: f64| times[((n as f64 - 1.0) * q) as usize];
    let max = times[n - 1];
    println!();
    println!("SensorReading chain v0.9 -> v1.0 -> v1.1 -> v2.0, {n} messages, 1 core");
    println!("| metric | value |");
    println!("|---|---|");
    println!("| messages/s (sum of per-message times) | {per_s:.0} |");
    println!("| messages/s (wall, incl. timing) | {wall_per_s:.0} |");
    println!("| p50 | {:?} |", p(0.50));
    println!("| p99 | {:?} |", p(0.99));
    println!("| max | {max:?} |");
    let ok = per_s >= 100_000.0 && max < Duration::from_millis(10);
    println!(
        "| targets (>= 100k/s, max < 10 ms) | {} |",
        if ok { "met" } else { "NOT met" }
    );
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    summary(if bench_mode { 1_000_000 } else { 10_000 });
}
