//! Listing and cleaning regions in a directory (for `renoir ls` / `renoir
//! clean` and crash recovery). Reads headers with `pread`, without mapping,
//! so a corrupt or hostile file can at worst be reported as corrupt.

use super::header::{HeaderSnapshot, FLAG_KEEP_WHEN_CREATOR_DIES, HEADER_SIZE, READY};
use super::metadata::{Metadata, MAX_METADATA_LEN};
use crate::platform::{shm, ProcessIdentity};
use serde::Serialize;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Regions whose header never became valid (creator died during creation,
/// or not ours at all) are removed by `clean` only once they are this old,
/// so a creation in progress is never pulled from under its creator.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// What the header of a listed file says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum RegionState {
    /// Valid header, `ready` set.
    Ready,
    /// Valid identity but not (yet) ready: being created, or creator died
    /// mid-creation.
    NotReady,
    /// Header fails validation.
    Corrupt(String),
    /// Could not be read (permissions, I/O).
    Unreadable(String),
}

/// One file in the segment directory that carries our prefix.
#[derive(Clone, Debug, Serialize)]
pub struct RegionInfo {
    /// File name (`<prefix>_<name>`).
    pub file_name: String,
    pub path: PathBuf,
    pub file_size: u64,
    pub uid: u32,
    pub mode: u32,
    /// Seconds since the file was last modified (creation, for our files).
    pub age_secs: f64,
    #[serde(flatten)]
    pub state: RegionState,
    pub creator: Option<ProcessIdentity>,
    /// Creator exists with the same start time (false when unknown).
    pub creator_alive: bool,
    /// Whether liveness could be judged: false when the creator lives in
    /// another pid namespace (e.g. another container sharing /dev/shm).
    pub liveness_known: bool,
    pub flags: u32,
    pub created_unix_ns: Option<u64>,
    pub payload_offset: Option<u64>,
    pub metadata: Option<Metadata>,
}

impl RegionInfo {
    /// Whether `clean` would remove it (after `grace` for unidentifiable
    /// files).
    pub fn reclaimable(&self, grace: Duration) -> bool {
        let named_owner = self.creator.is_some();
        match self.state {
            RegionState::Unreadable(_) => false,
            RegionState::Ready if self.flags & FLAG_KEEP_WHEN_CREATOR_DIES != 0 => false,
            // Whatever the header's state, an owner that is (or may be)
            // alive keeps its file: it may be mid-creation, or the header
            // may have been scribbled on while the owner still uses it.
            _ if named_owner && (!self.liveness_known || self.creator_alive) => false,
            RegionState::Ready | RegionState::NotReady if named_owner => true,
            // Corrupt with a dead owner, or no owner at all: only once old.
            _ => self.age_secs >= grace.as_secs_f64(),
        }
    }
}

/// Inspect one file.
pub fn inspect(path: &Path) -> io::Result<RegionInfo> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lmeta = std::fs::symlink_metadata(path)?;
    let age_secs = lmeta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut info = RegionInfo {
        file_name,
        path: path.to_path_buf(),
        file_size: lmeta.len(),
        uid: lmeta.uid(),
        mode: lmeta.mode() & 0o7777,
        age_secs,
        state: RegionState::Unreadable(String::new()),
        creator: None,
        creator_alive: false,
        liveness_known: false,
        flags: 0,
        created_unix_ns: None,
        payload_offset: None,
        metadata: None,
    };
    if !lmeta.file_type().is_file() {
        info.state = RegionState::Corrupt("not a regular file".into());
        return Ok(info);
    }
    let f = match shm::open_existing(path, false) {
        Ok(f) => f,
        Err(e) => {
            info.state = RegionState::Unreadable(e.to_string());
            return Ok(info);
        }
    };
    let mut buf = [0u8; HEADER_SIZE];
    let n = read_full_at(&f, &mut buf, 0)?;
    let Some(h) = HeaderSnapshot::from_bytes(&buf[..n]) else {
        info.state = if n == 0 {
            RegionState::NotReady
        } else {
            RegionState::Corrupt(format!("only {n} bytes"))
        };
        return Ok(info);
    };
    info.creator = h.creator();
    let my_ns = crate::platform::process::pid_namespace();
    info.liveness_known = h.creator_pid_ns == 0 || my_ns == 0 || h.creator_pid_ns == my_ns;
    info.creator_alive = info.liveness_known && info.creator.is_some_and(|c| c.is_alive());
    if h.ready != READY {
        info.state = RegionState::NotReady;
        return Ok(info);
    }
    if let Err(e) = h.validate(info.file_size) {
        info.state = RegionState::Corrupt(e.to_string());
        return Ok(info);
    }
    info.state = RegionState::Ready;
    info.flags = h.flags;
    info.created_unix_ns = Some(h.created_unix_ns);
    info.payload_offset = Some(h.payload_offset);
    // validate() bounded meta_len by MAX_METADATA_LEN.
    let mut meta = vec![0u8; (h.meta_len as usize).min(MAX_METADATA_LEN)];
    if read_full_at(&f, &mut meta, h.meta_offset)? == meta.len() {
        info.metadata = Metadata::decode(&meta).ok();
    }
    Ok(info)
}

fn read_full_at(f: &std::fs::File, buf: &mut [u8], mut off: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                off += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Regions named `<prefix>_*` in `dir`, sorted by name.
pub fn list_in(dir: &Path, prefix: &str) -> io::Result<Vec<RegionInfo>> {
    let start = format!("{prefix}_");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(&start) {
            continue;
        }
        match inspect(&entry.path()) {
            Ok(info) => out.push(info),
            // Removed between readdir and inspect: not there any more.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                let mut info = RegionInfo {
                    file_name: name.to_string(),
                    path: entry.path(),
                    file_size: 0,
                    uid: 0,
                    mode: 0,
                    age_secs: 0.0,
                    state: RegionState::Unreadable(e.to_string()),
                    creator: None,
                    creator_alive: false,
                    liveness_known: false,
                    flags: 0,
                    created_unix_ns: None,
                    payload_offset: None,
                    metadata: None,
                };
                info.state = RegionState::Unreadable(e.to_string());
                out.push(info);
            }
        }
    }
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(out)
}

/// Regions named `<prefix>_*` in the shm directory (`RENOIR_SHM_DIR`).
/// An unreadable directory yields an empty list.
pub fn list(prefix: &str) -> Vec<RegionInfo> {
    list_in(&shm::shm_dir(), prefix).unwrap_or_default()
}

/// What `clean` did (or would do, with `dry_run`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CleanReport {
    /// Files removed (or that would be removed).
    pub removed: Vec<RegionInfo>,
    /// Files kept, with their owner alive or otherwise not reclaimable.
    pub kept: usize,
    /// Removal failures: (path, error).
    pub errors: Vec<(PathBuf, String)>,
}

/// Unlink regions `<prefix>_*` in `dir` whose creator is dead (and
/// unidentifiable ones older than `grace`).
pub fn clean_in(
    dir: &Path,
    prefix: &str,
    dry_run: bool,
    grace: Duration,
) -> io::Result<CleanReport> {
    let mut report = CleanReport::default();
    for info in list_in(dir, prefix)? {
        if !info.reclaimable(grace) {
            report.kept += 1;
            continue;
        }
        if !dry_run {
            // Re-check right before unlinking: the file might have been
            // replaced by a live creator since it was listed.
            match inspect(&info.path) {
                Ok(again) if again.reclaimable(grace) => {}
                Ok(_) => {
                    report.kept += 1;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    report.errors.push((info.path.clone(), e.to_string()));
                    continue;
                }
            }
            match std::fs::remove_file(&info.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    report.errors.push((info.path.clone(), e.to_string()));
                    continue;
                }
            }
        }
        report.removed.push(info);
    }
    Ok(report)
}

/// [`clean_in`] on the shm directory with [`DEFAULT_GRACE`].
pub fn clean(prefix: &str, dry_run: bool) -> io::Result<CleanReport> {
    clean_in(&shm::shm_dir(), prefix, dry_run, DEFAULT_GRACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(state: RegionState, creator: bool, known: bool, alive: bool, age: f64) -> RegionInfo {
        RegionInfo {
            file_name: "x".into(),
            path: PathBuf::from("/nonexistent"),
            file_size: 0,
            uid: 0,
            mode: 0o600,
            age_secs: age,
            state,
            creator: creator.then_some(ProcessIdentity {
                pid: 42,
                start_time: 7,
            }),
            creator_alive: alive,
            liveness_known: known,
            flags: 0,
            created_unix_ns: None,
            payload_offset: None,
            metadata: None,
        }
    }

    #[test]
    fn reclaim_matrix() {
        let g = Duration::from_secs(30);
        use RegionState::*;
        // dead owner: ready / initializing go at once, corrupt only when old
        assert!(info(Ready, true, true, false, 0.0).reclaimable(g));
        assert!(info(NotReady, true, true, false, 0.0).reclaimable(g));
        assert!(!info(Corrupt("x".into()), true, true, false, 1.0).reclaimable(g));
        assert!(info(Corrupt("x".into()), true, true, false, 31.0).reclaimable(g));
        // live or unknown owner: never
        for st in [Ready, NotReady, Corrupt("x".into())] {
            assert!(!info(st.clone(), true, true, true, 1e9).reclaimable(g));
            assert!(!info(st, true, false, false, 1e9).reclaimable(g));
        }
        // no owner: after the grace period
        assert!(!info(NotReady, false, true, false, 29.0).reclaimable(g));
        assert!(info(NotReady, false, true, false, 30.0).reclaimable(g));
        // unreadable: never; flagged keep: never
        assert!(!info(Unreadable("x".into()), false, true, false, 1e9).reclaimable(g));
        let mut k = info(Ready, true, true, false, 1e9);
        k.flags = FLAG_KEEP_WHEN_CREATOR_DIES;
        assert!(!k.reclaimable(g));
    }
}
