//! One generic suite per ring, run on the heap backend and on a shared
//! mapping (/dev/shm file, MAP_SHARED: what a region is), plus proptest
//! models against `VecDeque`.
#![cfg(not(loom))]

mod ring_common;

use proptest::prelude::*;
use renoir_core::ring::*;
use ring_common::{align64, ShmArea};
use std::collections::VecDeque;
use std::mem::size_of;

/// A ring's memory carved out of a fresh shared area: header at 0, slots
/// at the next 64-byte boundary.
fn shm_for<H: renoir_core::ShmSafe, S: renoir_core::ShmSafe>(n: usize) -> (ShmArea, usize) {
    let off = align64(size_of::<H>());
    (ShmArea::create(off + n * size_of::<S>() + 64), off)
}

macro_rules! on_both {
    ($ring:ident, $H:ty, $S:ty, $cap:expr, $heap:expr, $suite:expr) => {{
        let heap = $heap;
        $suite(&heap);
        let (area, off) = shm_for::<$H, $S>($cap);
        let r = $ring::init(ShmMem::new(area.get::<$H>(0), area.slice::<$S>(off, $cap)))
            .expect("init on shm");
        $suite(&r);
        // A second view attaching to the same bytes sees the same ring.
        let r2 = $ring::attach(ShmMem::new(area.get::<$H>(0), area.slice::<$S>(off, $cap)))
            .expect("attach on shm");
        assert_eq!(r2.capacity(), $cap);
    }};
}

// ---------------------------------------------------------------- SPSC

fn spsc_suite<M: RingMem<SpscHeader, Cell<2>> + Sync>(r: &SpscRing<M, 2>) {
    let cap = r.capacity() as u64;
    assert_eq!(r.pop().unwrap(), None);
    for i in 0..cap {
        r.push([i, i * 2]).unwrap();
    }
    assert_eq!(r.push([0, 0]), Err(PushError::Full));
    for i in 0..cap {
        assert_eq!(r.pop().unwrap(), Some([i, i * 2]));
    }
    // Threads: 100k items through the ring in order.
    let n = 100_000u64;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0;
            while i < n {
                match r.push([i, !i]) {
                    Ok(()) => i += 1,
                    Err(PushError::Full) => std::hint::spin_loop(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut next = 0;
        let mut buf = [[0u64; 2]; 7];
        while next < n {
            let k = r.pop_batch(&mut buf).unwrap();
            for v in &buf[..k] {
                assert_eq!(*v, [next, !next]);
                next += 1;
            }
        }
    });
    assert!(r.is_empty());
}

#[test]
fn spsc_heap_and_shm() {
    on_both!(
        SpscRing,
        SpscHeader,
        Cell<2>,
        64,
        HeapSpsc::<2>::new(64).unwrap(),
        spsc_suite
    );
}

// ---------------------------------------------------------------- broadcast

fn broadcast_suite<M: RingMem<BroadcastHeader, StampedSlot<2>> + Sync>(b: &SpmcBroadcast<M, 2>) {
    let mut r = b.reader_from_now();
    assert_eq!(b.read(&mut r).unwrap(), None);
    // 3 concurrent readers, one fast writer: each reader sees an increasing
    // sequence of intact records, and received + lost == published.
    let n = 200_000u64;
    let start = b.write_seq();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let mut r = BroadcastReader::at(start);
                let mut received = 0u64;
                let mut last = None;
                while r.next_seq() < start + n {
                    if let Some(it) = b.read(&mut r).unwrap() {
                        assert_eq!(it.data, [it.seq, it.seq.wrapping_mul(0x9e37_79b9)]);
                        assert!(last < Some(it.seq));
                        last = Some(it.seq);
                        received += 1;
                    }
                }
                assert_eq!(received + r.lost(), n);
            });
        }
        for i in start..start + n {
            b.push([i, i.wrapping_mul(0x9e37_79b9)]).unwrap();
        }
    });
}

#[test]
fn broadcast_heap_and_shm() {
    on_both!(
        SpmcBroadcast,
        BroadcastHeader,
        StampedSlot<2>,
        32,
        HeapBroadcast::<2>::new(32).unwrap(),
        broadcast_suite
    );
}

// ---------------------------------------------------------------- MPMC

fn mpmc_suite<M: RingMem<MpmcHeader, StampedSlot<1>> + Sync>(r: &MpmcRing<M, 1>) {
    let per = 30_000u64;
    let mut all: Vec<u64> = std::thread::scope(|s| {
        for p in 0..2u64 {
            s.spawn(move || {
                for i in 0..per {
                    while r.push([p << 32 | i]) == Err(PushError::Full) {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut got = vec![];
                    while got.len() < per as usize {
                        match r.pop().unwrap() {
                            Some([v]) => got.push(v),
                            None => std::thread::yield_now(),
                        }
                    }
                    // Per producer, items come out in push order.
                    for p in 0..2u64 {
                        let mine: Vec<_> = got.iter().filter(|v| *v >> 32 == p).collect();
                        assert!(mine.windows(2).all(|w| w[0] < w[1]));
                    }
                    got
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    all.sort_unstable();
    let mut want: Vec<u64> = (0..2u64)
        .flat_map(|p| (0..per).map(move |i| p << 32 | i))
        .collect();
    want.sort_unstable();
    assert_eq!(all, want);
}

#[test]
fn mpmc_heap_and_shm() {
    on_both!(
        MpmcRing,
        MpmcHeader,
        StampedSlot<1>,
        16,
        HeapMpmc::<1>::new(16).unwrap(),
        mpmc_suite
    );
}

// ---------------------------------------------------------------- sequenced

fn sequenced_suite<M: RingMem<SequencedHeader, StampedSlot<1>> + Sync>(r: &SequencedRing<M, 1>) {
    let per = 20_000u64;
    std::thread::scope(|s| {
        for p in 0..3u64 {
            s.spawn(move || {
                let mut i = 0;
                while i < per {
                    match r.claim(1) {
                        Ok(seq) => {
                            r.publish(seq, [p << 32 | i]).unwrap();
                            i += 1;
                        }
                        Err(PushError::Full) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        let mut next = r.consumed();
        let end = next + 3 * per;
        let mut last = [None::<u64>; 3];
        while next < end {
            match r.pop().unwrap() {
                Some((seq, [v])) => {
                    assert_eq!(seq, next, "strict sequence order");
                    let p = (v >> 32) as usize;
                    assert!(last[p] < Some(v & 0xffff_ffff));
                    last[p] = Some(v & 0xffff_ffff);
                    next += 1;
                }
                None => std::thread::yield_now(),
            }
        }
    });
}

#[test]
fn sequenced_heap_and_shm() {
    on_both!(
        SequencedRing,
        SequencedHeader,
        StampedSlot<1>,
        8,
        HeapSequenced::<1>::new(8).unwrap(),
        sequenced_suite
    );
}

// ---------------------------------------------------------------- proptest

#[derive(Debug, Clone)]
enum Op {
    Push(u64),
    Pop,
    PushBatch(Vec<u64>),
    PopBatch(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<u64>().prop_map(Op::Push),
            3 => Just(Op::Pop),
            1 => prop::collection::vec(any::<u64>(), 0..10).prop_map(Op::PushBatch),
            1 => (0usize..10).prop_map(Op::PopBatch),
        ],
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn spsc_matches_vecdeque(cap_log in 0u32..5, ops in ops()) {
        let cap = 1usize << cap_log;
        let r = HeapSpsc::<1>::new(cap).unwrap();
        let mut m = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(v) => {
                    let res = r.push([v]);
                    if m.len() < cap { prop_assert_eq!(res, Ok(())); m.push_back(v); }
                    else { prop_assert_eq!(res, Err(PushError::Full)); }
                }
                Op::Pop => prop_assert_eq!(r.pop().unwrap().map(|x| x[0]), m.pop_front()),
                Op::PushBatch(vs) => {
                    let items: Vec<[u64; 1]> = vs.iter().map(|v| [*v]).collect();
                    let n = r.push_batch(&items).unwrap();
                    prop_assert_eq!(n, vs.len().min(cap - m.len()));
                    m.extend(&vs[..n]);
                }
                Op::PopBatch(k) => {
                    let mut out = vec![[0u64]; k];
                    let n = r.pop_batch(&mut out).unwrap();
                    prop_assert_eq!(n, k.min(m.len()));
                    for o in &out[..n] { prop_assert_eq!(Some(o[0]), m.pop_front()); }
                }
            }
            prop_assert_eq!(r.len().unwrap(), m.len());
        }
    }

    #[test]
    fn mpmc_matches_vecdeque(cap_log in 0u32..5, ops in ops()) {
        let cap = 1usize << cap_log;
        let r = HeapMpmc::<1>::new(cap).unwrap();
        let mut m = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(v) => {
                    let res = r.push([v]);
                    if m.len() < cap { prop_assert_eq!(res, Ok(())); m.push_back(v); }
                    else { prop_assert_eq!(res, Err(PushError::Full)); }
                }
                Op::Pop => prop_assert_eq!(r.pop().unwrap().map(|x| x[0]), m.pop_front()),
                Op::PushBatch(vs) => {
                    let items: Vec<[u64; 1]> = vs.iter().map(|v| [*v]).collect();
                    let n = r.push_batch(&items).unwrap();
                    prop_assert_eq!(n, vs.len().min(cap - m.len()));
                    m.extend(&vs[..n]);
                }
                Op::PopBatch(k) => {
                    let mut out = vec![[0u64]; k];
                    let n = r.pop_batch(&mut out).unwrap();
                    prop_assert_eq!(n, k.min(m.len()));
                    for o in &out[..n] { prop_assert_eq!(Some(o[0]), m.pop_front()); }
                }
            }
        }
    }

    #[test]
    fn sequenced_matches_vecdeque(cap_log in 0u32..5, ops in ops()) {
        let cap = 1usize << cap_log;
        let r = HeapSequenced::<1>::new(cap).unwrap();
        let mut m: VecDeque<(u64, u64)> = VecDeque::new();
        let mut next_seq = 0u64;
        for op in ops {
            match op {
                Op::Push(v) => {
                    let res = r.push([v]);
                    if m.len() < cap { prop_assert_eq!(res, Ok(next_seq)); m.push_back((next_seq, v)); next_seq += 1; }
                    else { prop_assert_eq!(res, Err(PushError::Full)); }
                }
                Op::Pop => prop_assert_eq!(r.pop().unwrap().map(|(s, x)| (s, x[0])), m.pop_front()),
                Op::PushBatch(vs) => {
                    let items: Vec<[u64; 1]> = vs.iter().map(|v| [*v]).collect();
                    let res = r.push_batch(&items);
                    if vs.is_empty() || m.len() + vs.len() > cap {
                        prop_assert_eq!(res, Err(PushError::Full));
                    } else {
                        prop_assert_eq!(res, Ok(next_seq));
                        for v in vs { m.push_back((next_seq, v)); next_seq += 1; }
                    }
                }
                Op::PopBatch(k) => {
                    let mut out = vec![(0u64, [0u64]); k];
                    let n = r.pop_batch(&mut out).unwrap();
                    prop_assert_eq!(n, k.min(m.len()));
                    for o in &out[..n] { prop_assert_eq!(Some((o.0, o.1[0])), m.pop_front()); }
                }
            }
        }
    }

    /// Broadcast against a model: a reader at `next` after `w` pushes
    /// receives item max(next, w - cap) with exactly that many lost.
    #[test]
    fn broadcast_matches_model(cap_log in 0u32..5,
                               steps in prop::collection::vec((0usize..20, 0usize..3, 0usize..5), 0..60)) {
        let cap = 1u64 << cap_log;
        let b = HeapBroadcast::<1>::new(cap as usize).unwrap();
        let mut readers = [BroadcastReader::at(0); 3];
        let mut model_next = [0u64; 3];
        let mut model_lost = [0u64; 3];
        let mut w = 0u64;
        for (pushes, who, reads) in steps {
            for _ in 0..pushes { prop_assert_eq!(b.push([w * 3 + 1]).unwrap(), w); w += 1; }
            for _ in 0..reads {
                let got = b.read(&mut readers[who]).unwrap();
                let want_seq = model_next[who].max(w.saturating_sub(cap));
                if want_seq < w {
                    let it = got.expect("item available");
                    prop_assert_eq!(it.seq, want_seq);
                    prop_assert_eq!(it.data, [want_seq * 3 + 1]);
                    prop_assert_eq!(it.lost_before, want_seq - model_next[who]);
                    model_lost[who] += want_seq - model_next[who];
                    model_next[who] = want_seq + 1;
                } else {
                    prop_assert_eq!(got, None);
                }
                prop_assert_eq!(readers[who].lost(), model_lost[who]);
            }
        }
    }
}

// ---------------------------------------------------------------- Region

/// The same suites over memory taken from a real `Region` (the region
/// layer's validated `get`/`get_slice`), as the topic layer uses them.
#[test]
fn suites_on_a_region() {
    use renoir_core::region::{Region, RegionConfig};
    let name = format!("ringtest_{}", std::process::id());
    let r = Region::create(&RegionConfig::new(&name, 1 << 20)).expect("create region");
    let base = r.payload_offset();

    let h = base;
    let s = align64(h + size_of::<SpscHeader>());
    let spsc = SpscRing::init(ShmMem::new(
        r.get::<SpscHeader>(h).unwrap(),
        r.get_slice::<Cell<2>>(s, 64).unwrap(),
    ))
    .unwrap();
    spsc_suite(&spsc);

    let h = align64(s + 64 * size_of::<Cell<2>>());
    let s = align64(h + size_of::<BroadcastHeader>());
    let b = SpmcBroadcast::init(ShmMem::new(
        r.get::<BroadcastHeader>(h).unwrap(),
        r.get_slice::<StampedSlot<2>>(s, 32).unwrap(),
    ))
    .unwrap();
    broadcast_suite(&b);

    // Misaligned or out-of-bounds placement is refused by the region, not
    // turned into a bad ring.
    assert!(r.get::<SpscHeader>(h + 8).is_err());
    assert!(r.get_slice::<Cell<2>>(r.len() - 8, 64).is_err());
}

/// Broadcast readers never write to the ring, so a reader can map the
/// writer's region read-only (design notes: readers map publishers' data
/// read-only): attach + read through a PROT_READ mapping must work.
#[test]
fn broadcast_reader_on_a_read_only_mapping() {
    use renoir_core::region::{Access, Backend, Region, RegionConfig};
    let name = format!("ringro_{}", std::process::id());
    let w = Region::create(&RegionConfig::new(&name, 64 * 1024)).expect("create region");
    let base = w.payload_offset();
    let s = align64(base + size_of::<BroadcastHeader>());
    let writer = SpmcBroadcast::init(ShmMem::new(
        w.get::<BroadcastHeader>(base).unwrap(),
        w.get_slice::<StampedSlot<2>>(s, 16).unwrap(),
    ))
    .unwrap();
    for i in 0..20u64 {
        writer.push([i, i + 1]).unwrap();
    }
    let ro = Region::open(&name, Backend::Shm, Access::ReadOnly).expect("open read-only");
    let reader = SpmcBroadcast::from_shm(
        ro.get::<BroadcastHeader>(base).unwrap(),
        ro.get_slice::<StampedSlot<2>>(s, 16).unwrap(),
    )
    .unwrap();
    let mut r = reader.reader_from_oldest();
    let mut got = vec![];
    while let Some(it) = reader.read(&mut r).unwrap() {
        assert_eq!(it.data, [it.seq, it.seq + 1]);
        got.push(it.seq);
    }
    assert_eq!(got, (4..20).collect::<Vec<_>>());
    writer.push([20, 21]).unwrap();
    assert!(reader.has_data(&r));
    assert_eq!(reader.read(&mut r).unwrap().unwrap().seq, 20);
}
