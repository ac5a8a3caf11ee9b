//! Real child processes (this test binary re-executed with
//! `RENOIR_MP_ROLE` set) allocate from a shared buffer pool and hand the
//! buffers back by offset; a child killed with SIGKILL leaves blocks that the
//! parent reclaims by owner tag; an orphaned region of a dead creator is
//! removed by `clean`; and two processes stress one lock-free pool.

use renoir_core::alloc::{BufferPool, BufferPoolConfig, Pool, SizeClass, Wait};
use renoir_core::platform::{shm, ProcessIdentity};
use renoir_core::region::{self, Access, Backend, Region, RegionConfig, RegionState};
use renoir_core::sync::atomic::{AtomicU32, Ordering};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};

const ROLE: &str = "RENOIR_MP_ROLE";

fn setup() -> String {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RENOIR_SHM_PREFIX").is_none() || std::env::var_os(ROLE).is_none() {
            std::env::set_var("RENOIR_SHM_PREFIX", format!("rmp{}", std::process::id()));
        }
    });
    shm::prefix()
}

fn cfg() -> BufferPoolConfig {
    BufferPoolConfig::new(vec![
        SizeClass {
            size: 256,
            capacity: 16,
            prealloc: 8,
        },
        SizeClass {
            size: 4096,
            capacity: 4,
            prealloc: 0,
        },
    ])
}

fn spawn(role: &str, region: &str) -> Child {
    spawn_tagged(role, region, 0)
}

fn spawn_tagged(role: &str, region: &str, tag: u32) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("RENOIR_MP_TAG", tag.to_string())
        .args([
            "--exact",
            "child_main",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env("RENOIR_MP_REGION", region)
        .env("RENOIR_SHM_PREFIX", setup())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lines the child printed with the `MP:` marker, until it prints `MP:END`
/// or closes stdout.
fn read_until_end(child: &mut Child) -> Vec<String> {
    let out = child.stdout.as_mut().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        // libtest may print "test child_main ... " right before our first
        // line, on the same line.
        if let Some(rest) = line.find("MP:").map(|i| &line[i + 3..]) {
            if rest == "END" {
                break;
            }
            lines.push(rest.to_string());
        }
    }
    lines
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

/// Entry point of the child processes; does nothing in a normal run.
#[test]
#[ignore = "helper: run by the multi-process tests in a child process"]
fn child_main() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    setup();
    let name = std::env::var("RENOIR_MP_REGION").unwrap();
    let say = |s: String| println!("MP:{s}");
    match role.as_str() {
        "alloc" | "die" => {
            let r = Arc::new(Region::open(&name, Backend::Shm, Access::ReadWrite).unwrap());
            let owner = if role == "alloc" { 7 } else { 9 };
            let bp = BufferPool::open_in(&r, r.payload_offset())
                .unwrap()
                .with_owner(owner);
            for (k, len) in [100usize, 200, 1000, 2000, 3000].into_iter().enumerate() {
                let k = k as u8;
                let b = bp.alloc(len, Wait::No).unwrap();
                // SAFETY: `b` is this process's exclusive loan.
                unsafe { bp.bytes_mut(&b).unwrap() }.fill(k + 1);
                // Ownership moves to the parent.
                let (offset, len) = b.into_raw();
                say(format!("BUF {offset} {len}"));
            }
            say(format!("PID {}", std::process::id()));
            say("END".into());
            if role == "die" {
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
        }
        "orphan" => {
            let r = Region::create(&RegionConfig::new(&name, 1000).description("orphan")).unwrap();
            r.abandon(); // exit without cleanup, like a crash
            say("END".into());
        }
        "stress" => {
            let r = Arc::new(Region::open(&name, Backend::Shm, Access::ReadWrite).unwrap());
            let pool = Pool::open_in(&r, r.payload_offset()).unwrap();
            let me = std::process::id();
            let mut n = 0u32;
            for _ in 0..300_000 {
                if let Some(i) = pool.alloc_tagged(me & 0xffff) {
                    let word: &AtomicU32 = r.get(pool.offset_of(i).unwrap() as usize).unwrap();
                    let prev = word.swap(me, Ordering::AcqRel);
                    assert_eq!(prev, 0, "block {i} also held by pid {prev}");
                    word.store(0, Ordering::Release);
                    pool.free(i).unwrap();
                    n += 1;
                }
            }
            say(format!("DONE {n}"));
            say("END".into());
        }
        "churn" => {
            // Allocate and free forever until SIGKILLed at a random point.
            let r = Arc::new(Region::open(&name, Backend::Shm, Access::ReadWrite).unwrap());
            let pool = Pool::open_in(&r, r.payload_offset()).unwrap();
            let tag: u32 = std::env::var("RENOIR_MP_TAG").unwrap().parse().unwrap();
            say("READY".into());
            say("END".into());
            let mut held = Vec::new();
            loop {
                for _ in 0..3 {
                    if let Some(i) = pool.alloc_tagged(tag) {
                        held.push(i);
                    }
                }
                for i in held.drain(..) {
                    pool.free_owned(i, tag).unwrap();
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn child_allocates_parent_receives_and_frees() {
    setup();
    let need = cfg().required_bytes().unwrap() as usize;
    let r = Arc::new(Region::create(&RegionConfig::new("mpa", need)).unwrap());
    let bp = BufferPool::create_in(&r, r.payload_offset(), &cfg()).unwrap();
    let mut child = spawn("alloc", "mpa");
    let lines = read_until_end(&mut child);
    assert!(child.wait().unwrap().success());
    let bufs: Vec<(u64, usize)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("BUF "))
        .map(|l| {
            let mut it = l.split(' ');
            (
                it.next().unwrap().parse().unwrap(),
                it.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(bufs.len(), 5);
    assert_eq!(bp.stats().in_use_bytes, 2 * 256 + 3 * 4096);
    for (k, (off, len)) in bufs.into_iter().enumerate() {
        let b = bp.receive(off, len).unwrap();
        assert_eq!(bp.pool(b.class()).unwrap().owner_of(b.index()), Some(7));
        assert!(bp.bytes(&b).unwrap().iter().all(|&x| x == k as u8 + 1));
        bp.free(b).unwrap();
    }
    assert_eq!(bp.stats().in_use_bytes, 0);
    drop((bp, r));
    assert_clean("mpa");
}

#[test]
fn blocks_of_a_killed_child_are_reclaimed() {
    setup();
    let need = cfg().required_bytes().unwrap() as usize;
    let r = Arc::new(Region::create(&RegionConfig::new("mpk", need)).unwrap());
    let bp = BufferPool::create_in(&r, r.payload_offset(), &cfg()).unwrap();
    let mut child = spawn("die", "mpk");
    let lines = read_until_end(&mut child);
    let pid: u32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("PID "))
        .unwrap()
        .parse()
        .unwrap();
    let id = ProcessIdentity::of_pid(pid).expect("child alive before kill");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!id.is_alive());
    assert_eq!(bp.stats().classes.iter().map(|c| c.in_use).sum::<u32>(), 5);
    assert_eq!(bp.reclaim_owner(9), 5);
    assert_eq!(bp.stats().in_use_bytes, 0);
    for c in 0..bp.class_count() {
        let a = bp.pool(c).unwrap().audit();
        assert_eq!((a.used, a.leaked, a.corrupt), (0, 0, false));
    }
    drop((bp, r));
    assert_clean("mpk");
}

#[test]
fn orphan_region_of_dead_creator_is_cleaned() {
    let prefix = setup();
    let mut child = spawn("orphan", "mpo_orphan");
    read_until_end(&mut child);
    assert!(child.wait().unwrap().success());
    let info = region::list(&prefix)
        .into_iter()
        .find(|i| i.file_name.ends_with("mpo_orphan"))
        .expect("orphan left behind by the child");
    assert_eq!(info.state, RegionState::Ready);
    assert!(!info.creator_alive);
    assert_eq!(info.metadata.unwrap().description, "orphan");
    let dry = region::clean(&prefix, true).unwrap();
    assert!(dry
        .removed
        .iter()
        .any(|i| i.file_name.ends_with("mpo_orphan")));
    assert!(info.path.exists(), "dry run removes nothing");
    let done = region::clean(&prefix, false).unwrap();
    assert!(done
        .removed
        .iter()
        .any(|i| i.file_name.ends_with("mpo_orphan")));
    assert!(done.errors.is_empty());
    assert_clean("mpo");
}

#[test]
fn two_processes_stress_one_pool() {
    setup();
    let need = Pool::required_bytes(64, 8, 64).unwrap() as usize;
    let r = Arc::new(Region::create(&RegionConfig::new("mps", need)).unwrap());
    let pool = Pool::create_in(&r, r.payload_offset(), 64, 8, 8, 64).unwrap();
    let mut kids: Vec<Child> = (0..2).map(|_| spawn("stress", "mps")).collect();
    let mut total = 0u64;
    for k in &mut kids {
        let lines = read_until_end(k);
        let done: u64 = lines
            .iter()
            .find_map(|l| l.strip_prefix("DONE "))
            .unwrap_or_else(|| panic!("child did not finish: {lines:?}"))
            .parse()
            .unwrap();
        total += done;
    }
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    assert!(total > 0);
    let a = pool.audit();
    assert_eq!(
        (a.free_listed, a.used, a.leaked, a.corrupt),
        (8, 0, 0, false)
    );
    let s = pool.stats();
    assert_eq!(s.in_use, 0);
    assert_eq!(s.allocs, total);
    assert_eq!(s.frees, total);
    drop((pool, r));
    assert_clean("mps");
}

#[test]
fn pool_survives_sigkill_at_random_points() {
    setup();
    let need = Pool::required_bytes(64, 8, 64).unwrap() as usize;
    let r = Arc::new(Region::create(&RegionConfig::new("mpc", need)).unwrap());
    let pool = Pool::create_in(&r, r.payload_offset(), 64, 8, 8, 64).unwrap();
    // Cheap deterministic-per-run pseudo-random delays.
    let mut seed = u64::from(std::process::id()) | 1;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rounds = 12u32;
    let mut reclaimed = 0;
    for round in 0..rounds {
        let tag = round + 1;
        let mut child = spawn_tagged("churn", "mpc", tag);
        let lines = read_until_end(&mut child);
        assert_eq!(lines, vec!["READY".to_string()]);
        std::thread::sleep(std::time::Duration::from_micros(next() % 20_000));
        child.kill().unwrap(); // SIGKILL somewhere inside alloc/free
        child.wait().unwrap();
        reclaimed += pool.reclaim_owner(tag);
        let a = pool.audit();
        assert!(!a.corrupt, "round {round}: free list corrupted: {a:?}");
        assert_eq!(
            a.used, 0,
            "round {round}: blocks of the dead owner left: {a:?}"
        );
        // Each kill can leak at most the one block it interrupted.
        assert!(a.leaked <= round + 1, "round {round}: {a:?}");
    }
    let leaked = pool.audit().leaked;
    assert_eq!(pool.repair(), leaked);
    let a = pool.audit();
    assert_eq!(
        (a.free_listed, a.used, a.leaked, a.corrupt),
        (8, 0, 0, false)
    );
    // Every block is usable again.
    let all: Vec<u32> = (0..8).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(pool.alloc(), None);
    for i in all {
        pool.free(i).unwrap();
    }
    eprintln!(
        "sigkill rounds: {rounds}, blocks reclaimed by tag: {reclaimed}, leaked+repaired: {leaked}"
    );
    drop((pool, r));
    assert_clean("mpc");
}
