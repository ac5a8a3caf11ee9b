//! [`HandleCache`]: what was resolved from a type-support handle, cached
//! for the rest of the process by the handle's address (rcl guarantees the
//! libraries behind a handle stay loaded, so the address stays valid and
//! unique). Shared by the layout cache and the message / service type
//! support caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

pub(crate) struct HandleCache<T>(OnceLock<Mutex<HashMap<usize, Arc<T>>>>);

impl<T> HandleCache<T> {
    pub(crate) const fn new() -> Self {
        HandleCache(OnceLock::new())
    }

    fn map(&self) -> MutexGuard<'_, HashMap<usize, Arc<T>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (single inserts), so a poisoned lock is still good.
        self.0
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// What is cached for `key`, if anything.
    pub(crate) fn get(&self, key: usize) -> Option<Arc<T>> {
        self.map().get(&key).cloned()
    }

    /// Caches `value` for `key` unless a concurrent resolver won the race;
    /// either way returns the cached value, so everyone shares one.
    pub(crate) fn insert(&self, key: usize, value: Arc<T>) -> Arc<T> {
        self.map().entry(key).or_insert(value).clone()
    }
}
