//! Corrupted headers, metadata and pool layouts: random bytes written into a
//! region's file must give errors (or, where the bytes did not matter, a
//! still-valid region), never a panic or an out-of-bounds access.

use proptest::prelude::*;
use renoir_core::alloc::{BufferPool, BufferPoolConfig, Pool, SizeClass};
use renoir_core::platform::shm;
use renoir_core::region::{
    self, Access, Backend, HeaderSnapshot, Metadata, OpenError, Region, RegionConfig, RegionState,
    HEADER_SIZE,
};
use std::os::unix::fs::FileExt;
use std::process::Command;
use std::sync::{Arc, Once};
use std::time::Duration;

fn setup() -> String {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("RENOIR_SHM_PREFIX", format!("rco{}", std::process::id()));
    });
    shm::prefix()
}

fn assert_clean(tag: &str) {
    let start = format!("{}_{tag}", setup());
    let left: Vec<String> = std::fs::read_dir(shm::shm_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&start))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// A valid region file, left in place (creator handle abandoned).
fn make(name: &str) -> std::path::PathBuf {
    let r = Region::create(
        &RegionConfig::new(name, 4096)
            .description("victim")
            .annotate("a", "b"),
    )
    .unwrap();
    let p = r.path().unwrap().to_path_buf();
    r.abandon();
    p
}

fn scribble(path: &std::path::Path, at: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_in_header_or_metadata_never_panic(
        at in 0u64..(HEADER_SIZE as u64 + 160),
        bytes in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        setup();
        let name = format!("cp_{}", std::process::id());
        let path = make(&name);
        scribble(&path, at, &bytes);
        match Region::open_timeout(&name, Backend::Shm, Access::ReadOnly, Duration::from_millis(5)) {
            Ok(r) => {
                // Whatever is still accepted must be self-consistent.
                prop_assert!(r.payload_offset() <= r.len());
                let _ = r.metadata();
                let _ = r.bytes(r.payload_offset(), r.payload_len());
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        // `ls` on the same file must not panic either.
        let _ = region::list(&shm::prefix());
        std::fs::remove_file(&path).unwrap();
        assert_clean("cp_");
    }

    #[test]
    fn header_decode_and_validate_total(bytes in proptest::collection::vec(any::<u8>(), 0..300), len in any::<u64>()) {
        if let Some(h) = HeaderSnapshot::from_bytes(&bytes) {
            if h.validate(len).is_ok() {
                prop_assert!(h.payload_offset <= h.total_size);
                prop_assert!(h.meta_offset + h.meta_len <= h.payload_offset);
            }
        } else {
            prop_assert!(bytes.len() < HEADER_SIZE);
        }
    }

    #[test]
    fn metadata_decode_total(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Metadata::decode(&bytes);
    }

    #[test]
    fn random_pool_layout_is_rejected_or_safe(
        words in proptest::collection::vec(any::<u64>(), 16..80),
    ) {
        // Random control words where a pool header should be.
        let r = Arc::new(Region::create(&RegionConfig::new(format!("cpool_{}", rand_tag()), 8192).backend(Backend::Heap)).unwrap());
        let off = r.payload_offset();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let n = bytes.len().min(r.payload_len());
        // SAFETY: this test is the region's only user.
        unsafe { r.bytes_mut(off, n).unwrap() }.copy_from_slice(&bytes[..n]);
        if let Ok(p) = Pool::open_in(&r, off) {
            // Every operation stays in bounds and terminates.
            for _ in 0..4 {
                if let Some(i) = p.alloc() {
                    prop_assert!(i < p.capacity());
                    let o = p.offset_of(i).unwrap() as usize;
                    prop_assert!(o + p.block_size() as usize <= r.len());
                }
            }
            let _ = p.free(words[0] as u32);
            let _ = p.audit();
        }
        let _ = BufferPool::open_in(&r, off);
    }
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[test]
fn specific_corruptions_give_specific_errors() {
    setup();
    let cases: [(&str, u64, &[u8]); 5] = [
        ("cs_magic", 0, b"XXXXXXXX"),
        ("cs_version", 8, &[9, 0, 0, 0]),
        ("cs_size", 16, &[1, 0, 0, 0, 0, 0, 0, 0]),
        ("cs_metalen", 56, &[0xff; 8]),
        ("cs_payload", 64, &[0x41, 0, 0, 0, 0, 0, 0, 0]),
    ];
    for (name, at, bytes) in cases {
        let path = make(name);
        scribble(&path, at, bytes);
        let e = Region::open(name, Backend::Shm, Access::ReadOnly).unwrap_err();
        assert!(matches!(e, OpenError::Header { .. }), "{name}: {e}");
        let info = region::list(&shm::prefix())
            .into_iter()
            .find(|i| i.file_name.ends_with(name))
            .unwrap();
        assert!(
            matches!(info.state, RegionState::Corrupt(_)),
            "{name}: {:?}",
            info.state
        );
        std::fs::remove_file(&path).unwrap();
    }
    // Metadata corrupt but header fine: open works, metadata() errors.
    let path = make("cs_meta");
    scribble(&path, HEADER_SIZE as u64, &[0xff, 0xfe, 0xfd]);
    let r = Region::open("cs_meta", Backend::Shm, Access::ReadOnly).unwrap();
    assert!(r.metadata().is_err());
    drop(r);
    std::fs::remove_file(&path).unwrap();
    // Truncated file (shorter than its header says).
    let path = make("cs_trunc");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    assert!(matches!(
        Region::open("cs_trunc", Backend::Shm, Access::ReadOnly),
        Err(OpenError::Header { .. })
    ));
    std::fs::remove_file(&path).unwrap();
    // Pool whose geometry points outside the region.
    let r = Arc::new(Region::create(&RegionConfig::new("cs_pool", 65536)).unwrap());
    let off = r.payload_offset();
    let cfg = BufferPoolConfig::new(vec![SizeClass {
        size: 64,
        capacity: 4,
        prealloc: 4,
    }]);
    BufferPool::create_in(&r, off, &cfg).unwrap();
    let pool_off = off + 64 + 32 * 16;
    // data_offset lives at byte 16 of the pool header.
    // SAFETY: this test is the only user of the region.
    unsafe { r.bytes_mut(pool_off + 16, 8).unwrap() }.copy_from_slice(&(1u64 << 40).to_ne_bytes());
    assert!(Pool::open_in(&r, pool_off).is_err());
    assert!(BufferPool::open_in(&r, off).is_err());
    drop(r);
    assert_clean("cs_");
}

#[test]
fn fifo_or_symlink_under_a_region_name_is_refused_without_blocking() {
    let prefix = setup();
    let dir = shm::shm_dir();
    let fifo = dir.join(format!("{prefix}_cf_fifo"));
    let link = dir.join(format!("{prefix}_cf_link"));
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    for name in ["cf_fifo", "cf_link"] {
        let e = Region::open(name, Backend::Shm, Access::ReadOnly).unwrap_err();
        assert!(matches!(e, OpenError::Io { .. }), "{name}: {e}");
    }
    let infos = region::list(&prefix);
    for name in ["cf_fifo", "cf_link"] {
        let i = infos.iter().find(|i| i.file_name.ends_with(name)).unwrap();
        assert!(
            matches!(i.state, RegionState::Corrupt(_)),
            "{name}: {:?}",
            i.state
        );
    }
    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_file(&link).unwrap();
    assert!(std::path::Path::new("/etc/passwd").exists());
    assert_clean("cf_");
}
