//! Delivery of the rmw listener callbacks (`rmw_subscription_set_on_new_message_callback`,
//! `..._on_new_request_`, `..._on_new_response_`, `rmw_event_set_callback`),
//! used by event-driven executors.
//!
//! One thread per domain, started when the first callback is set: it waits
//! on the process doorbell like rmw_wait does, and on each ring lets every
//! registered entity move what arrived into its local queue and call its
//! callback with the number of new items. Entities unregister in their
//! `Drop` under the same lock the thread holds while notifying, so the thread
//! never touches a freed entity.

use crate::subscription::lock;
use crate::transport::Domain;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// An entity with a listener callback.
pub trait Listened {
    /// Pull new items and call the callback with their count (if any).
    fn notify(&self);
}

/// Items announced to an entity's callback and not taken yet.
///
/// Announcing reads the transport's unread count, so samples stay in shared
/// memory until taken (no copy just to count them). Every take consumes
/// under the same lock, so a sample is never announced twice, and a take
/// that finds the transport empty resets the count to what is left
/// locally, so a sample the transport skipped (lifespan, overwritten,
/// corrupt) cannot hide a later one. An announced sample may turn out not
/// to be there (overwritten, filtered out): the take then returns nothing,
/// which executors handle.
#[derive(Default)]
pub struct Announced(Mutex<usize>);

impl Announced {
    /// How many of the `available()` items are new since the last call;
    /// remembers `available()`.
    pub fn announce(&self, available: impl FnOnce() -> usize) -> usize {
        let mut a = lock(&self.0);
        let now = available();
        let new = now.saturating_sub(*a);
        *a = now;
        new
    }

    /// Hold this while taking; decrement per item consumed.
    pub fn lock(&self) -> MutexGuard<'_, usize> {
        lock(&self.0)
    }

    /// Forget what was announced (a new callback is being set).
    pub fn reset(&self) {
        *lock(&self.0) = 0;
    }
}

struct Target(*const dyn Listened);
// SAFETY: targets are Sync entities (their state is behind Mutexes) that
// unregister before they are freed; the pointer is only dereferenced under
// the registry lock.
unsafe impl Send for Target {}

struct Reg {
    domain: Arc<Domain>,
    targets: Mutex<Vec<(usize, Target)>>,
}

static REGS: Mutex<Vec<Arc<Reg>>> = Mutex::new(Vec::new());

fn reg_for(domain: &Arc<Domain>) -> Arc<Reg> {
    let mut regs = lock(&REGS);
    if let Some(r) = regs.iter().find(|r| Arc::ptr_eq(&r.domain, domain)) {
        return r.clone();
    }
    let r = Arc::new(Reg {
        domain: domain.clone(),
        targets: Mutex::new(Vec::new()),
    });
    regs.push(r.clone());
    let t = r.clone();
    let _ = std::thread::Builder::new()
        .name("rmw_renoir_listener".into())
        .spawn(move || run(&t));
    r
}

fn run(r: &Reg) {
    loop {
        let seen = r.domain.doorbell_seq();
        {
            let targets = lock(&r.targets);
            for (_, t) in targets.iter() {
                // SAFETY: registered entities stay alive until they
                // unregister, which needs this lock.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                    (*t.0).notify()
                }));
            }
        }
        r.domain.wait(seen, Some(Duration::from_millis(500)));
    }
}

/// Register `target` (keyed by its address) for notifications.
pub fn register(domain: &Arc<Domain>, target: &(dyn Listened + 'static)) {
    let r = reg_for(domain);
    let key = target as *const dyn Listened as *const () as usize;
    let mut t = lock(&r.targets);
    if !t.iter().any(|(k, _)| *k == key) {
        t.push((key, Target(target)));
    }
    drop(t);
    r.domain.ring();
}

/// Unregister `target` (no-op when it was never registered).
pub fn unregister(target: *const ()) {
    let key = target as usize;
    let regs: Vec<Arc<Reg>> = lock(&REGS).clone();
    for r in regs {
        lock(&r.targets).retain(|(k, _)| *k != key);
    }
}
