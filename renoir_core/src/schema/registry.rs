//! In-process registry of schema versions, its JSON file form and its
//! shared-memory blob form.
//!
//! The blob ([`SchemaRegistry::to_blob`] / [`SchemaRegistry::from_blob`]) is
//! what the registry/topic layer places in a shared region: plain bytes, no
//! pointers. [`SchemaRegistry::from_blob`] treats its input as untrusted
//! (every length bounded and checked, a checksum, every schema validated) and
//! returns an error, never panics. Layout: docs/schema-evolution.md.

use std::collections::BTreeMap;
use std::path::Path;

use semver::Version;
use thiserror::Error;

use super::compat::{compare, Compatibility, Level};
use super::file::SchemaDoc;
use super::migrate::{MigrationChain, MigrationPlan, MigrationRules, PlanError};
use super::model::{Schema, TypeResolver};

/// Blob magic, bytes 0..8.
pub const BLOB_MAGIC: [u8; 8] = *b"RNRSCHEM";
/// Blob layout version, bytes 8..12.
pub const BLOB_VERSION: u32 = 1;
/// Size of the fixed blob header.
pub const BLOB_HEADER_LEN: usize = 32;
/// Largest blob accepted (header included).
pub const MAX_BLOB_LEN: usize = 16 << 20;
/// Most schemas a blob may hold.
pub const MAX_BLOB_SCHEMAS: u32 = 65_536;
/// Largest single schema record (JSON bytes).
pub const MAX_RECORD_LEN: u32 = 1 << 20;

/// Errors of [`SchemaRegistry::register`] and friends.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegisterError {
    #[error("schema {key} is invalid: {detail}")]
    Invalid { key: String, detail: String },
    #[error("schema {key} is already registered with different content")]
    Conflict { key: String },
    #[error("schema {key} is {level} with latest {latest}, required {required}: {reasons}")]
    Incompatible {
        key: String,
        latest: String,
        level: Level,
        required: Requirement,
        reasons: String,
    },
}

/// What [`SchemaRegistry::register_checked`] demands of a new version
/// relative to the latest registered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    None,
    Backward,
    Forward,
    Full,
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Requirement::None => "none",
            Requirement::Backward => "backward",
            Requirement::Forward => "forward",
            Requirement::Full => "full",
        })
    }
}

/// Errors of the registry's JSON file form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PersistError {
    #[error("{path}: {detail}")]
    Io { path: String, detail: String },
    #[error("registry JSON: {detail}")]
    Json { detail: String },
    #[error("registry JSON holds an unacceptable schema: {detail}")]
    Register { detail: String },
}

/// Errors of [`SchemaRegistry::from_blob`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlobError {
    #[error("blob of {len} bytes is shorter than the {BLOB_HEADER_LEN}-byte header")]
    TooShort { len: usize },
    #[error("blob of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("bad blob magic")]
    BadMagic,
    #[error("unsupported blob layout version {found} (supported: {BLOB_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("nonzero reserved header bytes")]
    BadReserved,
    #[error("header declares {declared} payload bytes, blob holds {actual}")]
    LengthMismatch { declared: u64, actual: usize },
    #[error("header declares {count} schemas, limit {max}")]
    TooManySchemas { count: u32, max: u32 },
    #[error("payload checksum mismatch (header {expected:#018x}, computed {computed:#018x})")]
    Checksum { expected: u64, computed: u64 },
    #[error("record {index} at payload offset {offset}: {detail}")]
    BadRecord {
        index: u32,
        offset: usize,
        detail: String,
    },
    #[error("{extra} bytes after the last record")]
    TrailingBytes { extra: usize },
    #[error("record {index}: {detail}")]
    Rejected { index: u32, detail: String },
}

/// Schemas by name, then by version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaRegistry {
    schemas: BTreeMap<String, BTreeMap<Version, Schema>>,
}

impl TypeResolver for SchemaRegistry {
    /// Nested types resolve to their latest version.
    fn resolve(&self, name: &str) -> Option<&Schema> {
        self.latest(name)
    }
}

/// FNV-1a, 64-bit: the blob's payload checksum (detects torn or scribbled
/// bytes; not a defence against a deliberate forger, validation is).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}
fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

impl SchemaRegistry {
    pub fn new() -> SchemaRegistry {
        SchemaRegistry::default()
    }

    /// Adds a schema after validating it. Registering the same name and
    /// version again is a no-op when the content is equal, a `Conflict` otherwise.
    pub fn register(&mut self, schema: Schema) -> Result<(), RegisterError> {
        schema.validate().map_err(|e| RegisterError::Invalid {
            key: schema.key(),
            detail: e.to_string(),
        })?;
        let versions = self.schemas.entry(schema.name.clone()).or_default();
        match versions.get(&schema.version) {
            Some(existing) if *existing == schema => Ok(()),
            Some(_) => Err(RegisterError::Conflict { key: schema.key() }),
            None => {
                versions.insert(schema.version.clone(), schema);
                Ok(())
            }
        }
    }

    /// Registers `schema` only if it meets `required` against the latest
    /// registered version of its name (if any, and if older). Returns the
    /// comparison (level `Identical` when it is the first version).
    pub fn register_checked(
        &mut self,
        schema: Schema,
        required: Requirement,
    ) -> Result<Compatibility, RegisterError> {
        let c = match self.latest(&schema.name) {
            Some(latest) if latest.version < schema.version => {
                let c = compare(latest, &schema);
                let ok = match required {
                    Requirement::None => true,
                    Requirement::Backward => c.is_backward(),
                    Requirement::Forward => c.is_forward(),
                    Requirement::Full => c.is_backward() && c.is_forward(),
                };
                if !ok {
                    return Err(RegisterError::Incompatible {
                        key: schema.key(),
                        latest: latest.key(),
                        level: c.level,
                        required,
                        reasons: c
                            .reasons
                            .iter()
                            .map(|r| r.message.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                    });
                }
                c
            }
            _ => Compatibility {
                level: Level::Identical,
                reasons: Vec::new(),
            },
        };
        self.register(schema)?;
        Ok(c)
    }

    pub fn get(&self, name: &str, version: &Version) -> Option<&Schema> {
        self.schemas.get(name)?.get(version)
    }
    pub fn latest(&self, name: &str) -> Option<&Schema> {
        self.schemas.get(name)?.values().next_back()
    }
    /// Versions of `name`, ascending.
    pub fn versions(&self, name: &str) -> Vec<&Version> {
        self.schemas
            .get(name)
            .map(|v| v.keys().collect())
            .unwrap_or_default()
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.schemas.keys().map(String::as_str)
    }
    /// Every schema, by name then version.
    pub fn iter(&self) -> impl Iterator<Item = &Schema> {
        self.schemas.values().flat_map(|v| v.values())
    }
    /// Number of (name, version) entries.
    pub fn len(&self) -> usize {
        self.schemas.values().map(BTreeMap::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }

    /// A plan between two registered versions.
    pub fn plan(
        &self,
        name: &str,
        from: &Version,
        to: &Version,
        rules: &MigrationRules,
    ) -> Result<MigrationPlan, PlanError> {
        let missing = |v: &Version| PlanError::InvalidSchema {
            which: "registered",
            key: format!("{name}@{v}"),
            detail: "not registered".into(),
        };
        let old = self.get(name, from).ok_or_else(|| missing(from))?;
        let new = self.get(name, to).ok_or_else(|| missing(to))?;
        MigrationPlan::with_rules(old, new, rules)
    }

    /// A chain through every registered version from `from` to `to`
    /// (ascending); `rules(a, b)` gives the rules for the step a -> b.
    pub fn chain(
        &self,
        name: &str,
        from: &Version,
        to: &Version,
        rules: impl Fn(&Version, &Version) -> MigrationRules,
    ) -> Result<MigrationChain, PlanError> {
        let path: Vec<&Version> = self
            .versions(name)
            .into_iter()
            .filter(|v| *v >= from && *v <= to)
            .collect();
        if path.first() != Some(&from) || path.last() != Some(&to) || path.len() < 2 {
            return Err(PlanError::InvalidSchema {
                which: "registered",
                key: format!("{name}@{from}..{to}"),
                detail: "both ends must be registered, from < to".into(),
            });
        }
        let plans = path
            .windows(2)
            .map(|w| self.plan(name, w[0], w[1], &rules(w[0], w[1])))
            .collect::<Result<Vec<_>, _>>()?;
        MigrationChain::new(plans).map_err(|e| PlanError::InvalidSchema {
            which: "chain",
            key: name.to_string(),
            detail: e.to_string(),
        })
    }

    /// The JSON form: `{"schemas": [<schema>, ...]}` (schemas as in schema files).
    pub fn to_json(&self) -> String {
        let doc = RegistryDoc {
            schemas: self.iter().map(SchemaDoc::from).collect(),
        };
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| String::from("{\"schemas\":[]}"))
    }

    pub fn from_json(text: &str) -> Result<SchemaRegistry, PersistError> {
        let doc: RegistryDoc = serde_json::from_str(text).map_err(|e| PersistError::Json {
            detail: e.to_string(),
        })?;
        let mut reg = SchemaRegistry::new();
        for d in doc.schemas {
            let s = Schema::try_from(d).map_err(|e| PersistError::Register {
                detail: e.to_string(),
            })?;
            reg.register(s).map_err(|e| PersistError::Register {
                detail: e.to_string(),
            })?;
        }
        Ok(reg)
    }

    /// Writes the JSON form to `path` (via a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), PersistError> {
        let io = |e: std::io::Error| PersistError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_json()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<SchemaRegistry, PersistError> {
        let text = std::fs::read_to_string(path).map_err(|e| PersistError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::from_json(&text)
    }

    /// Serializes into the shared-memory blob (layout in docs/schema-evolution.md).
    pub fn to_blob(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        let mut count: u32 = 0;
        for s in self.iter() {
            let json = serde_json::to_vec(&SchemaDoc::from(s)).unwrap_or_default();
            payload.extend_from_slice(&(json.len() as u32).to_le_bytes());
            payload.extend_from_slice(&json);
            count += 1;
        }
        let mut out = Vec::with_capacity(BLOB_HEADER_LEN + payload.len());
        out.extend_from_slice(&BLOB_MAGIC);
        out.extend_from_slice(&BLOB_VERSION.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&fnv1a64(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Parses and validates a blob. Untrusted input: returns an error for
    /// anything malformed, never panics, allocates at most in proportion to
    /// the (bounded) input.
    pub fn from_blob(bytes: &[u8]) -> Result<SchemaRegistry, BlobError> {
        if bytes.len() < BLOB_HEADER_LEN {
            return Err(BlobError::TooShort { len: bytes.len() });
        }
        if bytes.len() > MAX_BLOB_LEN {
            return Err(BlobError::TooLarge {
                len: bytes.len(),
                max: MAX_BLOB_LEN,
            });
        }
        if bytes[0..8] != BLOB_MAGIC {
            return Err(BlobError::BadMagic);
        }
        let header = |at| read_u32(bytes, at).ok_or(BlobError::TooShort { len: bytes.len() });
        let version = header(8)?;
        if version != BLOB_VERSION {
            return Err(BlobError::UnsupportedVersion { found: version });
        }
        let count = header(12)?;
        if count > MAX_BLOB_SCHEMAS {
            return Err(BlobError::TooManySchemas {
                count,
                max: MAX_BLOB_SCHEMAS,
            });
        }
        let declared = read_u64(bytes, 16).ok_or(BlobError::TooShort { len: bytes.len() })?;
        let expected = read_u64(bytes, 24).ok_or(BlobError::TooShort { len: bytes.len() })?;
        let payload = &bytes[BLOB_HEADER_LEN..];
        if declared != payload.len() as u64 {
            return Err(BlobError::LengthMismatch {
                declared,
                actual: payload.len(),
            });
        }
        let computed = fnv1a64(payload);
        if computed != expected {
            return Err(BlobError::Checksum { expected, computed });
        }
        let mut reg = SchemaRegistry::new();
        let mut at = 0usize;
        for index in 0..count {
            let bad = |detail: String| BlobError::BadRecord {
                index,
                offset: at,
                detail,
            };
            let len =
                read_u32(payload, at).ok_or_else(|| bad("length runs past the end".into()))?;
            if len > MAX_RECORD_LEN {
                return Err(bad(format!(
                    "record of {len} bytes exceeds {MAX_RECORD_LEN}"
                )));
            }
            let start = at + 4;
            let end = start
                .checked_add(len as usize)
                .filter(|e| *e <= payload.len())
                .ok_or_else(|| bad(format!("record of {len} bytes runs past the end")))?;
            let doc: SchemaDoc =
                serde_json::from_slice(&payload[start..end]).map_err(|e| bad(e.to_string()))?;
            let schema = Schema::try_from(doc).map_err(|e| BlobError::Rejected {
                index,
                detail: e.to_string(),
            })?;
            let key = schema.key();
            if reg.get(&schema.name, &schema.version).is_some() {
                return Err(BlobError::Rejected {
                    index,
                    detail: format!("duplicate schema {key}"),
                });
            }
            reg.register(schema).map_err(|e| BlobError::Rejected {
                index,
                detail: e.to_string(),
            })?;
            at = end;
        }
        if at != payload.len() {
            return Err(BlobError::TrailingBytes {
                extra: payload.len() - at,
            });
        }
        Ok(reg)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryDoc {
    schemas: Vec<SchemaDoc>,
}
