//! Property tests: random alloc/free sequences (including bogus frees) on
//! the pools never hand out overlapping blocks, keep bytes of live buffers
//! intact, and keep the statistics consistent with what is really held.

use proptest::prelude::*;
use renoir_core::alloc::{
    AllocError, Buffer, BufferPool, BufferPoolConfig, BumpAllocator, Pool, SizeClass, Wait,
};
use renoir_core::region::{Backend, Region, RegionConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Op {
    Alloc { len: usize, owner: u32 },
    Free(usize),
    BogusFree(u64),
    Reclaim(u32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => (0usize..5000, 0u32..3).prop_map(|(len, owner)| Op::Alloc { len, owner }),
            3 => any::<usize>().prop_map(Op::Free),
            1 => any::<u64>().prop_map(Op::BogusFree),
            1 => (0u32..3).prop_map(Op::Reclaim),
        ],
        1..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn pool_random_ops(cap in 1u32..24, prealloc_frac in 0u32..=4, ops in ops()) {
        let pool = Pool::new(64, cap, cap * prealloc_frac / 4).unwrap();
        // index -> owner
        let mut held: BTreeMap<u32, u32> = BTreeMap::new();
        let mut high = 0usize;
        for op in ops {
            match op {
                Op::Alloc { owner, .. } => match pool.alloc_tagged(owner) {
                    Some(i) => {
                        prop_assert!(i < cap);
                        prop_assert!(held.insert(i, owner).is_none(), "block {} lent twice", i);
                    }
                    None => prop_assert_eq!(held.len(), cap as usize),
                },
                Op::Free(k) if !held.is_empty() => {
                    let i = *held.keys().nth(k % held.len()).unwrap();
                    pool.free(i).unwrap();
                    held.remove(&i);
                    prop_assert!(pool.free(i).is_err(), "double free accepted");
                }
                Op::Free(_) => {}
                Op::BogusFree(x) => {
                    let i = x as u32;
                    if !held.contains_key(&i) {
                        prop_assert!(pool.free(i).is_err());
                    }
                }
                Op::Reclaim(owner) => {
                    let n = pool.reclaim_owner(owner);
                    let before = held.len();
                    held.retain(|_, o| *o != owner);
                    prop_assert_eq!(n as usize, before - held.len());
                }
            }
            high = high.max(held.len());
            let s = pool.stats();
            prop_assert_eq!(s.in_use as usize, held.len());
            prop_assert_eq!(s.high_water as usize, high);
            prop_assert!(s.carved <= cap);
        }
        let a = pool.audit();
        prop_assert!(!a.corrupt);
        prop_assert_eq!(a.used as usize, held.len());
        prop_assert_eq!(a.leaked, 0);
        prop_assert_eq!(a.free_listed + a.used, pool.stats().carved);
    }

    #[test]
    fn buffer_pool_random_ops_keep_bytes_intact(ops in ops(), shm in any::<bool>()) {
        let cfg = BufferPoolConfig::new(vec![
            SizeClass { size: 64, capacity: 6, prealloc: 2 },
            SizeClass { size: 512, capacity: 4, prealloc: 0 },
            SizeClass { size: 4096, capacity: 2, prealloc: 1 },
        ]);
        let need = cfg.required_bytes().unwrap() as usize;
        let backend = if shm { Backend::Shm } else { Backend::Heap };
        let name = format!("pt{}_{}", std::process::id(), unique());
        let r = Arc::new(Region::create(&RegionConfig::new(&name, need).backend(backend)).unwrap());
        let bp = BufferPool::create_in(&r, r.payload_offset(), &cfg).unwrap();
        let mut held: Vec<(Buffer, u8, u32)> = Vec::new(); // (buffer, fill, owner)
        let mut fill = 0u8;
        for op in ops {
            match op {
                Op::Alloc { len, owner } => {
                    let bpo = BufferPool::open_in(&r, r.payload_offset()).unwrap().with_owner(owner);
                    match bpo.alloc(len, Wait::No) {
                        Ok(b) => {
                            prop_assert!(b.len() == len && b.offset() % 64 == 0);
                            // No overlap with any live buffer (block spans).
                            let span = bp.pool(b.class()).unwrap().block_size() as u64;
                            for (h, _, _) in &held {
                                let hs = bp.pool(h.class()).unwrap().block_size() as u64;
                                prop_assert!(b.offset() + span <= h.offset() || h.offset() + hs <= b.offset());
                            }
                            fill = fill.wrapping_add(1);
                            // SAFETY: `b` is this test's exclusive loan.
                            unsafe { bp.bytes_mut(&b).unwrap() }.fill(fill);
                            held.push((b, fill, owner));
                        }
                        Err(AllocError::TooLarge { .. }) => prop_assert!(len > 4096),
                        Err(e) => prop_assert_eq!(e, AllocError::Exhausted { len }),
                    }
                }
                Op::Free(k) if !held.is_empty() => {
                    let (b, f, _) = held.swap_remove(k % held.len());
                    prop_assert!(bp.bytes(&b).unwrap().iter().all(|&x| x == f), "bytes clobbered");
                    let off = b.offset();
                    bp.free(b).unwrap();
                    prop_assert!(bp.free_offset(off).is_err());
                }
                Op::Free(_) => {}
                Op::BogusFree(off) => {
                    if !held.iter().any(|(b, _, _)| b.offset() == off) {
                        prop_assert!(bp.free_offset(off).is_err());
                    }
                }
                Op::Reclaim(owner) => {
                    let before = held.len();
                    held.retain(|(_, _, o)| *o != owner);
                    prop_assert_eq!(bp.reclaim_owner(owner) as usize, before - held.len());
                }
            }
            let s = bp.stats();
            let want: u64 = held.iter().map(|(b, _, _)| u64::from(bp.pool(b.class()).unwrap().block_size())).sum();
            prop_assert_eq!(s.in_use_bytes, want);
            prop_assert!(s.utilization() <= 1.0);
        }
        for (b, f, _) in &held {
            prop_assert!(bp.bytes(b).unwrap().iter().all(|x| x == f));
        }
        let path = r.path().map(|p| p.to_path_buf());
        drop(bp);
        drop(r);
        if let Some(p) = path {
            prop_assert!(!p.exists(), "region file left behind");
        }
    }

    #[test]
    fn bump_never_overlaps(reqs in proptest::collection::vec((0u64..300, 0u32..7), 1..100)) {
        let b = BumpAllocator::new(64, 8192);
        let mut prev_end = 64;
        for (size, ap) in reqs {
            let align = 1usize << ap;
            match b.alloc(size, align) {
                Ok(o) => {
                    prop_assert!(o >= prev_end && o % align as u64 == 0 && o + size <= 8192);
                    prev_end = o + size;
                }
                Err(_) => prop_assert!(prev_end.div_ceil(align as u64) * align as u64 + size > 8192),
            }
        }
    }
}

fn unique() -> u64 {
    use renoir_core::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn nothing_left_in_shm_dir() {
    // The proptests above check their own file after each case; this checks
    // the whole pid-tagged name space once the cases of this binary that
    // started before it are done with a created-and-dropped probe.
    let start = format!(
        "{}_ptx{}_",
        renoir_core::platform::shm::prefix(),
        std::process::id()
    );
    let count = || {
        std::fs::read_dir(renoir_core::platform::shm::shm_dir())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&start))
            .count()
    };
    let r = Region::create(&RegionConfig::new(
        format!("ptx{}_{}", std::process::id(), unique()),
        64,
    ))
    .unwrap();
    assert_eq!(count(), 1);
    drop(r);
    assert_eq!(count(), 0);
}
