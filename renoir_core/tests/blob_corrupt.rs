//! Untrusted headers and chunk tables: random bytes give errors, never
//! panics or out-of-bounds reads.

use proptest::prelude::*;
use renoir_core::blob::header::{BlobHeader, Limits, HEADER_LEN};
use renoir_core::blob::{
    BlobDesc, BlobError, BlobReader, BlobStore, BlobWriter, ChunkStrategy, ContentType,
    ReclaimPolicy, StoreConfig,
};
use renoir_core::region::{Backend, Region, RegionConfig};
use std::sync::atomic::{AtomicU32 as StdCounter, Ordering as StdOrdering};
use std::sync::Arc;

const LIMITS: Limits = Limits {
    max_chunk_len: 4096,
    max_chunks: 64,
};

fn store() -> (BlobWriter, BlobReader, Arc<Region>) {
    static N: StdCounter = StdCounter::new(0);
    let c = StoreConfig {
        chunk_size: 4096,
        chunk_capacity: 32,
        table_capacity: 8,
        max_chunks: 64,
        reader_slots: 2,
    };
    let name = format!(
        "blobcorrupt_{}_{}",
        std::process::id(),
        N.fetch_add(1, StdOrdering::Relaxed)
    );
    let r = Arc::new(
        Region::create(
            &RegionConfig::new(name, c.required_bytes().unwrap() as usize).backend(Backend::Heap),
        )
        .unwrap(),
    );
    let off = r.payload_offset();
    let w = BlobStore::create_in(&r, off, c).unwrap();
    let rd = BlobStore::open_in(&r, off).unwrap();
    (
        BlobWriter::new(
            w,
            ChunkStrategy::Fixed(4096),
            true,
            ReclaimPolicy::default(),
        ),
        BlobReader::new(rd, true).unwrap(),
        r,
    )
}

#[test]
fn bad_magic_version_length_are_errors() {
    let mut b = [0u8; HEADER_LEN];
    let h = BlobHeader::new(ContentType::Image, 10_000, 4096, 1);
    h.encode(&mut b).unwrap();
    assert_eq!(BlobHeader::parse(&b, LIMITS).unwrap(), h);
    let mut m = b;
    m[0] ^= 1;
    assert!(matches!(
        BlobHeader::parse(&m, LIMITS),
        Err(BlobError::BadMagic(_))
    ));
    let mut m = b;
    m[4] = 9;
    assert!(matches!(
        BlobHeader::parse(&m, LIMITS),
        Err(BlobError::BadVersion(9))
    ));
    let mut m = b;
    m[17] ^= 0x40; // total_len no longer matches chunk_count
    assert!(matches!(
        BlobHeader::parse(&m, LIMITS),
        Err(BlobError::BadLength { .. })
    ));
    let mut m = b;
    m[6] = 42;
    assert!(matches!(
        BlobHeader::parse(&m, LIMITS),
        Err(BlobError::BadContentType(42))
    ));
    assert!(matches!(
        BlobHeader::parse(&b[..10], LIMITS),
        Err(BlobError::Truncated { .. })
    ));
    let big = BlobHeader::new(ContentType::Raw, 65 * 4096, 4096, 1);
    big.encode(&mut m).unwrap();
    assert!(matches!(
        BlobHeader::parse(&m, LIMITS),
        Err(BlobError::BadLength { .. })
    ));
}

#[test]
fn corrupt_chunk_index_is_an_error() {
    let (mut w, mut r, region) = store();
    let d = w.publish(&[7u8; 9000], ContentType::Raw).unwrap();
    let toff = table_offset(&mut r, &region, d);
    // SAFETY: test only; nobody reads these bytes concurrently.
    let t = unsafe { region.bytes_mut(toff + HEADER_LEN, 4) }.unwrap();
    t.copy_from_slice(&31u32.to_le_bytes()); // a chunk that is not lent
    assert_eq!(r.pin().open(d).err(), Some(BlobError::BadChunkIndex(31)));
    t.copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        r.pin().open(d).err(),
        Some(BlobError::BadChunkIndex(u32::MAX))
    );
}

fn table_offset(r: &mut BlobReader, region: &Region, d: BlobDesc) -> usize {
    // The header sits in front of the chunk list; find it by scanning for
    // the magic in the table pool area (test helper; layout is documented).
    let g = r.pin();
    let b = g.open(d).unwrap();
    let seq = b.header().seq;
    drop(b);
    let all = region
        .bytes(region.payload_offset(), region.payload_len())
        .unwrap();
    let mut want = [0u8; HEADER_LEN];
    g.open(d).unwrap().header().encode(&mut want).unwrap();
    let pos = all.windows(HEADER_LEN).position(|w| w == want).unwrap();
    assert_eq!(u32::from_le_bytes(want[32..36].try_into().unwrap()), seq);
    region.payload_offset() + pos
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_header_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(h) = BlobHeader::parse(&bytes, LIMITS) {
            prop_assert!(h.chunk_count <= LIMITS.max_chunks);
            prop_assert!(u64::from(h.chunk_count) * u64::from(h.chunk_len) >= h.total_len);
        }
    }

    #[test]
    fn scribbled_table_never_panics(
        writes in proptest::collection::vec((0usize..HEADER_LEN + 64, any::<u8>()), 1..24),
        len in 0usize..20_000,
    ) {
        let (mut w, mut r, region) = store();
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let d = w.publish(&data, ContentType::Raw).unwrap();
        let toff = table_offset(&mut r, &region, d);
        for (at, v) in writes {
            // SAFETY: test only; single-threaded.
            unsafe { region.bytes_mut(toff + at, 1) }.unwrap()[0] = v;
        }
        let g = r.pin();
        if let Ok(b) = g.open(d) {
            let mut out = Vec::new();
            b.reassemble_into(&mut out);
            prop_assert_eq!(out.len(), b.len());
            prop_assert!(b.len() <= 64 * 4096);
        }
    }
}
