//! End-to-end tests of the `renoir` binary: `info`, `ls` and `clean` against
//! regions created here, one of them with a dead creator.

use renoir_core::platform::shm;
use renoir_core::region::{Region, RegionConfig};
use std::os::unix::fs::FileExt;
use std::process::Command;

fn renoir(prefix: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_renoir"))
        .args(args)
        .env("RENOIR_SHM_PREFIX", prefix)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (out.status.success(), text)
}

#[test]
fn info_json_has_platform_facts() {
    let (ok, out) = renoir("clinfo", &["info", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["page_size"].as_u64().unwrap() >= 4096);
    assert_eq!(v["arch"], std::env::consts::ARCH);
    assert_eq!(v["shm_dir"], shm::shm_dir().display().to_string());
    assert!(v["shm_total_bytes"].as_u64().unwrap() > 0);
    assert!(v["rlimit_nofile"]["soft"].as_u64().unwrap() > 0);
    let (ok, text) = renoir("clinfo", &["info"]);
    assert!(ok && text.contains("RLIMIT_MEMLOCK") && text.contains("page size"));
}

#[test]
fn ls_and_clean_handle_dead_and_live_owners() {
    let prefix = format!("cli{}", std::process::id());
    std::env::set_var("RENOIR_SHM_PREFIX", &prefix);
    let alive =
        Region::create(&RegionConfig::new("alive", 100).annotate("topic", "/chatter")).unwrap();
    let dead = Region::create(&RegionConfig::new("dead", 100)).unwrap();
    let dead_path = dead.path().unwrap().to_path_buf();
    dead.abandon();
    // Make its creator a process that has exited.
    let mut c = Command::new("true").spawn().unwrap();
    let gone_pid = c.id();
    c.wait().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&dead_path)
        .unwrap()
        .write_all_at(&gone_pid.to_ne_bytes(), 24)
        .unwrap();

    let (ok, out) = renoir(&prefix, &["ls", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    let row = |n: &str| {
        rows.iter()
            .find(|r| r["file_name"] == format!("{prefix}_{n}"))
            .unwrap()
    };
    assert_eq!(row("alive")["creator_alive"], true);
    assert_eq!(row("alive")["creator"]["pid"], std::process::id());
    assert_eq!(row("dead")["creator_alive"], false);
    assert_eq!(row("dead")["state"], "ready");

    let (ok, table) = renoir(&prefix, &["ls"]);
    assert!(ok);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("(dead)") && table.contains("(alive)") && table.contains("topic=/chatter")
    );
    assert!(table.contains("1 region(s) reclaimable"));

    let (ok, out) = renoir(&prefix, &["clean", "--dry-run"]);
    assert!(ok && out.contains("would remove 1 region(s)"), "{out}");
    assert!(dead_path.exists());

    let (ok, out) = renoir(&prefix, &["clean", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Removed either by the registry reaper's segment sweep or by the
    // region pass that follows it.
    let removed = v["removed"].as_array().unwrap().len()
        + v["registry"]["segments_removed"].as_array().unwrap().len();
    assert_eq!(removed, 1, "{out}");
    assert_eq!(v["kept"], 1);
    assert!(!dead_path.exists());
    assert!(alive.path().unwrap().exists());

    drop(alive);
    let (ok, out) = renoir(&prefix, &["ls"]);
    assert!(ok && out.starts_with("no regions"), "{out}");
}
