//! Loom models of every ring protocol (heap backend, same code as on shm).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p renoir_core --release --test loom_rings`
//! Each model is kept tiny (capacity 2, 2-3 items) so that loom explores
//! every interleaving (and every stale read its weak-memory model allows)
//! within the preemption bound in seconds.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use renoir_core::ring::{
    BroadcastReader, HeapBroadcast, HeapMpmc, HeapSequenced, HeapSpsc, PushError,
};

fn push_spin<F: FnMut() -> Result<(), PushError>>(mut f: F) {
    loop {
        match f() {
            Ok(()) => return,
            Err(PushError::Full) => thread::yield_now(),
            Err(e) => panic!("push: {e}"),
        }
    }
}

#[test]
fn spsc_fifo_across_wrap() {
    loom::model(|| {
        let r = Arc::new(HeapSpsc::<2>::new(2).unwrap());
        let p = r.clone();
        let h = thread::spawn(move || {
            for i in 0..3u64 {
                push_spin(|| p.push([i, i ^ 0xff]));
            }
        });
        let mut next = 0u64;
        while next < 3 {
            match r.pop().unwrap() {
                Some(v) => {
                    // Both words from the same push: no torn or stale record.
                    assert_eq!(v, [next, next ^ 0xff]);
                    next += 1;
                }
                None => thread::yield_now(),
            }
        }
        h.join().unwrap();
        assert_eq!(r.pop().unwrap(), None);
    });
}

#[test]
fn spsc_batches() {
    loom::model(|| {
        let r = Arc::new(HeapSpsc::<1>::new(2).unwrap());
        let p = r.clone();
        let h = thread::spawn(move || {
            let items = [[1u64], [2], [3]];
            let mut sent = 0;
            while sent < items.len() {
                sent += p.push_batch(&items[sent..]).unwrap();
                if sent < items.len() {
                    thread::yield_now();
                }
            }
        });
        let mut got = vec![];
        let mut buf = [[0u64]; 2];
        while got.len() < 3 {
            let n = r.pop_batch(&mut buf).unwrap();
            got.extend(buf[..n].iter().map(|v| v[0]));
            if n == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(got, vec![1, 2, 3]);
        h.join().unwrap();
    });
}

#[test]
fn broadcast_reader_never_sees_torn_or_uncounted_items() {
    loom::model(|| {
        let b = Arc::new(HeapBroadcast::<2>::new(2).unwrap());
        let w = b.clone();
        let h = thread::spawn(move || {
            for i in 0..3u64 {
                w.push([i, !i]).unwrap();
            }
        });
        let mut r = BroadcastReader::at(0);
        let mut received = 0u64;
        let mut last = None;
        while r.next_seq() < 3 {
            match b.read(&mut r).unwrap() {
                Some(it) => {
                    // The record is exactly what the writer wrote for it.
                    assert_eq!(it.data, [it.seq, !it.seq]);
                    if let Some(l) = last {
                        assert!(it.seq > l);
                    }
                    last = Some(it.seq);
                    received += 1;
                }
                None => thread::yield_now(),
            }
        }
        h.join().unwrap();
        // Every item was either received or counted as lost, exactly once.
        assert_eq!(received + r.lost(), 3);
    });
}

#[test]
fn broadcast_two_readers() {
    loom::model(|| {
        let b = Arc::new(HeapBroadcast::<1>::new(2).unwrap());
        let mut hs = vec![];
        for _ in 0..2 {
            let b = b.clone();
            hs.push(thread::spawn(move || {
                // Two non-blocking attempts (no spin: readers need no
                // progress from the writer to be correct).
                let mut r = BroadcastReader::at(0);
                let mut seen = vec![];
                for _ in 0..2 {
                    if let Some(it) = b.read(&mut r).unwrap() {
                        assert_eq!(it.data, [it.seq + 100]);
                        seen.push(it.seq);
                    }
                }
                // Capacity 2, two items: nobody is overrun, order is kept.
                assert_eq!(r.lost(), 0);
                assert!(matches!(seen.as_slice(), [] | [0] | [0, 1]), "{seen:?}");
            }));
        }
        b.push([100]).unwrap();
        b.push([101]).unwrap();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn mpmc_two_producers_one_consumer() {
    loom::model(|| {
        let r = Arc::new(HeapMpmc::<2>::new(2).unwrap());
        let mut hs = vec![];
        for p in 1..=2u64 {
            let r = r.clone();
            hs.push(thread::spawn(move || push_spin(|| r.push([p, p * 10]))));
        }
        let mut got = vec![];
        while got.len() < 2 {
            match r.pop().unwrap() {
                Some(v) => {
                    assert_eq!(v[1], v[0] * 10);
                    got.push(v[0]);
                }
                None => thread::yield_now(),
            }
        }
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn mpmc_wraps_with_two_consumers() {
    loom::model(|| {
        let r = Arc::new(HeapMpmc::<1>::new(2).unwrap());
        let c = r.clone();
        let consumer = thread::spawn(move || {
            let mut got = vec![];
            while got.len() < 1 {
                match c.pop().unwrap() {
                    Some(v) => got.push(v[0]),
                    None => thread::yield_now(),
                }
            }
            got
        });
        // Producer side: three items through a 2-slot ring, and this thread
        // also consumes, so the ring wraps while the other consumer races.
        for i in 1..=3u64 {
            push_spin(|| r.push([i]));
        }
        let mut mine = vec![];
        while mine.len() < 2 {
            match r.pop().unwrap() {
                Some(v) => mine.push(v[0]),
                None => thread::yield_now(),
            }
        }
        let mut all = consumer.join().unwrap();
        all.extend(mine);
        all.sort_unstable();
        assert_eq!(all, vec![1, 2, 3]);
    });
}

#[test]
fn sequenced_in_claim_order() {
    loom::model(|| {
        let r = Arc::new(HeapSequenced::<1>::new(2).unwrap());
        let mut hs = vec![];
        for p in 1..=2u64 {
            let r = r.clone();
            hs.push(thread::spawn(move || loop {
                match r.claim(1) {
                    Ok(s) => {
                        r.publish(s, [p << 8 | s]).unwrap();
                        return;
                    }
                    Err(PushError::Full) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }));
        }
        let mut seqs = vec![];
        let mut producers = vec![];
        while seqs.len() < 2 {
            match r.pop().unwrap() {
                Some((s, [v])) => {
                    // The record is the one published under that sequence.
                    assert_eq!(v & 0xff, s);
                    seqs.push(s);
                    producers.push(v >> 8);
                }
                None => thread::yield_now(),
            }
        }
        assert_eq!(seqs, vec![0, 1]);
        producers.sort_unstable();
        assert_eq!(producers, vec![1, 2]);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn sequenced_skip_races_with_slow_producer() {
    loom::model(|| {
        let r = Arc::new(HeapSequenced::<1>::new(2).unwrap());
        let s = r.claim(1).unwrap();
        let p = r.clone();
        let h = thread::spawn(move || p.publish(s, [42]));
        // The consumer revokes the claim while the producer may publish.
        let skipped = r.skip(false).unwrap();
        let published = h.join().unwrap();
        match (skipped, published) {
            // Revoked before the producer started: it wrote nothing.
            (Some(0), Err(PushError::Revoked)) => assert_eq!(r.pop().unwrap(), None),
            // Producer won: the record is delivered.
            (None, Ok(())) => assert_eq!(r.pop().unwrap(), Some((0, [42]))),
            other => panic!("inconsistent outcome {other:?}"),
        }
    });
}
