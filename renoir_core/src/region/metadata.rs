//! Region metadata: description, semantic version and key/value annotations,
//! stored as JSON right after the header so other processes (and `renoir ls`)
//! can tell what a region is. Everything about it is bounded and validated on
//! both write and read: a peer may have written any bytes there.

use serde::{Deserialize, Serialize};

/// Upper bound of the serialized metadata.
pub const MAX_METADATA_LEN: usize = 64 * 1024;
pub const MAX_DESCRIPTION_LEN: usize = 4096;
pub const MAX_VERSION_LEN: usize = 64;
pub const MAX_ANNOTATIONS: usize = 64;
pub const MAX_KEY_LEN: usize = 128;
pub const MAX_VALUE_LEN: usize = 1024;

/// What a region says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub description: String,
    /// Semantic version of the *content* layout (the creator's business;
    /// the header has its own layout version).
    pub version: String,
    pub annotations: Vec<(String, String)>,
}

/// Why metadata was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata is {len} bytes, at most {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("metadata range {offset}+{len} outside the region")]
    OutOfBounds { offset: u64, len: u64 },
    #[error("metadata is not UTF-8")]
    NotUtf8,
    #[error("metadata is not valid JSON: {0}")]
    Json(String),
    #[error("invalid metadata: {0}")]
    Invalid(String),
}

/// Accepts `MAJOR.MINOR.PATCH` with optional `-pre` and `+build` suffixes
/// made of `[0-9A-Za-z.-]`.
pub fn is_semver(v: &str) -> bool {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 20 && p.chars().all(|c| c.is_ascii_digit()))
        && pre.map(ident_ok) != Some(false)
        && build.map(ident_ok) != Some(false)
}

impl Metadata {
    /// Check all bounds.
    pub fn validate(&self) -> Result<(), MetadataError> {
        let bad = |m: String| Err(MetadataError::Invalid(m));
        if self.description.len() > MAX_DESCRIPTION_LEN {
            return bad(format!("description longer than {MAX_DESCRIPTION_LEN}"));
        }
        if self.version.len() > MAX_VERSION_LEN || !is_semver(&self.version) {
            return bad(format!(
                "version {:?} is not MAJOR.MINOR.PATCH",
                self.version
            ));
        }
        if self.annotations.len() > MAX_ANNOTATIONS {
            return bad(format!("more than {MAX_ANNOTATIONS} annotations"));
        }
        for (k, v) in &self.annotations {
            if k.is_empty() || k.len() > MAX_KEY_LEN {
                return bad(format!("annotation key length must be 1..={MAX_KEY_LEN}"));
            }
            if v.len() > MAX_VALUE_LEN {
                return bad(format!(
                    "annotation {k:?}: value longer than {MAX_VALUE_LEN}"
                ));
            }
        }
        Ok(())
    }

    /// Validate and serialize.
    pub fn encode(&self) -> Result<Vec<u8>, MetadataError> {
        self.validate()?;
        let bytes = serde_json::to_vec(self).map_err(|e| MetadataError::Json(e.to_string()))?;
        if bytes.len() > MAX_METADATA_LEN {
            return Err(MetadataError::TooLong {
                len: bytes.len(),
                max: MAX_METADATA_LEN,
            });
        }
        Ok(bytes)
    }

    /// Parse and validate untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Metadata, MetadataError> {
        if bytes.len() > MAX_METADATA_LEN {
            return Err(MetadataError::TooLong {
                len: bytes.len(),
                max: MAX_METADATA_LEN,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| MetadataError::NotUtf8)?;
        let m: Metadata =
            serde_json::from_str(text).map_err(|e| MetadataError::Json(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// The value of annotation `key`, if any.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata {
            description: "registry of domain 0".into(),
            version: "1.2.3-rc.1+abc".into(),
            annotations: vec![("kind".into(), "registry".into())],
        }
    }

    #[test]
    fn roundtrip() {
        let m = sample();
        let b = m.encode().unwrap();
        assert_eq!(Metadata::decode(&b).unwrap(), m);
        assert_eq!(m.annotation("kind"), Some("registry"));
        assert_eq!(m.annotation("nope"), None);
    }

    #[test]
    fn semver_check() {
        for ok in [
            "0.0.0",
            "1.2.3",
            "10.20.30-alpha.1",
            "1.0.0+build.5",
            "1.0.0-a-b+c",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "a.b.c",
            "1.2.3-",
            "1.2.3+",
            "1..3",
            "1.2.3-a..b",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Metadata::decode(&[0xff, 0xfe]), Err(MetadataError::NotUtf8));
        assert!(matches!(
            Metadata::decode(b"{"),
            Err(MetadataError::Json(_))
        ));
        assert!(matches!(
            Metadata::decode(b"[1,2]"),
            Err(MetadataError::Json(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(Metadata::decode(deep.as_bytes()).is_err());
        let mut m = sample();
        m.version = "x".into();
        assert!(matches!(m.encode(), Err(MetadataError::Invalid(_))));
        let mut m = sample();
        m.description = "d".repeat(MAX_DESCRIPTION_LEN + 1);
        assert!(m.encode().is_err());
        let mut m = sample();
        m.annotations = vec![("k".into(), "v".into()); MAX_ANNOTATIONS + 1];
        assert!(m.encode().is_err());
        let mut m = sample();
        m.annotations = vec![(String::new(), "v".into())];
        assert!(m.encode().is_err());
        assert!(matches!(
            Metadata::decode(&vec![b' '; MAX_METADATA_LEN + 1]),
            Err(MetadataError::TooLong { .. })
        ));
    }
}
