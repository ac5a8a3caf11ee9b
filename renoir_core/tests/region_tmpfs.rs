//! A tiny tmpfs (1 MiB) as the shm directory: creating a region that does
//! not fit must fail at creation with `NoSpace` naming the bytes needed and
//! free (not SIGBUS later), an absurd size must fail cleanly, and nothing may
//! be left behind. Needs root (mount); skips with a printed reason otherwise.

use renoir_core::platform::shm;
use renoir_core::region::{Backend, CreateError, Region, RegionConfig};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Mount(PathBuf);

impl Mount {
    fn tiny() -> Result<Mount, String> {
        let dir = std::env::temp_dir().join(format!("renoir_tmpfs_{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1M,mode=0700", "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Mount(dir))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

#[test]
fn tiny_tmpfs_fails_at_creation_with_sizes() {
    let m = match Mount::tiny() {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED tiny_tmpfs_fails_at_creation_with_sizes: {why}");
            return;
        }
    };
    // This binary's only test: setting the env is race-free here.
    std::env::set_var("RENOIR_SHM_DIR", &m.0);
    std::env::set_var("RENOIR_SHM_PREFIX", format!("rtf{}", std::process::id()));
    assert_eq!(shm::shm_dir(), m.0);

    for backend in [Backend::Shm, Backend::File(m.0.clone())] {
        // Fits: 256 KiB.
        let ok = Region::create(&RegionConfig::new("fits", 256 * 1024).backend(backend.clone()))
            .unwrap();
        // SAFETY: this test owns the region; touching every byte proves the
        // memory is really there (no SIGBUS).
        unsafe { ok.bytes_mut(ok.payload_offset(), ok.payload_len()).unwrap() }.fill(1);

        // Does not fit: 4 MiB.
        let e = Region::create(&RegionConfig::new("big", 4 << 20).backend(backend.clone()))
            .unwrap_err();
        match &e {
            CreateError::NoSpace { needed, free, dir } => {
                assert!(*needed >= 4 << 20, "needed {needed}");
                assert!(*free < 1 << 20, "free {free}");
                assert_eq!(dir, &m.0);
                let msg = e.to_string();
                assert!(
                    msg.contains(&needed.to_string()) && msg.contains(&free.to_string()),
                    "{msg}"
                );
            }
            other => panic!("expected NoSpace, got {other:?}"),
        }

        // Absurd: 1 TiB.
        let e = Region::create(&RegionConfig::new("absurd", 1 << 40).backend(backend.clone()))
            .unwrap_err();
        assert!(
            matches!(
                e,
                CreateError::NoSpace { .. } | CreateError::TooLarge { .. }
            ),
            "{e:?}"
        );
        // Only the region that fit is there; failed creations left nothing.
        let left = entries(&m.0);
        assert_eq!(left.len(), 1, "{left:?}");
        drop(ok);
        assert_eq!(entries(&m.0), Vec::<String>::new());
    }
}
