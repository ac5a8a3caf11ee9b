//! Large-payload configuration: defaults, `RENOIR_*` environment variables
//! and an optional TOML file (`RENOIR_CONFIG=path`), resolved
//! context → node → publisher (topic glob patterns).
//!
//! Precedence, lowest first: built-in defaults, the file's `[context]`
//! table, environment variables, matching `[[node]]` entries (in file
//! order), matching `[[publisher]]` entries (in file order). The table of
//! keys is in docs/large-payloads.md.
//!
//! ```toml
//! [context]
//! pool_size = "64MiB"
//! chunk_size = "1MiB"
//!
//! [[node]]
//! name = "camera_*"
//! checksum = false
//!
//! [[publisher]]
//! topic = "/camera/*/image_raw"
//! chunk_strategy = "adaptive"
//! ```

use crate::blob::{ChunkStrategy, ReclaimPolicy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The effective large-payload settings for one context, node or publisher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlobConfig {
    /// Bytes of chunk storage per publisher store.
    pub pool_size: u64,
    /// Inline-slot cap: a publisher whose payload hint is above this (at
    /// most 256 KiB) gets small inline slots, and each large sample goes to
    /// its own contiguous large-sample segment (zero copy for readers).
    pub large_threshold: u64,
    /// Largest contiguous pool slot of a topic: samples published with
    /// `publish_bytes` above this size are split into chunks.
    pub max_slot_size: u64,
    /// Bytes per chunk (pool block size).
    pub chunk_size: u64,
    /// "fixed" or "adaptive".
    pub chunk_strategy: String,
    /// Reader watermark slots per store.
    pub reader_slots: u32,
    pub reclaim_interval_ms: u64,
    pub reclaim_max_age_ms: u64,
    pub reclaim_force: bool,
    /// Write and verify payload checksums.
    pub checksum: bool,
    /// Samples in large-sample segments at least this big are published
    /// streaming (`Publisher::publish_streaming`): readers are woken
    /// before the copy into shared memory starts and copy behind it, so
    /// the publisher's and the subscriber's copies overlap. 0 = never.
    pub stream_threshold: u64,
}

impl Default for BlobConfig {
    /// Defaults sized for a 4 GB board with a 64 MiB /dev/shm (Docker):
    /// 32 MiB of chunks per large-payload publisher holds five 6.2 MB
    /// frames or one 25 MB frame in flight.
    fn default() -> Self {
        BlobConfig {
            pool_size: 32 << 20,
            large_threshold: 256 << 10,
            max_slot_size: 64 << 20,
            chunk_size: 1 << 20,
            chunk_strategy: "fixed".into(),
            reader_slots: 32,
            reclaim_interval_ms: 10,
            reclaim_max_age_ms: 1000,
            reclaim_force: true,
            checksum: cfg!(debug_assertions),
            stream_threshold: 1 << 20,
        }
    }
}

impl BlobConfig {
    pub fn strategy(&self) -> ChunkStrategy {
        if self.chunk_strategy == "adaptive" {
            ChunkStrategy::Adaptive
        } else {
            ChunkStrategy::Fixed(self.chunk_size.min(u64::from(u32::MAX)) as u32)
        }
    }
    pub fn policy(&self) -> ReclaimPolicy {
        ReclaimPolicy {
            check_interval: Duration::from_millis(self.reclaim_interval_ms),
            max_age: Duration::from_millis(self.reclaim_max_age_ms),
            forced_cleanup: self.reclaim_force,
        }
    }
    /// Chunk blocks in a pool of `pool_size` bytes.
    pub fn chunk_capacity(&self) -> u32 {
        (self.pool_size / self.chunk_size.max(64)).clamp(1, 1 << 20) as u32
    }

    fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        if let Some(v) = &o.pool_size {
            self.pool_size = v.bytes("pool_size")?;
        }
        if let Some(v) = &o.large_threshold {
            self.large_threshold = v.bytes("large_threshold")?;
        }
        if let Some(v) = &o.max_slot_size {
            self.max_slot_size = v.bytes("max_slot_size")?;
        }
        if let Some(v) = &o.stream_threshold {
            self.stream_threshold = v.bytes("stream_threshold")?;
        }
        if let Some(v) = &o.chunk_size {
            self.chunk_size = v.bytes("chunk_size")?;
        }
        if let Some(v) = &o.chunk_strategy {
            self.chunk_strategy = v.clone();
        }
        if let Some(v) = o.reader_slots {
            self.reader_slots = v;
        }
        if let Some(v) = o.reclaim_interval_ms {
            self.reclaim_interval_ms = v;
        }
        if let Some(v) = o.reclaim_max_age_ms {
            self.reclaim_max_age_ms = v;
        }
        if let Some(v) = o.reclaim_force {
            self.reclaim_force = v;
        }
        if let Some(v) = o.checksum {
            self.checksum = v;
        }
        self.check()
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &'static str, why: String| Err(ConfigError::Invalid { key, why });
        if !(64..=1 << 30).contains(&self.chunk_size) {
            return bad(
                "chunk_size",
                format!("{} not in 64..=1GiB", self.chunk_size),
            );
        }
        if self.max_slot_size > 1 << 30 {
            return bad(
                "max_slot_size",
                format!("{} above 1GiB", self.max_slot_size),
            );
        }
        if self.pool_size < self.chunk_size {
            return bad("pool_size", format!("{} below chunk_size", self.pool_size));
        }
        if !matches!(self.chunk_strategy.as_str(), "fixed" | "adaptive") {
            return bad(
                "chunk_strategy",
                format!("{:?} (fixed|adaptive)", self.chunk_strategy),
            );
        }
        if !(1..=1024).contains(&self.reader_slots) {
            return bad(
                "reader_slots",
                format!("{} not in 1..=1024", self.reader_slots),
            );
        }
        Ok(())
    }
}

/// A size: an integer of bytes or a string like "64MiB", "512KiB", "1GiB".
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    fn bytes(&self, key: &'static str) -> Result<u64, ConfigError> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(s) => parse_size(s).ok_or(ConfigError::Invalid {
                key,
                why: format!("size {s:?}"),
            }),
        }
    }
}

/// Parse "123", "64KiB", "1MiB", "2GiB", "10KB", "1MB" (binary and decimal).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Optional values of one configuration layer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub pool_size: Option<Size>,
    pub large_threshold: Option<Size>,
    pub max_slot_size: Option<Size>,
    pub chunk_size: Option<Size>,
    pub chunk_strategy: Option<String>,
    pub reader_slots: Option<u32>,
    pub reclaim_interval_ms: Option<u64>,
    pub reclaim_max_age_ms: Option<u64>,
    pub reclaim_force: Option<bool>,
    pub checksum: Option<bool>,
    pub stream_threshold: Option<Size>,
}

#[derive(Clone, Debug, Deserialize)]
struct Patterned {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(flatten)]
    values: toml::Table,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    context: Option<Overrides>,
    #[serde(default)]
    node: Vec<Patterned>,
    #[serde(default)]
    publisher: Vec<Patterned>,
}

/// Configuration could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {why}")]
    Read { path: String, why: String },
    #[error("config file {path}: {why}")]
    Parse { path: String, why: String },
    #[error("environment variable {var}={value:?}: {why}")]
    Env {
        var: &'static str,
        value: String,
        why: String,
    },
    #[error("invalid {key}: {why}")]
    Invalid { key: &'static str, why: String },
}

/// Environment variables, in the order they are documented.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("RENOIR_CONFIG", "path of an optional TOML file"),
    ("RENOIR_POOL_SIZE", "pool_size"),
    ("RENOIR_LARGE_THRESHOLD", "large_threshold"),
    ("RENOIR_MAX_SLOT_SIZE", "max_slot_size"),
    ("RENOIR_CHUNK_SIZE", "chunk_size"),
    ("RENOIR_CHUNK_STRATEGY", "chunk_strategy"),
    ("RENOIR_READER_SLOTS", "reader_slots"),
    ("RENOIR_RECLAIM_INTERVAL_MS", "reclaim_interval_ms"),
    ("RENOIR_RECLAIM_MAX_AGE_MS", "reclaim_max_age_ms"),
    ("RENOIR_RECLAIM_FORCE", "reclaim_force"),
    ("RENOIR_CHECKSUM", "checksum"),
    ("RENOIR_STREAM_THRESHOLD", "stream_threshold"),
];

fn env_overrides(env: &dyn Fn(&str) -> Option<String>) -> Result<Overrides, ConfigError> {
    let mut o = Overrides::default();
    let err = |var: &'static str, value: &str, why: &str| ConfigError::Env {
        var,
        value: value.into(),
        why: why.into(),
    };
    let size = |var: &'static str| -> Result<Option<Size>, ConfigError> {
        match env(var) {
            None => Ok(None),
            Some(v) => parse_size(&v)
                .map(|n| Some(Size::Bytes(n)))
                .ok_or_else(|| err(var, &v, "not a size")),
        }
    };
    let num = |var: &'static str| -> Result<Option<u64>, ConfigError> {
        match env(var) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| err(var, &v, "not a number")),
        }
    };
    let flag = |var: &'static str| -> Result<Option<bool>, ConfigError> {
        match env(var).as_deref().map(str::trim) {
            None => Ok(None),
            Some("1" | "true" | "on" | "yes") => Ok(Some(true)),
            Some("0" | "false" | "off" | "no") => Ok(Some(false)),
            Some(v) => Err(err(var, v, "not a boolean")),
        }
    };
    o.pool_size = size("RENOIR_POOL_SIZE")?;
    o.large_threshold = size("RENOIR_LARGE_THRESHOLD")?;
    o.max_slot_size = size("RENOIR_MAX_SLOT_SIZE")?;
    o.stream_threshold = size("RENOIR_STREAM_THRESHOLD")?;
    o.chunk_size = size("RENOIR_CHUNK_SIZE")?;
    o.chunk_strategy = env("RENOIR_CHUNK_STRATEGY");
    o.reader_slots = num("RENOIR_READER_SLOTS")?
        .map(|n| {
            u32::try_from(n).map_err(|_| err("RENOIR_READER_SLOTS", &n.to_string(), "too large"))
        })
        .transpose()?;
    o.reclaim_interval_ms = num("RENOIR_RECLAIM_INTERVAL_MS")?;
    o.reclaim_max_age_ms = num("RENOIR_RECLAIM_MAX_AGE_MS")?;
    o.reclaim_force = flag("RENOIR_RECLAIM_FORCE")?;
    o.checksum = flag("RENOIR_CHECKSUM")?;
    Ok(o)
}

/// Shell-style glob: `*` any run of characters (including `/`), `?` one
/// character; everything else literal; the whole string must match.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, usize::MAX, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = pi;
            mark = ti;
            pi += 1;
        } else if star != usize::MAX {
            pi = star + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The loaded layers; resolve per node / publisher.
#[derive(Clone, Debug)]
pub struct ConfigSet {
    context: BlobConfig,
    nodes: Vec<(String, Overrides)>,
    publishers: Vec<(String, Overrides)>,
    /// Where the file came from, if any.
    pub file: Option<String>,
}

impl ConfigSet {
    /// From the process environment (and `RENOIR_CONFIG`, if set).
    pub fn load() -> Result<ConfigSet, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        let file = env("RENOIR_CONFIG");
        let text = match &file {
            Some(path) => Some(
                std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: path.clone(),
                    why: e.to_string(),
                })?,
            ),
            None => None,
        };
        let mut set =
            ConfigSet::from_parts(&env, text.as_deref(), file.as_deref().unwrap_or("<none>"))?;
        set.file = file;
        Ok(set)
    }

    /// From an environment lookup and optional TOML text (for tests).
    pub fn from_parts(
        env: &dyn Fn(&str) -> Option<String>,
        toml_text: Option<&str>,
        path: &str,
    ) -> Result<ConfigSet, ConfigError> {
        let perr = |why: String| ConfigError::Parse {
            path: path.into(),
            why,
        };
        let file: FileConfig = match toml_text {
            Some(t) => toml::from_str(t).map_err(|e| perr(e.to_string()))?,
            None => FileConfig::default(),
        };
        let mut context = BlobConfig::default();
        if let Some(o) = &file.context {
            context.apply(o)?;
        }
        context.apply(&env_overrides(env)?)?;
        let layer =
            |list: &[Patterned], key: &str| -> Result<Vec<(String, Overrides)>, ConfigError> {
                list.iter()
                    .map(|p| {
                        let pat = if key == "name" {
                            p.name.clone()
                        } else {
                            p.topic.clone()
                        };
                        let pat = pat.ok_or_else(|| perr(format!("an entry lacks `{key}`")))?;
                        let o: Overrides = p
                            .values
                            .clone()
                            .try_into()
                            .map_err(|e: toml::de::Error| perr(e.to_string()))?;
                        Ok((pat, o))
                    })
                    .collect()
            };
        Ok(ConfigSet {
            nodes: layer(&file.node, "name")?,
            publishers: layer(&file.publisher, "topic")?,
            context,
            file: None,
        })
    }

    /// The process-wide settings.
    pub fn context(&self) -> &BlobConfig {
        &self.context
    }

    /// Settings for node `name` (matched against the bare name and the
    /// fully qualified `/namespace/name`).
    pub fn for_node(&self, namespace: &str, name: &str) -> Result<BlobConfig, ConfigError> {
        let fq = format!("{}/{}", namespace.trim_end_matches('/'), name);
        let mut c = self.context.clone();
        for (pat, o) in &self.nodes {
            if glob_match(pat, name) || glob_match(pat, &fq) {
                c.apply(o)?;
            }
        }
        Ok(c)
    }

    /// Settings for a publisher of `topic` on node `name`.
    pub fn for_publisher(
        &self,
        namespace: &str,
        name: &str,
        topic: &str,
    ) -> Result<BlobConfig, ConfigError> {
        let mut c = self.for_node(namespace, name)?;
        for (pat, o) in &self.publishers {
            if glob_match(pat, topic) {
                c.apply(o)?;
            }
        }
        Ok(c)
    }

    /// Patterns of the node and publisher layers (for `renoir info`).
    pub fn patterns(&self) -> (Vec<String>, Vec<String>) {
        (
            self.nodes.iter().map(|(p, _)| p.clone()).collect(),
            self.publishers.iter().map(|(p, _)| p.clone()).collect(),
        )
    }
}
