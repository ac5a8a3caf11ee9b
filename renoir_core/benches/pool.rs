//! Allocator micro-benchmarks, each next to a peer measured in the same run:
//! one alloc+free pair of the shared-memory `Pool` / `BufferPool` (heap and
//! /dev/shm backends) versus `malloc`+`free` of the same size (std's global
//! allocator), single-threaded and with two threads contending.
//!
//! Run: `cargo bench -p renoir_core --bench pool`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use renoir_core::alloc::{BufferPool, BufferPoolConfig, Pool, SizeClass, Wait};
use renoir_core::region::{Backend, Region, RegionConfig};
use std::sync::Arc;

fn shm_pool(name: &str, backend: Backend) -> (Arc<Region>, Pool) {
    let name = format!("bench{}_{name}", std::process::id());
    let need = Pool::required_bytes(256, 1024, 64).unwrap() as usize;
    let r = Arc::new(Region::create(&RegionConfig::new(name, need).backend(backend)).unwrap());
    let p = Pool::create_in(&r, r.payload_offset(), 256, 1024, 1024, 64).unwrap();
    (r, p)
}

fn single(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_free_256B");
    let heap = Pool::new(256, 1024, 1024).unwrap();
    g.bench_function("pool_heap", |b| {
        b.iter(|| {
            let i = heap.alloc().unwrap();
            heap.free(black_box(i)).unwrap();
        })
    });
    let (_r, shm) = shm_pool("single", Backend::Shm);
    g.bench_function("pool_shm", |b| {
        b.iter(|| {
            let i = shm.alloc().unwrap();
            shm.free(black_box(i)).unwrap();
        })
    });
    let cfg = BufferPoolConfig::new(vec![
        SizeClass {
            size: 256,
            capacity: 256,
            prealloc: 256,
        },
        SizeClass {
            size: 65536,
            capacity: 16,
            prealloc: 16,
        },
    ]);
    let need = cfg.required_bytes().unwrap() as usize;
    let r = Arc::new(
        Region::create(&RegionConfig::new(
            format!("bench{}_bp", std::process::id()),
            need,
        ))
        .unwrap(),
    );
    let bp = BufferPool::create_in(&r, r.payload_offset(), &cfg).unwrap();
    g.bench_function("buffer_pool_shm", |b| {
        b.iter(|| {
            let x = bp.alloc(black_box(200), Wait::No).unwrap();
            bp.free(x).unwrap();
        })
    });
    g.bench_function("peer_malloc_free", |b| {
        b.iter(|| {
            let v: Vec<u8> = Vec::with_capacity(black_box(256));
            black_box(v.as_ptr());
            drop(v);
        })
    });
    g.finish();
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_free_256B_2threads");
    let (_r, shm) = shm_pool("contended", Backend::Shm);
    let shm = Arc::new(shm);
    g.bench_function("pool_shm", |b| {
        b.iter_custom(|iters| {
            let p = shm.clone();
            let t0 = std::time::Instant::now();
            let h = std::thread::spawn(move || {
                for _ in 0..iters {
                    let i = p.alloc().unwrap();
                    p.free(i).unwrap();
                }
            });
            for _ in 0..iters {
                let i = shm.alloc().unwrap();
                shm.free(i).unwrap();
            }
            h.join().unwrap();
            t0.elapsed()
        })
    });
    g.bench_function("peer_malloc_free", |b| {
        b.iter_custom(|iters| {
            let t0 = std::time::Instant::now();
            let h = std::thread::spawn(move || {
                for _ in 0..iters {
                    black_box(Vec::<u8>::with_capacity(black_box(256)));
                }
            });
            for _ in 0..iters {
                black_box(Vec::<u8>::with_capacity(black_box(256)));
            }
            h.join().unwrap();
            t0.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, single, contended);
criterion_main!(benches);
