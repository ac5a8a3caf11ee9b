//! Unit tests of region create/open/accessors on the Heap and Shm backends.
//! Each test uses its own logical name; the shm tests run with the default
//! prefix, so names carry the test pid to stay unique across runs.

use super::*;

fn uniq(tag: &str) -> String {
    static N: crate::sync::atomic::AtomicU32 = crate::sync::atomic::AtomicU32::new(0);
    format!(
        "ut{}_{}_{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Nothing named `<prefix>_ut<pid>_<tag>*` is left in the shm directory.
fn assert_no_leftovers(tag: &str) {
    let start = shm::file_name(&format!("ut{}_{tag}", std::process::id()));
    let left: Vec<String> = std::fs::read_dir(shm::shm_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&start))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

fn backends() -> Vec<Backend> {
    vec![Backend::Heap, Backend::Shm]
}

#[test]
fn create_open_roundtrip_on_each_backend() {
    for b in backends() {
        let name = uniq("rt");
        let cfg = RegionConfig::new(&name, 10_000)
            .backend(b.clone())
            .description("test region")
            .version("1.2.3")
            .annotate("k", "v");
        let r = Region::create(&cfg).unwrap();
        assert!(r.payload_len() >= 10_000);
        assert_eq!(r.payload_offset() % PAYLOAD_ALIGN, 0);
        assert_eq!(r.len() % shm::page_size(), 0);
        assert_eq!(r.creator(), ProcessIdentity::current());
        assert!(r.header().is_ready());
        let off = r.payload_offset();
        // SAFETY: fresh region, this test is the only user of the range.
        unsafe { r.bytes_mut(off, 4).unwrap() }.copy_from_slice(&[1, 2, 3, 4]);

        let o = Region::open(&name, b.clone(), Access::ReadOnly).unwrap();
        assert_eq!(o.len(), r.len());
        assert_eq!(o.payload_offset(), off);
        assert_eq!(o.bytes(off, 4).unwrap(), &[1, 2, 3, 4]);
        let m = o.metadata().unwrap();
        assert_eq!(m.description, "test region");
        assert_eq!(m.version, "1.2.3");
        assert_eq!(m.annotation("k"), Some("v"));
        assert!(!o.is_creator());
        // SAFETY: a read-only handle refuses before touching memory.
        assert_eq!(
            unsafe { o.bytes_mut(off, 4) }.unwrap_err(),
            BoundsError::ReadOnly
        );

        assert!(matches!(
            Region::create(&cfg),
            Err(CreateError::AlreadyExists(_))
        ));
        drop(o);
        drop(r);
        assert!(matches!(
            Region::open(&name, b.clone(), Access::ReadOnly),
            Err(OpenError::NotFound(_))
        ));
    }
    assert_no_leftovers("rt");
}

#[test]
fn accessors_check_bounds_and_alignment() {
    for b in backends() {
        let r = Region::create(&RegionConfig::new(uniq("acc"), 256).backend(b)).unwrap();
        let p = r.payload_offset();
        let end = r.len();
        assert!(r.get::<u64>(p).is_ok());
        assert!(matches!(
            r.get::<u64>(p + 4),
            Err(BoundsError::Misaligned { .. })
        ));
        assert!(matches!(
            r.get::<u64>(0),
            Err(BoundsError::OutOfBounds { .. })
        ));
        assert!(matches!(
            r.get::<u64>(end - 4),
            Err(BoundsError::OutOfBounds { .. })
        ));
        assert!(r.get::<u64>(end - 8).is_ok());
        assert!(matches!(
            r.get::<u8>(usize::MAX),
            Err(BoundsError::OutOfBounds { .. })
        ));
        assert!(matches!(
            r.bytes(usize::MAX, 2),
            Err(BoundsError::OutOfBounds { .. })
        ));
        assert!(matches!(
            r.get_slice::<u64>(p, usize::MAX / 4),
            Err(BoundsError::OutOfBounds { .. })
        ));
        assert_eq!(
            r.get_slice::<u32>(p, (end - p) / 4).unwrap().len(),
            (end - p) / 4
        );
        assert!(r.get_slice::<u32>(p, (end - p) / 4 + 1).is_err());
        assert_eq!(r.bytes(end, 0).unwrap().len(), 0);
        // header is not reachable through the payload accessors
        assert!(r.bytes(0, 8).is_err());
        let a = r.get::<crate::sync::atomic::AtomicU32>(p).unwrap();
        a.store(7, Ordering::Relaxed);
        assert_eq!(r.get::<u32>(p).unwrap(), &7);
    }
    assert_no_leftovers("acc");
}

#[test]
fn abandon_leaves_region_behind_and_unlink_on_drop_false_too() {
    for b in backends() {
        let name = uniq("ab");
        let r = Region::create(&RegionConfig::new(&name, 64).backend(b.clone())).unwrap();
        r.abandon();
        let o = Region::open(&name, b.clone(), Access::ReadWrite).unwrap();
        assert_eq!(o.creator(), ProcessIdentity::current());
        drop(o); // an opener never unlinks
        assert!(unlink(&name, &b).unwrap());
        assert!(!unlink(&name, &b).unwrap());

        let r = Region::create(&RegionConfig::new(&name, 64).backend(b.clone())).unwrap();
        r.unlink_on_drop(false);
        drop(r);
        assert!(unlink(&name, &b).unwrap());
    }
    assert_no_leftovers("ab");
}

#[test]
fn invalid_configs_are_rejected() {
    for bad in ["", "a/b", "../x", ".x", "white space"] {
        assert!(matches!(
            Region::create(&RegionConfig::new(bad, 64).backend(Backend::Heap)),
            Err(CreateError::InvalidName { .. })
        ));
        assert!(matches!(
            Region::open(bad, Backend::Heap, Access::ReadOnly),
            Err(OpenError::InvalidName { .. })
        ));
    }
    let n = uniq("cfg");
    assert!(matches!(
        Region::create(&RegionConfig::new(&n, 0).backend(Backend::Heap)),
        Err(CreateError::InvalidConfig(_))
    ));
    assert!(matches!(
        Region::create(&RegionConfig::new(&n, 8).backend(Backend::Heap).mode(0o4600)),
        Err(CreateError::InvalidConfig(_))
    ));
    assert!(matches!(
        Region::create(
            &RegionConfig::new(&n, 8)
                .backend(Backend::Heap)
                .version("one")
        ),
        Err(CreateError::Metadata(_))
    ));
    assert!(matches!(
        Region::create(&RegionConfig::new(&n, usize::MAX).backend(Backend::Heap)),
        Err(CreateError::TooLarge { .. })
    ));
}

#[test]
fn memfd_region_is_opened_by_proc_path() {
    let r = Region::create(&RegionConfig::new(uniq("mfd"), 4096).backend(Backend::Memfd)).unwrap();
    let path = r.memfd_path().unwrap().to_str().unwrap().to_string();
    assert!(path.starts_with("/proc/"));
    let off = r.payload_offset();
    // SAFETY: fresh region owned by this test.
    unsafe { r.bytes_mut(off, 3).unwrap() }.copy_from_slice(b"abc");
    let o = Region::open(&path, Backend::Memfd, Access::ReadOnly).unwrap();
    assert_eq!(o.bytes(off, 3).unwrap(), b"abc");
    assert!(matches!(
        Region::open("plainname", Backend::Memfd, Access::ReadOnly),
        Err(OpenError::InvalidName { .. })
    ));
    assert_no_leftovers("mfd");
}

#[test]
fn shm_file_has_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let r = Region::create(&RegionConfig::new(uniq("mode"), 64)).unwrap();
    let mode = std::fs::metadata(r.path().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(r);
    assert_no_leftovers("mode");
}
