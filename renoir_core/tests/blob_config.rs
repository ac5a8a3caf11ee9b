//! Configuration layers: defaults, TOML, environment, node and topic
//! patterns.

use renoir_core::config::{glob_match, parse_size, BlobConfig, ConfigError, ConfigSet};
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

const FILE: &str = r#"
[context]
pool_size = "64MiB"
chunk_size = "512KiB"

[[node]]
name = "camera_*"
checksum = false
reader_slots = 8

[[publisher]]
topic = "/camera/*/image_raw"
chunk_strategy = "adaptive"
chunk_size = "2MiB"
"#;

#[test]
fn defaults_fit_a_small_board() {
    let c = BlobConfig::default();
    assert_eq!(c.pool_size, 32 << 20);
    assert_eq!(c.chunk_size, 1 << 20);
    assert_eq!(c.chunk_capacity(), 32);
    let s = ConfigSet::from_parts(&env(&[]), None, "-").unwrap();
    assert_eq!(s.context(), &c);
}

#[test]
fn layers_resolve_context_node_publisher() {
    let s = ConfigSet::from_parts(
        &env(&[("RENOIR_CHUNK_SIZE", "256KiB"), ("RENOIR_CHECKSUM", "on")]),
        Some(FILE),
        "f.toml",
    )
    .unwrap();
    let ctx = s.context();
    assert_eq!(ctx.pool_size, 64 << 20);
    assert_eq!(ctx.chunk_size, 256 << 10, "env beats the file's context");
    assert!(ctx.checksum);
    let node = s.for_node("/robot", "camera_front").unwrap();
    assert!(!node.checksum);
    assert_eq!(node.reader_slots, 8);
    assert_eq!(s.for_node("/", "lidar").unwrap(), *ctx);
    let p = s
        .for_publisher("/robot", "camera_front", "/camera/front/image_raw")
        .unwrap();
    assert_eq!(
        (p.chunk_size, p.chunk_strategy.as_str(), p.checksum),
        (2 << 20, "adaptive", false)
    );
    let other = s
        .for_publisher("/robot", "camera_front", "/camera/front/info")
        .unwrap();
    assert_eq!(other, node);
}

#[test]
fn bad_values_are_errors() {
    assert!(matches!(
        ConfigSet::from_parts(&env(&[("RENOIR_POOL_SIZE", "lots")]), None, "-"),
        Err(ConfigError::Env { .. })
    ));
    assert!(matches!(
        ConfigSet::from_parts(&env(&[("RENOIR_CHUNK_SIZE", "3")]), None, "-"),
        Err(ConfigError::Invalid {
            key: "chunk_size",
            ..
        })
    ));
    assert!(matches!(
        ConfigSet::from_parts(&env(&[]), Some("[context]\nbogus = 1\n"), "-"),
        Err(ConfigError::Parse { .. })
    ));
    assert!(matches!(
        ConfigSet::from_parts(&env(&[]), Some("[[publisher]]\nchecksum = true\n"), "-"),
        Err(ConfigError::Parse { .. })
    ));
    assert!(matches!(
        ConfigSet::from_parts(&env(&[("RENOIR_CHUNK_STRATEGY", "random")]), None, "-"),
        Err(ConfigError::Invalid { .. })
    ));
}

#[test]
fn sizes_and_globs() {
    assert_eq!(parse_size("64MiB"), Some(64 << 20));
    assert_eq!(parse_size("10MB"), Some(10_000_000));
    assert_eq!(parse_size("123"), Some(123));
    assert_eq!(parse_size("1XB"), None);
    assert!(glob_match("/camera/*/image_raw", "/camera/front/image_raw"));
    assert!(glob_match("*", "/anything/at/all"));
    assert!(glob_match("cam?", "cam1"));
    assert!(!glob_match("cam?", "cam12"));
    assert!(!glob_match("/camera/*", "/lidar/points"));
}
