//! Blob store in one process: chunk boundaries, content types, zero-copy
//! access, checksums, epoch reclamation and back-pressure.

use renoir_core::blob::{
    BlobDesc, BlobError, BlobReader, BlobStore, BlobWriter, ChunkStrategy, ContentType,
    ReclaimPolicy, StoreConfig,
};
use renoir_core::region::{Backend, Region, RegionConfig};
use std::sync::atomic::{AtomicU32 as StdCounter, Ordering as StdOrdering};
use std::sync::Arc;
use std::time::Duration;

const CHUNK: u32 = 4096;

fn region(size: u64) -> Arc<Region> {
    static N: StdCounter = StdCounter::new(0);
    let name = format!(
        "blobtest_{}_{}",
        std::process::id(),
        N.fetch_add(1, StdOrdering::Relaxed)
    );
    Arc::new(
        Region::create(&RegionConfig::new(name, size as usize).backend(Backend::Heap)).unwrap(),
    )
}

fn cfg(chunks: u32) -> StoreConfig {
    StoreConfig {
        chunk_size: CHUNK,
        chunk_capacity: chunks,
        table_capacity: 16,
        max_chunks: 64,
        reader_slots: 4,
    }
}

fn pair(c: StoreConfig, strategy: ChunkStrategy, checksum: bool) -> (BlobWriter, BlobReader) {
    let r = region(c.required_bytes().unwrap());
    let off = r.payload_offset();
    let w = BlobStore::create_in(&r, off, c).unwrap();
    let rd = BlobStore::open_in(&r, off).unwrap();
    let policy = ReclaimPolicy {
        check_interval: Duration::ZERO,
        ..Default::default()
    };
    (
        BlobWriter::new(w, strategy, checksum, policy),
        BlobReader::new(rd, true).unwrap(),
    )
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn boundaries_round_trip_fixed_and_adaptive() {
    let c = CHUNK as usize;
    let cases = [0, 1, c - 1, c, c + 1, 2 * c, 63 * c + 7, 64 * c];
    for strategy in [
        ChunkStrategy::Fixed(CHUNK),
        ChunkStrategy::Adaptive,
        ChunkStrategy::Fixed(1000),
    ] {
        let (mut w, mut r) = pair(cfg(128), strategy, true);
        for (k, &len) in cases.iter().enumerate() {
            if strategy == ChunkStrategy::Fixed(1000) && len > 64 * 1000 {
                continue;
            }
            let data = payload(len, k as u8);
            let d = w.publish(&data, ContentType::Raw).unwrap();
            let g = r.pin();
            let b = g.open(d).unwrap();
            assert_eq!(b.len(), len);
            let chunk_len = b.header().chunk_len as usize;
            assert_eq!(
                b.chunk_count(),
                len.div_ceil(chunk_len),
                "len {len} {strategy:?}"
            );
            let mut out = vec![1, 2, 3];
            b.reassemble_into(&mut out);
            assert_eq!(out, data, "len {len} {strategy:?}");
            let joined: Vec<u8> = b.chunks().flatten().copied().collect();
            assert_eq!(joined, data);
            let mut exact = vec![0; len];
            b.copy_to(&mut exact).unwrap();
            assert_eq!(exact, data);
            assert!(matches!(
                b.copy_to(&mut [0u8; 3]),
                Err(BlobError::LengthMismatch { .. }) | Ok(())
            ));
            if b.chunk_count() <= 1 {
                assert_eq!(b.as_contiguous().unwrap(), &data[..]);
            } else {
                assert!(b.as_contiguous().is_none());
            }
            b.verify().unwrap();
            drop(g);
            assert!(w.retire(d));
        }
        w.reclaim();
        assert_eq!(w.store().chunks_in_use(), 0, "{strategy:?}");
        assert_eq!(w.store().blobs_in_use(), 0);
    }
}

#[test]
fn adaptive_avoids_tiny_tail() {
    let (mut w, mut r) = pair(cfg(8), ChunkStrategy::Adaptive, false);
    let d = w
        .publish(&payload(CHUNK as usize + 1, 0), ContentType::Raw)
        .unwrap();
    let g = r.pin();
    let b = g.open(d).unwrap();
    let lens: Vec<usize> = b.chunks().map(<[u8]>::len).collect();
    assert_eq!(lens.len(), 2);
    assert!(lens[1] * 2 > lens[0], "tail chunk not tiny: {lens:?}");
}

#[test]
fn too_many_chunks_is_an_error() {
    let (mut w, _r) = pair(cfg(128), ChunkStrategy::Fixed(CHUNK), false);
    let e = w
        .publish(&payload(64 * CHUNK as usize + 1, 0), ContentType::Raw)
        .unwrap_err();
    assert!(matches!(e, BlobError::TooLarge { .. }), "{e}");
    assert_eq!(w.store().chunks_in_use(), 0);
}

#[test]
fn content_types_are_detected() {
    let (mut w, mut r) = pair(cfg(8), ChunkStrategy::Fixed(CHUNK), false);
    for ct in [
        ContentType::Raw,
        ContentType::Image,
        ContentType::PointCloud,
        ContentType::LaserScan,
        ContentType::Custom(77),
    ] {
        let d = w.publish(b"abc", ct).unwrap();
        let g = r.pin();
        assert_eq!(g.open(d).unwrap().content_type(), ct);
    }
}

#[test]
fn stale_and_bogus_descriptors_are_rejected() {
    let (mut w, mut r) = pair(cfg(8), ChunkStrategy::Fixed(CHUNK), false);
    let d = w.publish(b"hello", ContentType::Raw).unwrap();
    let g = r.pin();
    let stale = BlobDesc {
        seq: d.seq.wrapping_add(5),
        ..d
    };
    assert!(matches!(g.open(stale), Err(BlobError::Stale { .. })));
    assert!(matches!(
        g.open(BlobDesc {
            table: 9999,
            seq: 1
        }),
        Err(BlobError::BadTable(9999))
    ));
    assert!(matches!(
        g.open(BlobDesc { table: 5, seq: 1 }),
        Err(BlobError::BadTable(5))
    ));
    assert!(g.open(BlobDesc::from_u64(d.to_u64())).is_ok());
}

#[test]
fn pinned_reader_holds_blob_until_it_moves_on() {
    let (mut w, mut r) = pair(cfg(8), ChunkStrategy::Fixed(CHUNK), true);
    let data = payload(3 * CHUNK as usize, 9);
    let d = w.publish(&data, ContentType::Image).unwrap();
    let g = r.pin();
    let b = g.open(d).unwrap();
    w.retire(d);
    assert_eq!(w.reclaim(), 0, "reader still pinned");
    assert_eq!(w.store().chunks_in_use(), 3);
    // The writer keeps publishing; the loaned chunks are never reused.
    let other = w
        .publish(&payload(5 * CHUNK as usize, 1), ContentType::Raw)
        .unwrap();
    let e = w
        .publish(&payload(CHUNK as usize, 2), ContentType::Raw)
        .unwrap_err();
    assert!(matches!(e, BlobError::Exhausted { .. }), "{e}");
    assert_eq!(w.stats().exhausted, 1);
    let mut out = Vec::new();
    b.reassemble_into(&mut out);
    assert_eq!(out, data, "loaned blob intact under back-pressure");
    b.verify().unwrap();
    drop(g);
    assert_eq!(w.reclaim(), 1);
    assert_eq!(w.store().chunks_in_use(), 5);
    w.retire(other);
    // A reader that pinned after the retirement does not hold it back.
    let _g = r.pin();
    assert_eq!(w.reclaim(), 1);
    let s = w.stats();
    assert_eq!((s.published, s.retired, s.freed, s.pending), (2, 2, 2, 0));
}

#[test]
fn corrupted_payload_fails_checksum() {
    let (mut w, mut r) = pair(cfg(8), ChunkStrategy::Fixed(CHUNK), true);
    let d = w.publish(&payload(100, 3), ContentType::Raw).unwrap();
    // Find the chunk and flip a byte through the writer's region.
    let region = w.store().region().clone();
    let off = {
        let g = r.pin();
        let b = g.open(d).unwrap();
        let first = b.chunks().next().unwrap().as_ptr() as usize;
        first - region.base_ptr() as usize
    };
    // SAFETY: test only; no reader holds a view of these bytes right now.
    let bytes = unsafe { region.bytes_mut(off, 1) }.unwrap();
    bytes[0] ^= 0xFF;
    let g = r.pin();
    assert!(matches!(g.open(d), Err(BlobError::ChecksumMismatch { .. })));
}

#[test]
fn reader_slots_are_limited_and_returned() {
    let c = cfg(8);
    let reg = region(c.required_bytes().unwrap());
    let off = reg.payload_offset();
    let _w = BlobStore::create_in(&reg, off, c).unwrap();
    let readers: Vec<_> = (0..4)
        .map(|_| BlobReader::new(BlobStore::open_in(&reg, off).unwrap(), false).unwrap())
        .collect();
    let e = BlobReader::new(BlobStore::open_in(&reg, off).unwrap(), false)
        .err()
        .unwrap();
    assert_eq!(e, BlobError::NoReaderSlot(4));
    drop(readers);
    assert!(BlobReader::new(BlobStore::open_in(&reg, off).unwrap(), false).is_ok());
}
