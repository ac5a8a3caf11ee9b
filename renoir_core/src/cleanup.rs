//! Dead-owner detection and reclamation across regions and the registry.
//!
//! Who reclaims what after a process dies (SIGKILL at any instruction):
//!
//! | left behind | noticed by | action |
//! |---|---|---|
//! | its process/node/endpoint records (LIVE or half-claimed) | any member: `Domain::join`, `Domain::graph`/`wait` every 500 ms, [`clean`] | slot protocol reclaim (CAS to RECLAIMING by one reaper), graph version bump + doorbells |
//! | its publishers' segments (control, data, blobs) | the reaper of the endpoint record; [`clean`] via the region layer (creator dead) | unlink; mappings of readers stay valid until they drain and detach |
//! | reader entries in live publishers' segments, holder bits on slots (a reader killed mid-take or holding a sample) | the publisher, every 200 ms while publishing and whenever it is short of slots or blocked | clear the dead reader's holder bits, free the entry, wake a blocked writer |
//! | a half-written descriptor (killed mid-publish) | nobody needs to: `head` was not advanced, the entry's stamp is 0 | readers never see it |
//! | the registry itself once no member is left | the last member leaving (`Domain` drop) or [`clean`] | close protocol (`closed` flag + fence, see registry) then unlink |
//!
//! See docs/data-path.md for the argument that each step is safe against a
//! concurrent join/attach.

#[cfg(not(loom))]
pub use imp::*;

#[cfg(not(loom))]
mod imp {
    use crate::platform::shm;
    use crate::registry::clean_domain;

    /// What [`clean`] did.
    #[derive(Debug, Default, Clone)]
    pub struct CleanReport {
        /// Domains whose registry was examined.
        pub domains: Vec<u32>,
        /// Registry records of dead owners reclaimed.
        pub records: usize,
        /// Registries unlinked because no member was left.
        pub registries_removed: Vec<u32>,
        /// Other segments unlinked (dead creators): file names.
        pub segments_removed: Vec<String>,
        pub errors: Vec<String>,
    }

    /// Domains that have a registry under the current prefix.
    pub fn domains() -> Vec<u32> {
        let pre = format!("{}_", shm::prefix());
        let mut out = Vec::new();
        if let Ok(dir) = std::fs::read_dir(shm::shm_dir()) {
            for e in dir.flatten() {
                let n = e.file_name();
                let Some(n) = n.to_str() else { continue };
                if let Some(rest) = n.strip_prefix(&pre) {
                    if let Some(d) = rest.strip_suffix("_registry") {
                        if let Ok(d) = d.parse::<u32>() {
                            out.push(d);
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// `renoir clean`: reap dead owners in every registry under the current
    /// prefix (or only `domain`), unlink registries nobody uses, then unlink
    /// every other segment whose creator is dead.
    pub fn clean(domain: Option<u32>) -> CleanReport {
        let mut r = CleanReport::default();
        let ds = match domain {
            Some(d) => vec![d],
            None => domains(),
        };
        for d in ds {
            let (n, removed) = clean_domain(d);
            r.domains.push(d);
            r.records += n;
            if removed {
                r.registries_removed.push(d);
            }
        }
        let prefix = match domain {
            Some(d) => format!("{}_{d}", shm::prefix()),
            None => shm::prefix(),
        };
        match crate::region::clean(&prefix, false) {
            Ok(rep) => {
                r.segments_removed = rep.removed.into_iter().map(|i| i.file_name).collect();
                r.errors = rep
                    .errors
                    .into_iter()
                    .map(|(p, e)| format!("{}: {e}", p.display()))
                    .collect();
            }
            Err(e) => r.errors.push(e.to_string()),
        }
        r
    }
}
