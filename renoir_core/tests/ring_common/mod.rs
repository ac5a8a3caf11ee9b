//! Shared-memory scaffolding for the ring/notify integration tests: a file
//! in /dev/shm mapped MAP_SHARED (what a region is underneath), typed views
//! into it, and re-exec of the test binary as a child process with a role.
//!
//! The only `unsafe` of the tests lives here, each block with its SAFETY
//! argument.
#![allow(dead_code)]

use memmap2::{MmapMut, MmapOptions};
use renoir_core::ShmSafe;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// Env var that turns a test binary run into a child with a role.
pub const ROLE_ENV: &str = "RENOIR_RING_CHILD_ROLE";
/// Env var carrying the shared file path to the child.
pub const PATH_ENV: &str = "RENOIR_RING_CHILD_SHM";

static COUNTER: Mutex<u32> = Mutex::new(0);

/// A shared mapping of a file in /dev/shm; the creator unlinks it on drop.
pub struct ShmArea {
    map: MmapMut,
    path: PathBuf,
    owner: bool,
}

impl ShmArea {
    /// Create a zero-filled shared file of `len` bytes, mode 0600.
    pub fn create(len: usize) -> ShmArea {
        let prefix = std::env::var("RENOIR_SHM_PREFIX").unwrap_or_else(|_| "renoir".into());
        let name = format!("{prefix}_test_ring_{}_{}", std::process::id(), {
            let mut c = COUNTER.lock().unwrap();
            *c += 1;
            *c
        });
        let path = Path::new("/dev/shm").join(name);
        use std::os::unix::fs::OpenOptionsExt;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create shm file");
        f.set_len(len as u64).expect("size shm file");
        ShmArea {
            map: map_shared(&f, len),
            path,
            owner: true,
        }
    }

    /// Map an existing area (in a child process).
    pub fn open(path: &Path) -> ShmArea {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open shm file");
        let len = f.metadata().unwrap().len() as usize;
        ShmArea {
            map: map_shared(&f, len),
            path: path.to_owned(),
            owner: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// A `&T` at `offset` (bounds and alignment checked).
    pub fn get<T: ShmSafe>(&self, offset: usize) -> &T {
        &self.slice::<T>(offset, 1)[0]
    }

    /// A `&[T]` of `n` elements at `offset` (bounds and alignment checked).
    pub fn slice<T: ShmSafe>(&self, offset: usize, n: usize) -> &[T] {
        let size = std::mem::size_of::<T>().checked_mul(n).unwrap();
        assert!(
            offset.checked_add(size).unwrap() <= self.map.len(),
            "out of bounds"
        );
        let p = self.map.as_ptr().wrapping_add(offset);
        assert_eq!(p as usize % std::mem::align_of::<T>(), 0, "misaligned");
        // SAFETY: the range [offset, offset+size) is inside the live mapping
        // (checked above) and aligned for T (checked above); the mapping lives
        // as long as `self`, which bounds the returned lifetime. T: ShmSafe
        // means every bit pattern is a valid T and T is only mutated through
        // atomics (interior mutability), so shared references are sound even
        // while other processes write the same bytes.
        unsafe { std::slice::from_raw_parts(p as *const T, n) }
    }

    /// Raw write of bytes (for corruption tests) through a volatile store.
    pub fn scribble(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.map.len());
        for (i, b) in bytes.iter().enumerate() {
            let p = self.map.as_ptr().wrapping_add(offset + i) as *mut u8;
            // SAFETY: in bounds of the live shared mapping (checked above);
            // u8 has no alignment needs. This models a hostile peer writing
            // the bytes: everything we place there is ShmSafe (all bit
            // patterns valid) and read only through atomics.
            unsafe { std::ptr::write_volatile(p, *b) };
        }
    }
}

fn map_shared(f: &std::fs::File, len: usize) -> MmapMut {
    // SAFETY: MAP_SHARED mapping of a file we opened read-write. Other
    // processes write into it concurrently; we only ever access the bytes
    // through ShmSafe types (atomics) via `get`/`slice`, never as plain
    // Rust-owned memory, so concurrent modification cannot break aliasing.
    unsafe { MmapOptions::new().len(len).map_mut(f).expect("mmap") }
}

impl Drop for ShmArea {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Round `x` up to a multiple of 64.
pub const fn align64(x: usize) -> usize {
    (x + 63) & !63
}

/// Spawn this test binary again, running only `test_name`, as a child with
/// `role`, sharing `area`.
pub fn spawn_child(test_name: &str, role: &str, area: &ShmArea, extra: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    // Under qemu user-mode emulation (aarch64 tests on an x86 host) the
    // host kernel cannot exec our binary itself: run it through the same
    // emulator. /proc/self/comm names the emulator there (qemu fakes
    // /proc/self/exe and /proc/self/stat, not comm). So these tests run
    // their children under qemu too and ignore RENOIR_NO_SPAWN.
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    let mut cmd = match comm.trim() {
        c if c.starts_with("qemu-") => {
            let mut cmd = Command::new(c);
            // The guest's loader prefix: from QEMU_LD_PREFIX (inherited), or
            // the Debian cross sysroot the CI runner passes with `-L`.
            let arch = c.trim_start_matches("qemu-");
            let sysroot = format!("/usr/{arch}-linux-gnu");
            if std::env::var_os("QEMU_LD_PREFIX").is_none() && Path::new(&sysroot).is_dir() {
                cmd.args(["-L", &sysroot]);
            }
            cmd.arg(&exe);
            cmd
        }
        _ => Command::new(&exe),
    };
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env(PATH_ENV, area.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// In a child: the role it was started with, if any.
pub fn child_role() -> Option<(String, PathBuf)> {
    let role = std::env::var(ROLE_ENV).ok()?;
    let path = PathBuf::from(std::env::var(PATH_ENV).ok()?);
    Some((role, path))
}

/// Wait for a child with a deadline; kill it and fail if it overruns.
pub fn wait_child(mut c: Child, secs: u64) -> (std::process::ExitStatus, String) {
    let t = std::time::Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            let mut out = String::new();
            use std::io::Read;
            if let Some(mut o) = c.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            return (st, out);
        }
        if t.elapsed().as_secs() >= secs {
            let _ = c.kill();
            let _ = c.wait();
            panic!("child did not finish within {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Read a `key=value` line printed by a child.
pub fn child_value(out: &str, key: &str) -> Option<u64> {
    // With --nocapture the harness may print "test child ... " on the same
    // line, so look at every whitespace-separated token.
    out.split_whitespace()
        .filter_map(|t| t.strip_prefix(&format!("{key}=")))
        .filter_map(|v| v.parse().ok())
        .next_back()
}
