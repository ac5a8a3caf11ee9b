//! The slot-claim protocol used by every table in shared memory (registry
//! process/node/endpoint records, publisher reader entries).
//!
//! A slot is guarded by one 64-bit state word plus the owner's start time:
//!
//! ```text
//! word = pid (bits 32..64) | generation (bits 2..32) | state (bits 0..2)
//! state: FREE=0 -> CLAIMING=1 -> LIVE=2 -> FREE (gen+1)
//!                  CLAIMING/LIVE -> RECLAIMING=3 (by a reaper) -> FREE (gen+1)
//! ```
//!
//! - **claim**: CAS `FREE(g,0)` -> `CLAIMING(g,me)`. Only one CAS can win.
//!   The winner stores its start time and the record's content, then
//!   **publishes** with a Release store of `LIVE(g,me)`. Readers only trust
//!   content they read between two equal loads of a `LIVE` word (seqlock).
//! - **release** (by the owner): CAS `LIVE(g,me)` -> `FREE(g+1,0)`.
//! - **reclaim** (by anybody who saw that the owner is dead): CAS the exact
//!   word it observed (`CLAIMING(g,p)`/`LIVE(g,p)`, or `RECLAIMING(g,p)` of a
//!   reaper that itself died) -> `RECLAIMING(g,me)`. Only one reaper wins
//!   that CAS; it undoes the owner's side effects (unlinks segments, clears
//!   holder bits) and then stores `FREE(g+1,0)`. A reaper killed mid-way
//!   leaves `RECLAIMING(g,dead)`, which the next reaper takes over.
//!
//! The generation makes every transition unique (no ABA): a stale
//! `release`/`reclaim` of an older incarnation fails its CAS. 30 bits wrap
//! after 2^30 claims of one slot, far beyond any realistic run; a wrapped
//! generation would additionally need the same pid to match.
//!
//! A claimer killed between its CAS and its start-time store leaves
//! `CLAIMING(g,pid)` with start time 0: the slot is reclaimed as soon as the
//! pid is gone (`kill(pid,0)`-level check); if the pid was recycled by an
//! unrelated process in the meantime the slot stays claimed until that one
//! exits (a bounded leak of one slot, documented in docs/data-path.md).
//!
//! This module is plain atomics (no shared-memory mapping), so it compiles
//! under loom and `tests/loom_registry.rs` model-checks it.

// Atomics come only from `crate::sync` (loom-swappable); clippy's
// disallowed-types resolves the re-export to std and would flag each use.
#![allow(clippy::disallowed_types)]

use crate::sync::atomic::{AtomicU64, Ordering};

pub const FREE: u64 = 0;
pub const CLAIMING: u64 = 1;
pub const LIVE: u64 = 2;
pub const RECLAIMING: u64 = 3;

const STATE_MASK: u64 = 0b11;
const GEN_MASK: u64 = 0xFFFF_FFFC;

/// Decoded state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word(pub u64);

impl Word {
    pub fn make(state: u64, gen: u32, pid: u32) -> Word {
        Word(((pid as u64) << 32) | (((gen as u64) << 2) & GEN_MASK) | (state & STATE_MASK))
    }
    pub fn state(self) -> u64 {
        self.0 & STATE_MASK
    }
    pub fn gen(self) -> u32 {
        ((self.0 & GEN_MASK) >> 2) as u32
    }
    pub fn pid(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub fn is_live(self) -> bool {
        self.state() == LIVE
    }
    /// The FREE word that follows this incarnation.
    pub fn next_free(self) -> Word {
        Word::make(FREE, self.gen().wrapping_add(1) & 0x3FFF_FFFF, 0)
    }
}

/// A claimed incarnation of a slot: what the owner needs to publish and
/// release it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub gen: u32,
    pub pid: u32,
}

/// The guard of one slot: state word + owner start time. 16 bytes,
/// `repr(C)`, valid when all-zero (FREE, generation 0).
#[repr(C)]
#[derive(Debug, Default)]
pub struct SlotWord {
    word: AtomicU64,
    owner_start: AtomicU64,
}

impl SlotWord {
    pub fn new() -> Self {
        SlotWord {
            word: AtomicU64::new(0),
            owner_start: AtomicU64::new(0),
        }
    }

    /// Current state word.
    pub fn load(&self) -> Word {
        // SYNC POINT: Acquire pairs with the Release store of LIVE in
        // `publish` (content written before it is visible) and with the
        // Release RMWs of `release`/`finish_reclaim`.
        Word(self.word.load(Ordering::Acquire))
    }

    /// Re-check after reading content (seqlock second read).
    pub fn reload(&self) -> Word {
        // SYNC POINT: the Acquire fence orders the preceding content loads
        // (relaxed atomics) before this load; if the word is unchanged no
        // writer started a new incarnation while we were reading
        // (crossbeam's seqlock argument).
        crate::sync::atomic::fence(Ordering::Acquire);
        Word(self.word.load(Ordering::Relaxed))
    }

    /// The owner's start time as stored by the claimer (0: not yet stored).
    pub fn owner_start(&self) -> u64 {
        // SYNC POINT: written before the LIVE Release store; read after an
        // Acquire load of LIVE (or validated by `reload`).
        self.owner_start.load(Ordering::Relaxed)
    }

    /// Try to claim a FREE slot for process `pid`. Returns the claim on
    /// success. The caller then writes the content and calls `publish`.
    pub fn try_claim(&self, pid: u32, start_time: u64) -> Option<Claim> {
        let cur = self.load();
        if cur.state() != FREE {
            return None;
        }
        let next = Word::make(CLAIMING, cur.gen(), pid);
        // SYNC POINT: AcqRel CAS: Acquire makes the previous incarnation's
        // release (and the reaper's cleanup) happen-before our writes to
        // the content; only one claimer can win FREE(g) -> CLAIMING(g).
        match self
            .word
            .compare_exchange(cur.0, next.0, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => {
                // SYNC POINT: published by the Release store in `publish`.
                self.owner_start.store(start_time, Ordering::Relaxed);
                Some(Claim {
                    gen: cur.gen(),
                    pid,
                })
            }
            Err(_) => None,
        }
    }

    /// Make a claimed slot LIVE (content complete). Returns false if the
    /// claim was taken away meanwhile (a reaper thought we were dead).
    pub fn publish(&self, c: Claim) -> bool {
        let from = Word::make(CLAIMING, c.gen, c.pid);
        let to = Word::make(LIVE, c.gen, c.pid);
        // SYNC POINT: Release: every content store and the owner_start
        // store happen-before any reader's Acquire load that sees LIVE.
        self.word
            .compare_exchange(from.0, to.0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Owner gives the slot back. Returns false if it was no longer ours.
    pub fn release(&self, c: Claim) -> bool {
        let from = Word::make(LIVE, c.gen, c.pid);
        let to = from.next_free();
        // SYNC POINT: Release: our last uses of the content happen-before
        // the next claimer's Acquire CAS.
        let ok = self
            .word
            .compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if !ok {
            // Also accept releasing a slot still CLAIMING (publish failed
            // half-way, e.g. on an error while filling the content).
            let from = Word::make(CLAIMING, c.gen, c.pid);
            // SYNC POINT: as above.
            return self
                .word
                .compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
        }
        ok
    }

    /// Take over the cleanup of an incarnation whose owner (or previous
    /// reaper) is dead. `observed` must be the exact word the caller judged
    /// dead. On success the caller owns the slot in RECLAIMING state and
    /// must call `finish_reclaim` after undoing the owner's side effects.
    pub fn begin_reclaim(&self, observed: Word, me_pid: u32) -> Option<Claim> {
        if observed.state() == FREE {
            return None;
        }
        let to = Word::make(RECLAIMING, observed.gen(), me_pid);
        // SYNC POINT: AcqRel: Acquire makes the dead owner's content writes
        // visible to the reaper (it reads segment names, holder bits);
        // exactly one reaper wins a given observed word.
        self.word
            .compare_exchange(observed.0, to.0, Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            .map(|_| Claim {
                gen: observed.gen(),
                pid: me_pid,
            })
    }

    /// End a reclaim: the slot becomes FREE with the next generation.
    pub fn finish_reclaim(&self, c: Claim) -> bool {
        let from = Word::make(RECLAIMING, c.gen, c.pid);
        // SYNC POINT: Release: the reaper's cleanup happen-before the next
        // claimer's Acquire CAS.
        self.owner_start.store(0, Ordering::Relaxed);
        self.word
            .compare_exchange(
                from.0,
                from.next_free().0,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn word_roundtrip() {
        let w = Word::make(LIVE, 12345, 4_000_000);
        assert_eq!(w.state(), LIVE);
        assert_eq!(w.gen(), 12345);
        assert_eq!(w.pid(), 4_000_000);
        assert_eq!(w.next_free(), Word::make(FREE, 12346, 0));
        assert_eq!(Word::make(LIVE, 0x3FFF_FFFF, 1).next_free().gen(), 0);
    }

    #[test]
    fn claim_publish_release() {
        let s = SlotWord::new();
        let c = s.try_claim(7, 99).unwrap();
        assert!(s.try_claim(8, 1).is_none());
        assert!(s.publish(c));
        assert!(s.load().is_live());
        assert_eq!(s.owner_start(), 99);
        assert!(s.release(c));
        assert!(!s.release(c));
        let c2 = s.try_claim(8, 1).unwrap();
        assert_eq!(c2.gen, 1);
    }

    #[test]
    fn reclaim_dead_claimer_and_dead_reaper() {
        let s = SlotWord::new();
        let c = s.try_claim(7, 99).unwrap();
        let seen = s.load();
        let r1 = s.begin_reclaim(seen, 10).unwrap();
        // the owner can no longer publish
        assert!(!s.publish(c));
        // reaper 10 dies; reaper 11 takes over
        let seen = s.load();
        assert!(s.begin_reclaim(Word(seen.0 ^ 4), 11).is_none());
        let r2 = s.begin_reclaim(seen, 11).unwrap();
        assert!(!s.finish_reclaim(r1));
        assert!(s.finish_reclaim(r2));
        assert_eq!(s.load().state(), FREE);
        assert_eq!(s.load().gen(), 1);
    }
}
