//! Process identity: a pid plus the kernel's start time of that process.
//!
//! A pid alone is not an identity: after a process dies the kernel recycles
//! its pid. Every shared structure that records an owner stores the pair, and
//! "is the owner alive" means "a process with that pid exists *and* started at
//! the same time". The start time is field 22 of `/proc/<pid>/stat` (clock
//! ticks since boot), which is stable for the life of a process.

use std::path::PathBuf;
use std::sync::Mutex;

/// Who created (or owns) something in shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ProcessIdentity {
    pub pid: u32,
    /// `/proc/<pid>/stat` field 22 (`starttime`, clock ticks after boot).
    /// 0 when /proc is not available (e.g. under Miri); such an identity is
    /// only compared by pid.
    pub start_time: u64,
}

/// Parsed subset of `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: R, S, D, Z, X, ...
    pub state: char,
    /// Field 22.
    pub start_time: u64,
}

/// Parse the text of `/proc/<pid>/stat`.
///
/// Field 2 (`comm`) is in parentheses and may itself contain spaces and `)`,
/// so we split after the *last* `)`: what follows starts with field 3.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let close = text.rfind(')')?;
    let rest = text.get(close + 1..)?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // fields.next() above consumed field 3; field 22 is 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// Read `/proc/<pid>/stat`; `None` if the process does not exist (or /proc
/// is unreadable).
///
/// Every process must read the *same* value for a given pid, or live peers
/// are judged dead (a publisher's reader entries reaped, registry slots
/// leaked as `Full`). qemu-user (aarch64 CI via binfmt_misc) intercepts
/// `open("/proc/self/stat")` and `open("/proc/<own pid>/stat")` and returns
/// a synthesized file whose start time is qemu's own estimate (measured: 2
/// ticks later than the kernel's) and whose state field is `0`, while peers
/// read the kernel's file. So the file is opened with `openat` relative to
/// a `/proc` directory fd ("<pid>/stat"): emulators match absolute path
/// strings only, and the kernel answers the same for everybody. Falls back
/// to the plain path where `openat` is unavailable.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = read_proc_stat_at(pid).or_else(|| {
        let path = PathBuf::from(format!("/proc/{pid}/stat"));
        std::fs::read_to_string(path).ok()
    })?;
    parse_proc_stat(&text)
}

#[cfg(not(miri))]
fn read_proc_stat_at(pid: u32) -> Option<String> {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd};
    let dir = std::fs::File::open("/proc").ok()?;
    let rel = std::ffi::CString::new(format!("{pid}/stat")).ok()?;
    // SAFETY: `dir` is an open directory fd for the duration of the call and
    // `rel` is a NUL-terminated path; openat has no other preconditions.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            rel.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned by openat, is valid and owned by nobody
    // else; the File takes ownership and closes it.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut text = String::new();
    f.read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(miri)]
fn read_proc_stat_at(_pid: u32) -> Option<String> {
    None
}

/// Inode number of this process's pid namespace (`/proc/self/ns/pid`), 0 if
/// unknown. Pids, and so [`ProcessIdentity::is_alive`], only mean something
/// inside one pid namespace: containers that share /dev/shm but not their
/// pid namespace must not judge each other's liveness.
pub fn pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

// Cache of this process's identity keyed by pid, so a forked child (new pid)
// recomputes it instead of inheriting the parent's.
static CURRENT: Mutex<Option<ProcessIdentity>> = Mutex::new(None);

impl ProcessIdentity {
    /// The identity of the calling process.
    pub fn current() -> ProcessIdentity {
        let pid = std::process::id();
        let mut cached = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = *cached {
            if id.pid == pid {
                return id;
            }
        }
        let start_time = proc_stat(pid).map(|s| s.start_time).unwrap_or(0);
        let id = ProcessIdentity { pid, start_time };
        *cached = Some(id);
        id
    }

    /// The identity of process `pid` now, if it exists.
    pub fn of_pid(pid: u32) -> Option<ProcessIdentity> {
        proc_stat(pid).map(|s| ProcessIdentity {
            pid,
            start_time: s.start_time,
        })
    }

    /// True if a process with this pid exists, has the same start time (so a
    /// recycled pid does not count) and is not a zombie (a zombie has exited:
    /// it holds no locks and will never release what it owned).
    pub fn is_alive(&self) -> bool {
        if self.pid == 0 {
            return false;
        }
        if self.pid == std::process::id() {
            // Ourselves: answer without /proc (works under Miri too).
            return self.start_time == ProcessIdentity::current().start_time;
        }
        match proc_stat(self.pid) {
            // start_time 0 = unknown (no /proc when it was taken): compared
            // by pid only, as documented on the field.
            Some(stat) => {
                (self.start_time == 0 || stat.start_time == self.start_time)
                    && stat.state != 'Z'
                    && stat.state != 'X'
            }
            None => false,
        }
    }
}

impl std::fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.pid, self.start_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_handles_parens_and_spaces_in_comm() {
        // comm = "a) b (c" ; fields 3.. follow the last ')'.
        let mut s = String::from("1234 (a) b (c) S");
        for i in 4..=21 {
            s.push_str(&format!(" {i}"));
        }
        s.push_str(" 987654 0 0");
        let st = parse_proc_stat(&s).unwrap();
        assert_eq!(st.state, 'S');
        assert_eq!(st.start_time, 987654);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(parse_proc_stat(""), None);
        assert_eq!(parse_proc_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_proc_stat("no parens at all"), None);
    }

    #[test]
    fn pid_namespace_is_known_here() {
        assert_ne!(pid_namespace(), 0);
        assert_eq!(pid_namespace(), pid_namespace());
    }

    #[test]
    fn current_is_alive_and_stable() {
        let me = ProcessIdentity::current();
        assert_eq!(me.pid, std::process::id());
        assert_ne!(me.start_time, 0);
        assert!(me.is_alive());
        assert_eq!(ProcessIdentity::of_pid(me.pid), Some(me));
    }

    /// What we believe our start time is must equal what another process
    /// reads from /proc for our pid (qemu-user fakes /proc/self/stat for
    /// the emulated process only; see `proc_stat`).
    #[test]
    fn own_start_time_matches_what_peers_read() {
        let me = ProcessIdentity::current();
        let out = std::process::Command::new("cat")
            .arg(format!("/proc/{}/stat", me.pid))
            .output()
            .expect("run cat");
        assert!(out.status.success());
        let peer = parse_proc_stat(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(peer.start_time, me.start_time);
        let st = proc_stat(me.pid).unwrap();
        assert!(matches!(st.state, 'R' | 'S' | 'D'), "state {:?}", st.state);
    }

    #[test]
    fn unknown_start_time_compares_by_pid() {
        let child = ProcessIdentity {
            pid: 1,
            start_time: 0,
        };
        assert!(child.is_alive());
    }

    #[test]
    fn recycled_pid_is_not_alive() {
        let me = ProcessIdentity::current();
        let impostor = ProcessIdentity {
            pid: me.pid,
            start_time: me.start_time + 1,
        };
        assert!(!impostor.is_alive());
        // pid 1 exists but with its own start time.
        let init_wrong = ProcessIdentity {
            pid: 1,
            start_time: u64::MAX,
        };
        assert!(!init_wrong.is_alive());
        assert!(!ProcessIdentity {
            pid: 0,
            start_time: 0
        }
        .is_alive());
    }

    #[test]
    fn killed_child_is_dead_even_before_reaping() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let id = ProcessIdentity::of_pid(child.id()).expect("child visible in /proc");
        assert!(id.is_alive());
        child.kill().unwrap();
        // Not reaped yet: it is a zombie (or gone); either way not alive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while id.is_alive() {
            assert!(
                std::time::Instant::now() < deadline,
                "killed child still alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(!id.is_alive());
    }
}
