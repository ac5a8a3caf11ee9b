//! One generic region + pool test suite, run on every backend (Heap, Shm,
//! File); plus listing/cleaning and readiness behaviour.
//!
//! This binary uses its own `RENOIR_SHM_PREFIX` (pid-based), and every test
//! checks that nothing with its names is left in the shm directory.

use renoir_core::alloc::{BufferPool, BufferPoolConfig, Pool, SizeClass, Wait};
use renoir_core::platform::{shm, ProcessIdentity};
use renoir_core::region::{
    self, Access, Backend, BoundsError, OpenError, Region, RegionConfig, RegionState,
};
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

fn setup() -> String {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("RENOIR_SHM_PREFIX", format!("rst{}", std::process::id()));
    });
    shm::prefix()
}

/// The File backend's directory for test `tag` (removed by `assert_clean`).
fn file_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("renoir_suite_{}_{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn backends(tag: &str) -> Vec<Backend> {
    vec![Backend::Heap, Backend::Shm, Backend::File(file_dir(tag))]
}

/// Files of this test (`<prefix>_<tag>*`) left in `dir`.
fn leftovers(dir: &std::path::Path, tag: &str) -> Vec<String> {
    let start = format!("{}_{tag}", setup());
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&start))
        .collect()
}

fn assert_clean(tag: &str) {
    assert_eq!(leftovers(&shm::shm_dir(), tag), Vec::<String>::new());
    let dir = file_dir(tag);
    assert_eq!(leftovers(&dir, tag), Vec::<String>::new());
    std::fs::remove_dir(&dir).unwrap();
}

fn suite_roundtrip(b: Backend, tag: &str) {
    let name = format!("{tag}_{}", backend_tag(&b));
    let cfg = RegionConfig::new(&name, 3000)
        .backend(b.clone())
        .description("suite")
        .version("2.0.1")
        .annotate("topic", "/chatter");
    let r = Region::create(&cfg).unwrap();
    assert!(r.payload_len() >= 3000);
    assert_eq!(r.header_snapshot().total_size as usize, r.len());
    assert_eq!(r.header().creator(), ProcessIdentity::current());
    let p = r.payload_offset();
    // SAFETY: this test owns the fresh region.
    unsafe { r.bytes_mut(p, 5).unwrap() }.copy_from_slice(b"hello");
    let ro = Region::open(&name, b.clone(), Access::ReadOnly).unwrap();
    let rw = Region::open(&name, b.clone(), Access::ReadWrite).unwrap();
    assert_eq!(ro.bytes(p, 5).unwrap(), b"hello");
    // SAFETY: only this thread touches these bytes.
    let w = unsafe { rw.bytes_mut(p + 5, 1).unwrap() };
    w[0] = b'!';
    assert_eq!(ro.bytes(p, 6).unwrap(), b"hello!");
    // SAFETY: read-only handle: refused before any access.
    assert_eq!(
        unsafe { ro.bytes_mut(p, 1) }.unwrap_err(),
        BoundsError::ReadOnly
    );
    let m = ro.metadata().unwrap();
    assert_eq!(
        (m.description.as_str(), m.version.as_str()),
        ("suite", "2.0.1")
    );
    assert_eq!(m.annotation("topic"), Some("/chatter"));
    if let Some(path) = ro.path() {
        // The read-only handle's mapping is PROT_READ, shared.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let p = path.to_str().unwrap();
        assert!(
            maps.lines()
                .any(|l| l.ends_with(p) && l.split_whitespace().nth(1) == Some("r--s")),
            "no r--s mapping of {p}"
        );
    }
    drop((ro, rw, r));
    assert!(matches!(
        Region::open(&name, b.clone(), Access::ReadOnly),
        Err(OpenError::NotFound(_))
    ));
}

fn backend_tag(b: &Backend) -> &'static str {
    match b {
        Backend::Heap => "heap",
        Backend::Shm => "shm",
        Backend::File(_) => "file",
        Backend::Memfd => "memfd",
    }
}

#[test]
fn roundtrip_on_all_backends() {
    setup();
    for b in backends("rt") {
        suite_roundtrip(b, "rt");
    }
    assert_clean("rt");
}

fn suite_pool(b: Backend, tag: &str) {
    let name = format!("{tag}_{}", backend_tag(&b));
    let need = Pool::required_bytes(256, 32, 64).unwrap() as usize;
    let r = Arc::new(Region::create(&RegionConfig::new(&name, need).backend(b.clone())).unwrap());
    let off = r.payload_offset();
    let pool = Pool::create_in(&r, off, 200, 32, 8, 64).unwrap();
    assert_eq!(pool.block_size(), 256);
    let other = Arc::new(Region::open(&name, b.clone(), Access::ReadWrite).unwrap());
    let pool2 = Pool::open_in(&other, off).unwrap();
    let mut got = Vec::new();
    while let Some(i) = pool.alloc_tagged(1) {
        got.push(i);
    }
    assert_eq!(got.len(), 32);
    assert_eq!(pool2.stats().in_use, 32);
    // Blocks are disjoint, aligned and inside the region.
    let mut offs: Vec<u64> = got.iter().map(|&i| pool.offset_of(i).unwrap()).collect();
    offs.sort();
    for w in offs.windows(2) {
        assert!(w[1] - w[0] >= 256);
    }
    assert!(offs
        .iter()
        .all(|o| o % 64 == 0 && (*o as usize) + 256 <= r.len()));
    // The other handle frees what this one allocated (cross-handle return).
    for &i in &got {
        pool2.free(i).unwrap();
    }
    assert!(pool.free(got[0]).is_err());
    let a = pool.audit();
    assert_eq!(
        (a.free_listed, a.used, a.leaked, a.corrupt),
        (32, 0, 0, false)
    );
    // Read-only opener can inspect.
    let ro = Arc::new(Region::open(&name, b.clone(), Access::ReadOnly).unwrap());
    assert_eq!(Pool::open_in(&ro, off).unwrap().stats().high_water, 32);
    assert!(Pool::create_in(&ro, off, 64, 1, 0, 64).is_err());
    // Geometry must fit the region.
    assert!(Pool::create_in(&r, off, 1 << 20, 1 << 20, 0, 64).is_err());
    assert!(Pool::create_in(&r, off + 8, 64, 1, 0, 64).is_err());
}

#[test]
fn pools_on_all_backends() {
    setup();
    for b in backends("pool") {
        suite_pool(b, "pool");
    }
    assert_clean("pool");
}

fn suite_buffers(b: Backend, tag: &str) {
    let name = format!("{tag}_{}", backend_tag(&b));
    let cfg = BufferPoolConfig::new(vec![
        SizeClass {
            size: 100,
            capacity: 8,
            prealloc: 4,
        },
        SizeClass {
            size: 4000,
            capacity: 2,
            prealloc: 1,
        },
    ]);
    let need = cfg.required_bytes().unwrap() as usize;
    let r = Arc::new(Region::create(&RegionConfig::new(&name, need).backend(b.clone())).unwrap());
    let off = r.payload_offset();
    let bp = BufferPool::create_in(&r, off, &cfg).unwrap().with_owner(3);
    let peer_region = Arc::new(Region::open(&name, b.clone(), Access::ReadWrite).unwrap());
    let peer = BufferPool::open_in(&peer_region, off).unwrap();
    let buf = bp.alloc(3000, Wait::No).unwrap();
    assert_eq!(buf.offset() % 64, 0);
    // SAFETY: `buf` is our exclusive loan.
    unsafe { bp.bytes_mut(&buf).unwrap() }.fill(0xAB);
    let (o, l) = buf.into_raw(); // handed over as (offset, len)
    let rx = peer.receive(o, l).unwrap();
    assert!(peer.bytes(&rx).unwrap().iter().all(|&x| x == 0xAB));
    peer.free(rx).unwrap();
    assert!(peer.free_offset(o).is_err());
    assert_eq!(bp.stats().in_use_bytes, 0);
    // Owner reclaim across handles.
    let held: Vec<_> = (0..5).map(|_| bp.alloc(10, Wait::No).unwrap()).collect();
    assert_eq!(peer.reclaim_owner(3), 5);
    for h in held {
        assert!(bp.free(h).is_err()); // already reclaimed
    }
    assert_eq!(peer.stats().in_use_bytes, 0);
    assert!(BufferPool::open_in(&peer_region, off + 64).is_err());
}

#[test]
fn buffer_pools_on_all_backends() {
    setup();
    for b in backends("bp") {
        suite_buffers(b, "bp");
    }
    assert_clean("bp");
}

#[test]
fn list_and_clean_see_owner_liveness() {
    let prefix = setup();
    let r = Region::create(&RegionConfig::new("ls_alive", 100).description("alive one")).unwrap();
    let infos = region::list(&prefix);
    let me = infos
        .iter()
        .find(|i| i.file_name == format!("{prefix}_ls_alive"))
        .unwrap();
    assert_eq!(me.state, RegionState::Ready);
    assert_eq!(me.creator, Some(ProcessIdentity::current()));
    assert!(me.creator_alive);
    assert_eq!(me.mode, 0o600);
    assert_eq!(me.metadata.as_ref().unwrap().description, "alive one");
    let report = region::clean(&format!("{prefix}_ls"), false).unwrap();
    assert!(report.removed.is_empty());
    assert!(r.path().unwrap().exists());
    drop(r);
    assert_clean("ls_");
}

#[test]
fn open_waits_for_ready_then_errors() {
    setup();
    // A file that exists but was never initialized (creator died right after
    // O_EXCL): open must give up after the wait, not hang or crash.
    let path = shm::shm_dir().join(shm::file_name("nr_empty"));
    let f = shm::create_exclusive(&path, 0o600).unwrap();
    let t0 = std::time::Instant::now();
    let e = Region::open_timeout(
        "nr_empty",
        Backend::Shm,
        Access::ReadOnly,
        Duration::from_millis(50),
    )
    .unwrap_err();
    assert!(matches!(e, OpenError::NotReady { .. }), "{e}");
    assert!(t0.elapsed() >= Duration::from_millis(50));
    // Sized but header not ready.
    f.set_len(8192).unwrap();
    let e = Region::open_timeout(
        "nr_empty",
        Backend::Shm,
        Access::ReadOnly,
        Duration::from_millis(20),
    )
    .unwrap_err();
    assert!(matches!(e, OpenError::NotReady { .. }), "{e}");
    let prefix = shm::prefix();
    let info = region::list(&prefix)
        .into_iter()
        .find(|i| i.file_name.ends_with("nr_empty"))
        .unwrap();
    assert_eq!(info.state, RegionState::NotReady);
    assert!(
        !info.reclaimable(Duration::from_secs(30)),
        "young unidentified file kept"
    );
    assert!(info.reclaimable(Duration::ZERO));
    // Scoped to this test's names (see the namespace test).
    let scope = format!("{prefix}_nr");
    let report = region::clean_in(&shm::shm_dir(), &scope, false, Duration::ZERO).unwrap();
    assert!(report
        .removed
        .iter()
        .any(|i| i.file_name.ends_with("nr_empty")));
    assert_clean("nr_");
}

#[test]
fn concurrent_creators_exactly_one_wins() {
    setup();
    let hs: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| Region::create(&RegionConfig::new("race_one", 4096)).ok()))
        .collect();
    let winners: Vec<Region> = hs.into_iter().filter_map(|h| h.join().unwrap()).collect();
    assert_eq!(winners.len(), 1);
    drop(winners);
    assert_clean("race_");
}

#[test]
fn drop_does_not_unlink_a_replaced_file() {
    setup();
    let a = Region::create(&RegionConfig::new("repl_x", 64)).unwrap();
    // Someone (e.g. an over-eager `clean`) removed the name and another
    // creator reused it.
    assert!(region::unlink("repl_x", &Backend::Shm).unwrap());
    let b = Region::create(&RegionConfig::new("repl_x", 64)).unwrap();
    drop(a); // must not remove b's file
    assert!(b.path().unwrap().exists());
    drop(b);
    assert_clean("repl_");
}

#[test]
fn creator_in_another_pid_namespace_is_never_judged_dead() {
    use std::os::unix::fs::FileExt;
    let prefix = setup();
    let r = Region::create(&RegionConfig::new("ns_foreign", 64)).unwrap();
    let path = r.path().unwrap().to_path_buf();
    r.abandon();
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let gone = c.id();
    c.wait().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&gone.to_ne_bytes(), 24).unwrap(); // creator pid: exited
    f.write_all_at(&1u64.to_ne_bytes(), 80).unwrap(); // another pid namespace
    let find = || {
        region::list(&prefix)
            .into_iter()
            .find(|i| i.file_name.ends_with("ns_foreign"))
            .unwrap()
    };
    let info = find();
    assert!(!info.liveness_known && !info.creator_alive);
    assert!(!info.reclaimable(Duration::ZERO));
    // Scoped to this test's names: tests of this binary run in parallel and a
    // zero grace would take their regions mid-creation.
    let scope = format!("{prefix}_ns");
    region::clean_in(&shm::shm_dir(), &scope, false, Duration::ZERO).unwrap();
    assert!(
        path.exists(),
        "a foreign-namespace region must not be cleaned"
    );
    // Same namespace again: now the dead pid counts.
    let ns = renoir_core::platform::process::pid_namespace();
    f.write_all_at(&ns.to_ne_bytes(), 80).unwrap();
    let info = find();
    assert!(
        info.liveness_known && !info.creator_alive && info.reclaimable(Duration::from_secs(3600))
    );
    region::clean(&scope, false).unwrap();
    assert!(!path.exists());
    assert_clean("ns_");
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Region>();
    check::<Pool>();
    check::<BufferPool>();
    check::<renoir_core::alloc::BumpAllocator>();
}
