//! Background matching: one thread per domain (started with the first
//! subscription) that sleeps on the registry's graph-change event — not on
//! the data doorbell, so samples never wake it — and on each change lets
//! every subscriber of this process attach to new publishers at once (as
//! DDS discovery does in the background), and runs the core's reaper so
//! dead peers leave the graph even when this process never waits.

use crate::subscription::lock;
use crate::transport::{Domain, Subscriber};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

struct Watch {
    domain: Arc<Domain>,
    subs: Mutex<Vec<Weak<Subscriber>>>,
}

static WATCHES: Mutex<Vec<Arc<Watch>>> = Mutex::new(Vec::new());

/// Keep `sub` attached to the publishers that appear on its topic.
pub fn register(domain: &Arc<Domain>, sub: &Arc<Subscriber>) {
    let w = {
        let mut all = lock(&WATCHES);
        match all.iter().find(|w| Arc::ptr_eq(&w.domain, domain)) {
            Some(w) => w.clone(),
            None => {
                let w = Arc::new(Watch {
                    domain: domain.clone(),
                    subs: Mutex::new(Vec::new()),
                });
                all.push(w.clone());
                let t = w.clone();
                let _ = std::thread::Builder::new()
                    .name("rmw_renoir_match".into())
                    .spawn(move || run(&t));
                w
            }
        }
    };
    let mut subs = lock(&w.subs);
    subs.retain(|s| s.strong_count() > 0);
    subs.push(Arc::downgrade(sub));
}

fn run(w: &Watch) {
    let ev = w.domain.graph_event();
    let mut seen = ev.seq();
    loop {
        seen = ev.wait_seen(seen, Some(Duration::from_millis(500)));
        w.domain.maybe_reap();
        let subs: Vec<Arc<Subscriber>> = lock(&w.subs).iter().filter_map(|s| s.upgrade()).collect();
        for s in subs {
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.matched_publishers()));
        }
    }
}

/// A publisher was just created in this process: let this process's
/// subscribers on `topic` attach now (synchronously), so that what it
/// publishes next reaches them without waiting for the background matcher.
pub fn attach_local(domain: &Arc<Domain>, topic: &str) {
    let w = lock(&WATCHES)
        .iter()
        .find(|w| Arc::ptr_eq(&w.domain, domain))
        .cloned();
    let Some(w) = w else {
        return;
    };
    let subs: Vec<Arc<Subscriber>> = lock(&w.subs).iter().filter_map(|s| s.upgrade()).collect();
    for s in subs.iter().filter(|s| s.spec().name == topic) {
        let _ = s.matched_publishers();
    }
}
