//! Schema files: the JSON and YAML document form of a [`Schema`] (also used
//! inside the registry's JSON file and blob), typed default values to and from
//! JSON, and loading schema files by extension (`.json`, `.yaml`/`.yml`, `.msg`).

use std::path::Path;

use semver::Version;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::model::{BaseType, Field, FieldType, Presence, Primitive, Schema, Value};
use super::rosmsg::parse_ros_msg;

/// Errors loading or converting a schema document.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaFileError {
    #[error("{path}: {detail}")]
    Io { path: String, detail: String },
    #[error("JSON: {detail}")]
    Json { detail: String },
    #[error("YAML: {detail}")]
    Yaml { detail: String },
    #[error("version `{text}` is not semver: {detail}")]
    BadVersion { text: String, detail: String },
    #[error("field `{field}`: {detail}")]
    BadType { field: String, detail: String },
    #[error("field `{field}`: bad default: {detail}")]
    BadDefault { field: String, detail: String },
    #[error("invalid schema: {detail}")]
    Invalid { detail: String },
    #[error("{path}: .msg line {line}: {detail}")]
    Msg {
        path: String,
        line: usize,
        detail: String,
    },
    #[error("{path}: unknown schema file extension (expected .json, .yaml, .yml or .msg)")]
    UnknownExtension { path: String },
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn cdr() -> String {
    "cdr".to_string()
}

/// The document form of a schema (JSON/YAML). Types are written as strings
/// (`u64`, `f32[3]`, `string<=16`, `u8[]`, `pkg/Type[<=4]`); defaults as
/// plain JSON/YAML values typed by the field's type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaDoc {
    pub name: String,
    pub version: String,
    #[serde(default = "cdr")]
    pub format: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
    #[serde(default)]
    pub fields: Vec<FieldDoc>,
}

/// The document form of a field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDoc {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

impl From<&Schema> for SchemaDoc {
    fn from(s: &Schema) -> Self {
        SchemaDoc {
            name: s.name.clone(),
            version: s.version.to_string(),
            format: s.format.clone(),
            doc: s.doc.clone(),
            fields: s
                .fields
                .iter()
                .map(|f| FieldDoc {
                    id: f.id,
                    name: f.name.clone(),
                    ty: f.ty.to_string(),
                    required: f.is_required(),
                    default: f.default.as_ref().map(value_to_json),
                    deprecated: f.deprecated,
                    since: f.since.as_ref().map(ToString::to_string),
                    doc: f.doc.clone(),
                })
                .collect(),
        }
    }
}

impl From<Schema> for SchemaDoc {
    fn from(s: Schema) -> Self {
        SchemaDoc::from(&s)
    }
}

fn parse_version(text: &str) -> Result<Version, SchemaFileError> {
    Version::parse(text).map_err(|e| SchemaFileError::BadVersion {
        text: text.to_string(),
        detail: e.to_string(),
    })
}

/// Converts a document into a validated schema (nested types are not
/// resolved here; see [`Schema::validate_in`]).
impl TryFrom<SchemaDoc> for Schema {
    type Error = SchemaFileError;
    fn try_from(d: SchemaDoc) -> Result<Self, Self::Error> {
        if d.fields.len() > super::model::MAX_FIELDS {
            return Err(SchemaFileError::Invalid {
                detail: format!(
                    "{} fields, limit {}",
                    d.fields.len(),
                    super::model::MAX_FIELDS
                ),
            });
        }
        let mut fields = Vec::with_capacity(d.fields.len());
        for f in d.fields {
            let ty: FieldType = f.ty.parse().map_err(|e: super::model::TypeParseError| {
                SchemaFileError::BadType {
                    field: f.name.clone(),
                    detail: e.to_string(),
                }
            })?;
            let default =
                match &f.default {
                    Some(j) => Some(value_from_json(&ty, j).map_err(|detail| {
                        SchemaFileError::BadDefault {
                            field: f.name.clone(),
                            detail,
                        }
                    })?),
                    None => None,
                };
            fields.push(Field {
                id: f.id,
                name: f.name,
                ty,
                presence: if f.required {
                    Presence::Required
                } else {
                    Presence::Optional
                },
                default,
                deprecated: f.deprecated,
                since: f.since.as_deref().map(parse_version).transpose()?,
                doc: f.doc,
            });
        }
        let s = Schema {
            name: d.name,
            version: parse_version(&d.version)?,
            format: d.format,
            fields,
            doc: d.doc,
        };
        s.validate().map_err(|e| SchemaFileError::Invalid {
            detail: e.to_string(),
        })?;
        Ok(s)
    }
}

/// A JSON value for `v` (NaN and infinities become `null`; bytes become an
/// array of numbers; nested messages an object keyed by field id).
pub fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    let float = |f: f64| serde_json::Number::from_f64(f).map_or(J::Null, J::Number);
    match v {
        Value::Bool(b) => J::Bool(*b),
        Value::U8(x) => (*x).into(),
        Value::U16(x) => (*x).into(),
        Value::U32(x) => (*x).into(),
        Value::U64(x) => (*x).into(),
        Value::I8(x) => (*x).into(),
        Value::I16(x) => (*x).into(),
        Value::I32(x) => (*x).into(),
        Value::I64(x) => (*x).into(),
        Value::F32(x) => float(f64::from(*x)),
        Value::F64(x) => float(*x),
        Value::String(s) => J::String(s.clone()),
        Value::Bytes(b) => J::Array(b.iter().map(|x| (*x).into()).collect()),
        Value::List(items) => J::Array(items.iter().map(value_to_json).collect()),
        Value::Message(m) => J::Object(
            m.iter()
                .map(|(id, v)| (id.to_string(), value_to_json(v)))
                .collect(),
        ),
    }
}

fn base_from_json(b: &BaseType, j: &serde_json::Value) -> Result<Value, String> {
    let bad = || format!("{j} is not a {b}");
    match b {
        BaseType::Prim(Primitive::Bool) => j.as_bool().map(Value::Bool).ok_or_else(bad),
        BaseType::Prim(Primitive::F32) => j.as_f64().map(|f| Value::F32(f as f32)).ok_or_else(bad),
        BaseType::Prim(Primitive::F64) => j.as_f64().map(Value::F64).ok_or_else(bad),
        BaseType::Prim(p) => {
            let i = j
                .as_i64()
                .map(i128::from)
                .or_else(|| j.as_u64().map(i128::from))
                .ok_or_else(bad)?;
            Value::int_of(*p, i).ok_or_else(|| format!("{i} is out of range for {p:?}"))
        }
        BaseType::String(_) => j
            .as_str()
            .map(|s| Value::String(s.to_string()))
            .ok_or_else(bad),
        BaseType::Bytes => j
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|x| u8::try_from(x).ok())
                    .ok_or_else(bad)
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(Value::Bytes),
        BaseType::Nested(n) => Err(format!(
            "defaults of nested type `{n}` are not supported in schema files"
        )),
    }
}

/// Reads a JSON (or YAML, through serde) value as a [`Value`] of type `ty`.
pub fn value_from_json(ty: &FieldType, j: &serde_json::Value) -> Result<Value, String> {
    match ty {
        FieldType::Single(b) => base_from_json(b, j),
        FieldType::Array(b, _) | FieldType::Sequence(b, _) => j
            .as_array()
            .ok_or_else(|| format!("{j} is not a list"))?
            .iter()
            .map(|x| base_from_json(b, x))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
    }
}

/// Parses a schema document in JSON.
pub fn schema_from_json(text: &str) -> Result<Schema, SchemaFileError> {
    let d: SchemaDoc = serde_json::from_str(text).map_err(|e| SchemaFileError::Json {
        detail: e.to_string(),
    })?;
    Schema::try_from(d)
}

/// Parses a schema document in YAML.
pub fn schema_from_yaml(text: &str) -> Result<Schema, SchemaFileError> {
    let d: SchemaDoc = serde_yaml::from_str(text).map_err(|e| SchemaFileError::Yaml {
        detail: e.to_string(),
    })?;
    Schema::try_from(d)
}

/// The JSON document of a schema (pretty-printed).
pub fn schema_to_json(s: &Schema) -> String {
    serde_json::to_string_pretty(&SchemaDoc::from(s)).unwrap_or_default()
}

/// The YAML document of a schema.
pub fn schema_to_yaml(s: &Schema) -> String {
    serde_yaml::to_string(&SchemaDoc::from(s)).unwrap_or_default()
}

/// Loads a schema file by extension. `.msg` files get their type name from
/// the path (`<pkg>/msg/<Name>.msg` -> `<pkg>/msg/<Name>`, else the file
/// stem) and version `0.0.0`; use [`parse_ros_msg`] to choose both.
pub fn load_schema_file(path: &Path) -> Result<Schema, SchemaFileError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SchemaFileError::Io {
        path: p.clone(),
        detail: e.to_string(),
    })?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => schema_from_json(&text),
        Some("yaml") | Some("yml") => schema_from_yaml(&text),
        Some("msg") => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("Unnamed");
            let dir = path.parent();
            let pkg = dir
                .filter(|d| d.file_name().is_some_and(|n| n == "msg"))
                .and_then(|d| d.parent())
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str());
            let name = match pkg {
                Some(pkg) => format!("{pkg}/msg/{stem}"),
                None => stem.to_string(),
            };
            parse_ros_msg(&name, Version::new(0, 0, 0), &text)
                .map(|m| m.schema)
                .map_err(|e| SchemaFileError::Msg {
                    path: p,
                    line: e.line(),
                    detail: e.to_string(),
                })
        }
        _ => Err(SchemaFileError::UnknownExtension { path: p }),
    }
}
