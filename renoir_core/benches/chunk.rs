//! Chunked publish + reassemble throughput against a plain memcpy of the
//! same size, in the same run (1 MiB, 6.2 MB = one 1920x1080 rgb8 frame,
//! 25 MB). Target: at least half of memcpy's bandwidth.
//!
//! `cargo bench -p renoir_core --bench chunk`
//!
//! - `memcpy`: `copy_from_slice` of the payload into a preallocated buffer.
//! - `publish_reassemble`: writer copies the payload into 1 MiB chunks of a
//!   heap-backed region (one copy), reader pins, validates the descriptor
//!   and reassembles into a preallocated Vec (second copy), then retire +
//!   reclaim. Checksums off (the release default).
//! - `publish_zero_copy`: the same, but the reader only walks the chunk
//!   slices (summing one byte per chunk), no second copy.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use renoir_core::blob::{
    BlobReader, BlobStore, BlobWriter, ChunkStrategy, ContentType, ReclaimPolicy, StoreConfig,
};
use renoir_core::region::{Backend, Region, RegionConfig};
use std::sync::Arc;
use std::time::Duration;

const CHUNK: u32 = 1 << 20;

fn setup(tag: &str) -> (BlobWriter, BlobReader) {
    let cfg = StoreConfig {
        chunk_size: CHUNK,
        chunk_capacity: 64,
        table_capacity: 16,
        max_chunks: 64,
        reader_slots: 4,
    };
    let name = format!("blobbench_{}_{tag}", std::process::id());
    let r = Arc::new(
        Region::create(
            &RegionConfig::new(name, cfg.required_bytes().unwrap() as usize).backend(Backend::Heap),
        )
        .unwrap(),
    );
    let off = r.payload_offset();
    let w = BlobStore::create_in(&r, off, cfg).unwrap();
    let rd = BlobStore::open_in(&r, off).unwrap();
    let policy = ReclaimPolicy {
        check_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    (
        BlobWriter::new(w, ChunkStrategy::Fixed(CHUNK), false, policy),
        BlobReader::new(rd, false).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    for (label, size) in [
        ("1MiB", 1usize << 20),
        ("6.2MB", 1920 * 1080 * 3),
        ("25MB", 25_000_000),
    ] {
        let src: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut g = c.benchmark_group(format!("chunk/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        g.sample_size(20);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        let mut dst = vec![0u8; size];
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&dst);
            })
        });
        let (mut w, mut r) = setup(label);
        let mut out = Vec::with_capacity(size);
        g.bench_function("publish_reassemble", |b| {
            b.iter(|| {
                let d = w.publish(black_box(&src), ContentType::Image).unwrap();
                {
                    let guard = r.pin();
                    let blob = guard.open(d).unwrap();
                    blob.reassemble_into(&mut out);
                }
                w.retire(d);
                w.reclaim();
                black_box(&out);
            })
        });
        g.bench_function("publish_zero_copy", |b| {
            b.iter(|| {
                let d = w.publish(black_box(&src), ContentType::Image).unwrap();
                let mut sum = 0u64;
                {
                    let guard = r.pin();
                    let blob = guard.open(d).unwrap();
                    for ch in blob.chunks() {
                        sum += u64::from(ch[0]);
                    }
                }
                w.retire(d);
                w.reclaim();
                black_box(sum);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
