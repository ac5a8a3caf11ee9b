//! Loom models of the registry/topic claim-release protocols:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p renoir_core --release --test loom_registry`
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use renoir_core::registry::slot::{SlotWord, FREE, LIVE};

/// Two claimers race for one FREE slot: exactly one wins, and a reader that
/// sees LIVE sees the winner's content (Release publish / Acquire load).
#[test]
fn claim_is_exclusive_and_publishes_content() {
    loom::model(|| {
        let slot = Arc::new(SlotWord::new());
        let content = Arc::new(AtomicU64::new(0));
        let mut hs = Vec::new();
        for pid in [10u32, 20] {
            let (s, c) = (slot.clone(), content.clone());
            hs.push(thread::spawn(move || {
                if let Some(cl) = s.try_claim(pid, pid as u64 * 100) {
                    c.store(pid as u64, Ordering::Relaxed);
                    assert!(s.publish(cl));
                    true
                } else {
                    false
                }
            }));
        }
        let (s, c) = (slot.clone(), content.clone());
        let reader = thread::spawn(move || {
            let w = s.load();
            if w.state() == LIVE {
                let v = c.load(Ordering::Relaxed);
                let start = s.owner_start();
                if s.reload() == w {
                    assert_eq!(v, w.pid() as u64);
                    assert_eq!(start, w.pid() as u64 * 100);
                }
            }
        });
        let wins: usize = hs.into_iter().map(|h| h.join().unwrap() as usize).sum();
        reader.join().unwrap();
        assert_eq!(wins, 1);
    });
}

/// A reaper that judged the claimer dead and the claimer itself race:
/// exactly one of "claimer publishes" and "reaper reclaims" succeeds, and
/// the slot ends FREE (reclaimed) or LIVE (published), never both.
#[test]
fn reclaim_and_publish_are_mutually_exclusive() {
    loom::model(|| {
        let slot = Arc::new(SlotWord::new());
        let claim = slot.try_claim(7, 70).unwrap();
        let observed = slot.load();
        let s1 = slot.clone();
        let owner = thread::spawn(move || s1.publish(claim));
        let s2 = slot.clone();
        let reaper = thread::spawn(move || match s2.begin_reclaim(observed, 9) {
            Some(c) => s2.finish_reclaim(c),
            None => false,
        });
        let published = owner.join().unwrap();
        let reclaimed = reaper.join().unwrap();
        assert!(published ^ reclaimed);
        let end = slot.load();
        if reclaimed {
            assert_eq!(end.state(), FREE);
            assert_eq!(end.gen(), 1);
        } else {
            assert_eq!(end.state(), LIVE);
        }
    });
}

/// Slot reuse vs. a reader taking it (the holder-bit Dekker in topic):
/// publisher: stamp := 0 (SeqCst), then reuse the slot only if no holder
/// bit (SeqCst load). Reader: stamp == expected (Acquire), set holder bit
/// (SeqCst RMW), re-check stamp (SeqCst), read the payload, clear the bit
/// (Release). Both sides put a SeqCst fence between their store and their
/// load, as the real code does (loom models SeqCst accesses only as AcqRel,
/// and SeqCst fences exactly). Loom's UnsafeCell flags any overlap of the
/// reader's read and the publisher's rewrite.
#[test]
fn holder_bit_prevents_reuse_under_a_reader() {
    loom::model(|| {
        let stamp = Arc::new(AtomicU64::new(1));
        let holders = Arc::new(AtomicU64::new(0));
        let payload = Arc::new(UnsafeCell::new(42u64));
        let (st, ho, pl) = (stamp.clone(), holders.clone(), payload.clone());
        let publisher = thread::spawn(move || {
            st.store(0, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if ho.load(Ordering::SeqCst) == 0 {
                // SAFETY (model): the protocol claims exclusivity here.
                pl.with_mut(|p| unsafe { *p = 99 });
            }
        });
        let (st, ho, pl) = (stamp.clone(), holders.clone(), payload.clone());
        let reader = thread::spawn(move || {
            if st.load(Ordering::Acquire) != 1 {
                return;
            }
            ho.fetch_or(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if st.load(Ordering::SeqCst) == 1 {
                // SAFETY (model): protected by the holder bit.
                let v = pl.with(|p| unsafe { *p });
                assert_eq!(v, 42);
            }
            ho.fetch_and(!1, Ordering::Release);
        });
        publisher.join().unwrap();
        reader.join().unwrap();
    });
}

/// Closing the registry vs. a joiner (Domain::try_close / join): the leaver
/// CASes `closed` 0->1, fences, and scans the process table; the joiner
/// claims a process slot, fences, and loads `closed`. Never both "joiner
/// stays" and "leaver unlinks".
#[test]
fn close_and_join_never_both_proceed() {
    use loom::sync::atomic::AtomicU32;
    loom::model(|| {
        let slot = Arc::new(SlotWord::new());
        let closed = Arc::new(AtomicU32::new(0));
        let (s, c) = (slot.clone(), closed.clone());
        let joiner = thread::spawn(move || {
            let cl = s.try_claim(5, 50).unwrap();
            assert!(s.publish(cl));
            fence(Ordering::SeqCst);
            if c.load(Ordering::Relaxed) != 0 {
                s.release(cl);
                false // retries elsewhere
            } else {
                true // stays in this registry
            }
        });
        let (s, c) = (slot.clone(), closed.clone());
        let leaver = thread::spawn(move || {
            if s.load().state() != FREE {
                return false;
            }
            if c.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                return false;
            }
            fence(Ordering::SeqCst);
            if s.load().state() != FREE {
                c.store(0, Ordering::SeqCst);
                return false;
            }
            true // unlinks
        });
        let stays = joiner.join().unwrap();
        let unlinks = leaver.join().unwrap();
        assert!(!(stays && unlinks));
    });
}
