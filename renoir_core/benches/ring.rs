//! Same-process ring benchmarks (criterion): uncontended push+pop latency
//! and two-thread throughput, per ring, on the heap backend (the code is the
//! same on shared memory).
//!
//! `cargo bench -p renoir_core --bench ring`
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use renoir_core::ring::{
    BroadcastReader, HeapBroadcast, HeapMpmc, HeapSequenced, HeapSpsc, PushError,
};
use std::hint::black_box;
use std::time::Instant;

fn latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pop_1thread");
    g.throughput(Throughput::Elements(1));
    let spsc = HeapSpsc::<1>::new(1024).unwrap();
    g.bench_function("spsc", |b| {
        b.iter(|| {
            spsc.push(black_box([1])).unwrap();
            black_box(spsc.pop().unwrap())
        })
    });
    let mpmc = HeapMpmc::<1>::new(1024).unwrap();
    g.bench_function("mpmc", |b| {
        b.iter(|| {
            mpmc.push(black_box([1])).unwrap();
            black_box(mpmc.pop().unwrap())
        })
    });
    let seq = HeapSequenced::<1>::new(1024).unwrap();
    g.bench_function("sequenced", |b| {
        b.iter(|| {
            seq.push(black_box([1])).unwrap();
            black_box(seq.pop().unwrap())
        })
    });
    let bc = HeapBroadcast::<1>::new(1024).unwrap();
    let mut r = bc.reader_from_now();
    g.bench_function("broadcast", |b| {
        b.iter(|| {
            bc.push(black_box([1])).unwrap();
            black_box(bc.read(&mut r).unwrap())
        })
    });
    let bc8 = HeapBroadcast::<8>::new(1024).unwrap();
    let mut r8 = bc8.reader_from_now();
    g.bench_function("broadcast_64B_record", |b| {
        b.iter(|| {
            bc8.push(black_box([1; 8])).unwrap();
            black_box(bc8.read(&mut r8).unwrap())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("batch_32_1thread");
    g.throughput(Throughput::Elements(32));
    let items = [[7u64]; 32];
    let mut out = [[0u64]; 32];
    g.bench_function("spsc", |b| {
        b.iter(|| {
            spsc.push_batch(black_box(&items)).unwrap();
            black_box(spsc.pop_batch(&mut out).unwrap())
        })
    });
    g.finish();
}

/// Two threads, `n` items producer -> consumer; returns items/s.
fn throughput(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("two_threads");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("spsc", |b| {
        b.iter_batched(
            || HeapSpsc::<1>::new(1024).unwrap(),
            |r| {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        for i in 0..N {
                            while r.push([i]) == Err(PushError::Full) {
                                std::hint::spin_loop();
                            }
                        }
                    });
                    let mut got = 0;
                    while got < N {
                        if r.pop().unwrap().is_some() {
                            got += 1;
                        }
                    }
                });
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("mpmc", |b| {
        b.iter_batched(
            || HeapMpmc::<1>::new(1024).unwrap(),
            |r| {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        for i in 0..N {
                            while r.push([i]) == Err(PushError::Full) {
                                std::hint::spin_loop();
                            }
                        }
                    });
                    let mut got = 0;
                    while got < N {
                        if r.pop().unwrap().is_some() {
                            got += 1;
                        }
                    }
                });
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("broadcast_writer_only", |b| {
        let bc = HeapBroadcast::<1>::new(1024).unwrap();
        b.iter(|| {
            for i in 0..N {
                bc.push([i]).unwrap();
            }
        })
    });
    g.bench_function("broadcast_1_reader", |b| {
        b.iter_batched(
            || HeapBroadcast::<1>::new(1024).unwrap(),
            |bc| {
                let t = Instant::now();
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut r = BroadcastReader::at(0);
                        while r.next_seq() < N && t.elapsed().as_secs() < 5 {
                            black_box(bc.read(&mut r).unwrap());
                        }
                    });
                    for i in 0..N {
                        bc.push([i]).unwrap();
                    }
                });
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, latency, throughput);
criterion_main!(benches);
