//! `renoir schema ls` (the real binary) on schema regions in shared memory:
//! a type version published by this (live) process is listed with its type,
//! version and fields; a region whose blob is not a registry is listed as
//! unreadable and makes the exit code 1; other domains are filtered out.

use renoir_core::schema::examples::sensor_v1_0;
use renoir_core::schema::shm::{create_region, hash_build, region_name};
use renoir_core::schema::{SchemaRegistry, Version};
use std::process::Command;

fn renoir(prefix: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_renoir"))
        .args(args)
        .env("RENOIR_SHM_PREFIX", prefix)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn schema_ls_lists_published_type_versions() {
    let prefix = format!("clibus{}", std::process::id());
    std::env::set_var("RENOIR_SHM_PREFIX", &prefix);
    let hash = [0xabu8; 32];
    let mut s = sensor_v1_0();
    s.version = Version::parse(&format!("1.0.0+{}", hash_build(&hash))).unwrap();
    let mut reg = SchemaRegistry::new();
    reg.register(s).unwrap();
    let me = std::process::id();
    let good = create_region(&region_name(7, me, &hash), &reg.to_blob()).unwrap();

    let (code, out) = renoir(&prefix, &["schema", "ls", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["domain"], 7);
    assert_eq!(rows[0]["type"], "demo/SensorReading");
    assert_eq!(
        rows[0]["version"].as_str().unwrap(),
        format!("1.0.0+{}", hash_build(&hash))
    );
    assert_eq!(rows[0]["pid"], me);
    assert_eq!(rows[0]["alive"], true);
    assert_eq!(rows[0]["fields"], serde_json::json!(["timestamp", "value"]));

    let (code, table) = renoir(&prefix, &["schema", "ls"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("demo/SensorReading") && table.contains("timestamp, value"),
        "{table}"
    );

    // A region whose bytes are not a registry blob: listed, exit code 1.
    let bad_hash = [0x11u8; 32];
    let bad = create_region(&region_name(8, me, &bad_hash), b"not a registry blob").unwrap();
    let (code, out) = renoir(&prefix, &["schema", "ls", "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let broken: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["error"].is_string())
        .collect();
    assert_eq!(broken.len(), 1, "{out}");
    assert_eq!(broken[0]["domain"], 8);

    // --domain filters.
    let (code, out) = renoir(&prefix, &["schema", "ls", "--json", "--domain", "7"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    drop(good);
    drop(bad);
    let (code, out) = renoir(&prefix, &["schema", "ls"]);
    assert_eq!(code, 0);
    assert!(out.contains("no schema regions"), "{out}");
}
