//! Files that back shared memory: where they live, how they are named, how
//! they are created (exclusively, with a mode) and how their memory is
//! reserved up front.
//!
//! - `RENOIR_SHM_DIR` (default `/dev/shm`) is the directory of named segments.
//!   Opening `<dir>/<name>` is exactly what glibc's `shm_open` does for
//!   `/dev/shm`; doing it ourselves lets tests point at a tiny tmpfs.
//! - `RENOIR_SHM_PREFIX` (default `renoir`) starts every file name, so
//!   parallel tests (each with its own prefix) never see each other's files.
//! - Memory is reserved with `posix_fallocate` when a segment is created: a
//!   full tmpfs then answers `ENOSPC` right away instead of killing us with
//!   `SIGBUS` on first touch of a page much later.
//!
//! No `unsafe` here: nix and std wrap every call used.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Default directory of named segments.
pub const DEFAULT_SHM_DIR: &str = "/dev/shm";
/// Default file-name prefix.
pub const DEFAULT_PREFIX: &str = "renoir";
/// Longest accepted segment name (file name including prefix); NAME_MAX is 255.
pub const MAX_NAME_LEN: usize = 200;

/// `RENOIR_SHM_DIR` or `/dev/shm`.
pub fn shm_dir() -> PathBuf {
    match std::env::var_os("RENOIR_SHM_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_SHM_DIR),
    }
}

/// `RENOIR_SHM_PREFIX` or `renoir`. Invalid prefixes (containing `/` or
/// other characters not allowed in names) fall back to the default.
pub fn prefix() -> String {
    match std::env::var("RENOIR_SHM_PREFIX") {
        Ok(p) if !p.is_empty() && validate_name(&p).is_ok() => p,
        _ => DEFAULT_PREFIX.to_string(),
    }
}

/// The file name of logical segment `name`: `<prefix>_<name>`.
/// A leading `/` (POSIX shm style) is ignored.
pub fn file_name(name: &str) -> String {
    format!("{}_{}", prefix(), name.trim_start_matches('/'))
}

/// Names are single path components made of `[A-Za-z0-9._-]`, not starting
/// with a dot, at most [`MAX_NAME_LEN`] bytes.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("name longer than {MAX_NAME_LEN} bytes"));
    }
    if name.starts_with('.') {
        return Err("name starts with '.'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!("character {c:?} not allowed in a name"));
    }
    Ok(())
}

/// Create `path` exclusively (`O_CREAT|O_EXCL`, `O_NOFOLLOW`, close-on-exec)
/// with exactly `mode` (the umask is undone with `fchmod`).
pub fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(file)
}

/// Open an existing segment file; refuses symlinks and non-regular files.
/// `O_NONBLOCK` so that a FIFO planted under a segment name cannot block the
/// opener (it has no effect on regular files).
pub fn open_existing(path: &Path, writable: bool) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(writable)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// An anonymous memory file (`memfd_create`, close-on-exec). Other processes
/// reach it through `/proc/<pid>/fd/<fd>` while this process keeps it open.
pub fn memfd(name: &str) -> io::Result<File> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let cname = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))?;
    let fd: OwnedFd =
        memfd_create(&cname, MemFdCreateFlag::MFD_CLOEXEC).map_err(io::Error::from)?;
    Ok(File::from(fd))
}

/// The path another process uses to open memfd `file` of this process.
pub fn memfd_path(file: &File) -> PathBuf {
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        file.as_raw_fd()
    ))
}

/// Why reserving memory failed.
#[derive(Debug)]
pub enum ReserveError {
    /// The filesystem has less than `needed` bytes free.
    NoSpace {
        needed: u64,
        free: u64,
    },
    /// The size does not fit the file system / off_t.
    TooLarge {
        needed: u64,
    },
    Io(io::Error),
}

/// Reserve `len` bytes of `file` (extends it to `len`). On tmpfs this
/// allocates the pages now, so later writes cannot hit SIGBUS.
pub fn reserve(file: &File, len: u64) -> Result<(), ReserveError> {
    let Ok(off_len) = libc::off_t::try_from(len) else {
        return Err(ReserveError::TooLarge { needed: len });
    };
    match nix::fcntl::posix_fallocate(file.as_raw_fd(), 0, off_len) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ENOSPC) => Err(ReserveError::NoSpace {
            needed: len,
            free: free_bytes_fd(file).unwrap_or(0),
        }),
        Err(nix::errno::Errno::EFBIG) => Err(ReserveError::TooLarge { needed: len }),
        // Some filesystems (and old kernels' memfd) cannot fallocate: fall
        // back to ftruncate and accept the lazy allocation there.
        Err(nix::errno::Errno::EOPNOTSUPP) | Err(nix::errno::Errno::EINVAL) => {
            file.set_len(len).map_err(ReserveError::Io)
        }
        Err(e) => Err(ReserveError::Io(io::Error::from(e))),
    }
}

/// Bytes available to unprivileged users on the filesystem holding `file`.
pub fn free_bytes_fd(file: &File) -> io::Result<u64> {
    let st = nix::sys::statvfs::fstatvfs(file).map_err(io::Error::from)?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

/// (total, free) bytes of the filesystem at `path`.
pub fn fs_space(path: &Path) -> io::Result<(u64, u64)> {
    let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    let frag = st.fragment_size() as u64;
    Ok((
        (st.blocks() as u64).saturating_mul(frag),
        (st.blocks_available() as u64).saturating_mul(frag),
    ))
}

/// Identity of a file for "is this path still the file I created" checks.
pub fn file_key(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Unlink `path` only if it is still the file `file` (same device+inode), so
/// a creator never deletes a newer segment that reused its name.
pub fn unlink_if_same(path: &Path, file: &File) -> io::Result<bool> {
    let mine = file_key(&file.metadata()?);
    match std::fs::symlink_metadata(path) {
        Ok(m) if file_key(&m) == mine => {
            std::fs::remove_file(path)?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// System page size.
pub fn page_size() -> usize {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(n)) if n > 0 => n as usize,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(validate_name("renoir_0_registry").is_ok());
        assert!(validate_name("a.b-c_D9").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("../etc").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(".hidden").is_err());
        assert!(validate_name("sp ace").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn create_exclusive_sets_mode_and_refuses_existing() {
        let dir = std::env::temp_dir().join(format!("renoir_shm_t_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let _ = std::fs::remove_file(&p);
        let f = create_exclusive(&p, 0o600).unwrap();
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        let again = create_exclusive(&p, 0o600).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        reserve(&f, 8192).map_err(|e| format!("{e:?}")).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 8192);
        assert!(unlink_if_same(&p, &f).unwrap());
        assert!(!p.exists());
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn page_size_is_power_of_two() {
        assert!(page_size().is_power_of_two());
        assert!(page_size() >= 4096);
    }
}
