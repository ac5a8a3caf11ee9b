//! The schema model: types, fields, schemas, dynamic values, validation.
//!
//! A [`Schema`] names a message type at one semver version and lists its
//! [`Field`]s. Every field carries a stable numeric id: ids, not names or
//! positions, are what identify a field across versions (a rename keeps the
//! id). Data is handled as a [`Message`]: a map from field id to [`Value`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use semver::Version;
use thiserror::Error;

/// Stable identifier of a field across all versions of a schema. `0` is reserved.
pub type FieldId = u32;

/// Upper bound on the number of fields of one schema (untrusted input bound).
pub const MAX_FIELDS: usize = 4096;
/// Upper bound on a name's length in bytes (schema and field names).
pub const MAX_NAME_LEN: usize = 256;
/// Longest array [`FieldType::zero_value`] builds.
pub const MAX_ZERO_ARRAY: usize = 1 << 16;
/// Nesting depth at which message checks stop (guards against cyclic types).
pub const MAX_NESTING: usize = 32;

/// Fixed-size scalar types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Primitive {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl Primitive {
    /// Every primitive, in declaration order.
    pub const ALL: [Primitive; 11] = [
        Primitive::Bool,
        Primitive::U8,
        Primitive::U16,
        Primitive::U32,
        Primitive::U64,
        Primitive::I8,
        Primitive::I16,
        Primitive::I32,
        Primitive::I64,
        Primitive::F32,
        Primitive::F64,
    ];

    /// The canonical spelling used in schema files (`u32`, `f64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Bool => "bool",
            Primitive::U8 => "u8",
            Primitive::U16 => "u16",
            Primitive::U32 => "u32",
            Primitive::U64 => "u64",
            Primitive::I8 => "i8",
            Primitive::I16 => "i16",
            Primitive::I32 => "i32",
            Primitive::I64 => "i64",
            Primitive::F32 => "f32",
            Primitive::F64 => "f64",
        }
    }

    /// Parses a canonical spelling.
    pub fn from_name(s: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.name() == s)
    }

    fn int_info(self) -> Option<(bool, u32)> {
        // (signed, bits)
        match self {
            Primitive::U8 => Some((false, 8)),
            Primitive::U16 => Some((false, 16)),
            Primitive::U32 => Some((false, 32)),
            Primitive::U64 => Some((false, 64)),
            Primitive::I8 => Some((true, 8)),
            Primitive::I16 => Some((true, 16)),
            Primitive::I32 => Some((true, 32)),
            Primitive::I64 => Some((true, 64)),
            _ => None,
        }
    }

    /// True when every value of `self` converts to `to` without loss and
    /// `self != to` (a *widening*):
    /// - unsigned -> wider unsigned, signed -> wider signed,
    /// - unsigned -> strictly wider signed (u32 -> i64),
    /// - f32 -> f64,
    /// - integers that fit a float's mantissa exactly: 8/16-bit -> f32,
    ///   8/16/32-bit -> f64.
    pub fn widens_to(self, to: Primitive) -> bool {
        if self == to {
            return false;
        }
        match (self.int_info(), to.int_info()) {
            (Some((fs, fb)), Some((ts, tb))) => match (fs, ts) {
                (false, false) | (true, true) => tb > fb,
                (false, true) => tb > fb,
                (true, false) => false,
            },
            (Some((_, fb)), None) => match to {
                Primitive::F32 => fb <= 16,
                Primitive::F64 => fb <= 32,
                _ => false,
            },
            (None, None) => self == Primitive::F32 && to == Primitive::F64,
            (None, Some(_)) => false,
        }
    }
}

/// The element type of a field (what a single value, or each array element, is).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BaseType {
    Prim(Primitive),
    /// UTF-8 string, optionally bounded to `max` bytes.
    String(Option<u32>),
    /// Opaque byte string.
    Bytes,
    /// Another schema, by name (resolved through a [`TypeResolver`]).
    Nested(String),
}

impl fmt::Display for BaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseType::Prim(p) => f.write_str(p.name()),
            BaseType::String(None) => f.write_str("string"),
            BaseType::String(Some(n)) => write!(f, "string<={n}"),
            BaseType::Bytes => f.write_str("bytes"),
            BaseType::Nested(n) => f.write_str(n),
        }
    }
}

/// A field's type: a single value, a fixed-size array or a sequence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldType {
    Single(BaseType),
    /// Exactly `len` elements (`T[len]`).
    Array(BaseType, u32),
    /// Any number of elements, optionally at most `max` (`T[]`, `T[<=max]`).
    Sequence(BaseType, Option<u32>),
}

impl FieldType {
    pub fn prim(p: Primitive) -> FieldType {
        FieldType::Single(BaseType::Prim(p))
    }
    pub fn string() -> FieldType {
        FieldType::Single(BaseType::String(None))
    }
    pub fn bytes() -> FieldType {
        FieldType::Single(BaseType::Bytes)
    }
    pub fn nested(name: impl Into<String>) -> FieldType {
        FieldType::Single(BaseType::Nested(name.into()))
    }
    pub fn array(base: impl Into<BaseType>, len: u32) -> FieldType {
        FieldType::Array(base.into(), len)
    }
    pub fn sequence(base: impl Into<BaseType>, max: Option<u32>) -> FieldType {
        FieldType::Sequence(base.into(), max)
    }
    /// The element type.
    pub fn base(&self) -> &BaseType {
        match self {
            FieldType::Single(b) | FieldType::Array(b, _) | FieldType::Sequence(b, _) => b,
        }
    }
    fn with_base(&self, base: BaseType) -> FieldType {
        match self {
            FieldType::Single(_) => FieldType::Single(base),
            FieldType::Array(_, n) => FieldType::Array(base, *n),
            FieldType::Sequence(_, m) => FieldType::Sequence(base, *m),
        }
    }
}

impl From<Primitive> for BaseType {
    fn from(p: Primitive) -> Self {
        BaseType::Prim(p)
    }
}
impl From<Primitive> for FieldType {
    fn from(p: Primitive) -> Self {
        FieldType::prim(p)
    }
}
impl From<BaseType> for FieldType {
    fn from(b: BaseType) -> Self {
        FieldType::Single(b)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Single(b) => write!(f, "{b}"),
            FieldType::Array(b, n) => write!(f, "{b}[{n}]"),
            FieldType::Sequence(b, None) => write!(f, "{b}[]"),
            FieldType::Sequence(b, Some(m)) => write!(f, "{b}[<={m}]"),
        }
    }
}

/// A type string that does not parse (see [`FieldType`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid type `{text}`: {detail}")]
pub struct TypeParseError {
    pub text: String,
    pub detail: &'static str,
}

fn parse_bound(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// True for `[A-Za-z][A-Za-z0-9_]*` segments joined by `/`.
pub(crate) fn is_type_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.split('/').all(|seg| {
            let mut c = seg.chars();
            matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic())
                && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        })
}

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_field_name(s: &str) -> bool {
    let mut c = s.chars();
    s.len() <= MAX_NAME_LEN
        && matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

impl FromStr for BaseType {
    type Err = TypeParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |detail| TypeParseError {
            text: s.to_string(),
            detail,
        };
        if let Some(p) = Primitive::from_name(s) {
            return Ok(BaseType::Prim(p));
        }
        match s {
            "string" => return Ok(BaseType::String(None)),
            "bytes" => return Ok(BaseType::Bytes),
            _ => {}
        }
        if let Some(bound) = s.strip_prefix("string<=") {
            return parse_bound(bound)
                .map(|n| BaseType::String(Some(n)))
                .ok_or_else(|| err("bad string bound"));
        }
        // Nested type names end in a CamelCase segment (`pkg/Type`), so a
        // misspelt primitive (`u7`) is an error, not a nested type.
        let last = s.rsplit('/').next().unwrap_or(s);
        if is_type_name(s) && last.starts_with(|c: char| c.is_ascii_uppercase()) {
            Ok(BaseType::Nested(s.to_string()))
        } else {
            Err(err(
                "not a primitive, string, bytes or a type name ending in a CamelCase segment",
            ))
        }
    }
}

/// Grammar: `base`, `base[N]`, `base[]`, `base[<=N]` where `base` is a
/// primitive (`bool`, `u8`..`u64`, `i8`..`i64`, `f32`, `f64`), `string`,
/// `string<=N`, `bytes` or a nested type name (`pkg/Type`).
impl FromStr for FieldType {
    type Err = TypeParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |detail| TypeParseError {
            text: s.to_string(),
            detail,
        };
        let s = s.trim();
        if let Some(open) = s.strip_suffix(']').and_then(|t| t.rfind('[')) {
            let base: BaseType = s[..open].parse().map_err(|_| err("bad element type"))?;
            let inner = &s[open + 1..s.len() - 1];
            if inner.is_empty() {
                Ok(FieldType::Sequence(base, None))
            } else if let Some(m) = inner.strip_prefix("<=") {
                parse_bound(m)
                    .map(|m| FieldType::Sequence(base, Some(m)))
                    .ok_or_else(|| err("bad sequence bound"))
            } else {
                parse_bound(inner)
                    .map(|n| FieldType::Array(base, n))
                    .ok_or_else(|| err("bad array length"))
            }
        } else {
            s.parse().map(FieldType::Single)
        }
    }
}

/// A dynamically typed value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    String(String),
    Bytes(Vec<u8>),
    /// Elements of an array or sequence field.
    List(Vec<Value>),
    /// A nested message.
    Message(Message),
}

impl Value {
    /// The primitive type of a scalar value, if it is one.
    pub fn primitive(&self) -> Option<Primitive> {
        Some(match self {
            Value::Bool(_) => Primitive::Bool,
            Value::U8(_) => Primitive::U8,
            Value::U16(_) => Primitive::U16,
            Value::U32(_) => Primitive::U32,
            Value::U64(_) => Primitive::U64,
            Value::I8(_) => Primitive::I8,
            Value::I16(_) => Primitive::I16,
            Value::I32(_) => Primitive::I32,
            Value::I64(_) => Primitive::I64,
            Value::F32(_) => Primitive::F32,
            Value::F64(_) => Primitive::F64,
            _ => return None,
        })
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Message(_) => "message",
            v => v.primitive().map(Primitive::name).unwrap_or("?"),
        }
    }

    fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// Builds an integer value of type `to` from `v`, if it is in range.
    pub fn int_of(to: Primitive, v: i128) -> Option<Value> {
        Some(match to {
            Primitive::U8 => Value::U8(v.try_into().ok()?),
            Primitive::U16 => Value::U16(v.try_into().ok()?),
            Primitive::U32 => Value::U32(v.try_into().ok()?),
            Primitive::U64 => Value::U64(v.try_into().ok()?),
            Primitive::I8 => Value::I8(v.try_into().ok()?),
            Primitive::I16 => Value::I16(v.try_into().ok()?),
            Primitive::I32 => Value::I32(v.try_into().ok()?),
            Primitive::I64 => Value::I64(v.try_into().ok()?),
            _ => return None,
        })
    }

    /// Converts a scalar to primitive `to`. Succeeds only when the value is
    /// represented exactly (so a widening always succeeds and a narrowing
    /// succeeds for values in range). Lists convert element by element.
    pub fn convert(&self, to: Primitive) -> Option<Value> {
        if let Value::List(items) = self {
            return items
                .iter()
                .map(|v| v.convert(to))
                .collect::<Option<Vec<_>>>()
                .map(Value::List);
        }
        let from = self.primitive()?;
        if from == to {
            return Some(self.clone());
        }
        if let Some(i) = self.as_i128() {
            return match to {
                Primitive::F32 => {
                    let f = i as f32;
                    (f as i128 == i && f.is_finite()).then_some(Value::F32(f))
                }
                Primitive::F64 => {
                    let f = i as f64;
                    (f as i128 == i && f.is_finite()).then_some(Value::F64(f))
                }
                Primitive::Bool => None,
                _ => Value::int_of(to, i),
            };
        }
        let float = match self {
            Value::F32(f) => f64::from(*f),
            Value::F64(f) => *f,
            _ => return None,
        };
        if to.int_info().is_some() {
            // Only integral values in range convert (no truncation).
            if float.fract() != 0.0 || !float.is_finite() || float.abs() > 1e19 {
                return None;
            }
            return Value::int_of(to, float as i128);
        }
        match (self, to) {
            (Value::F32(f), Primitive::F64) => Some(Value::F64(f64::from(*f))),
            (Value::F64(f), Primitive::F32) => {
                let n = *f as f32;
                (f64::from(n) == *f || f.is_nan()).then_some(Value::F32(n))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::U8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I8(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v:?}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "bytes[{}]", b.len()),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Message(m) => write!(f, "{{{} fields}}", m.len()),
        }
    }
}

/// A message as data: field id -> value. Absent ids are unset fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    fields: BTreeMap<FieldId, Value>,
}

impl Message {
    pub fn new() -> Message {
        Message::default()
    }
    /// Builder-style insert.
    pub fn with(mut self, id: FieldId, v: Value) -> Message {
        self.fields.insert(id, v);
        self
    }
    pub fn set(&mut self, id: FieldId, v: Value) -> Option<Value> {
        self.fields.insert(id, v)
    }
    pub fn get(&self, id: FieldId) -> Option<&Value> {
        self.fields.get(&id)
    }
    pub fn remove(&mut self, id: FieldId) -> Option<Value> {
        self.fields.remove(&id)
    }
    pub fn contains(&self, id: FieldId) -> bool {
        self.fields.contains_key(&id)
    }
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (FieldId, &Value)> {
        self.fields.iter().map(|(k, v)| (*k, v))
    }
}

/// Whether data must carry a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// Every message written with this schema carries the field.
    Required,
    /// The field may be absent; an absent field reads as its default if it has one.
    Optional,
}

/// One field of a schema.
///
/// Default semantics: on an *optional* field the default is the value an
/// absent field reads as. On a *required* field, writers must still always
/// set it; the default is the value migration fills in for data written by a
/// version that did not have the field (or had it optional and left it unset).
/// A deprecated field must be optional or have a default, so writers can stop
/// setting it.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub id: FieldId,
    pub name: String,
    pub ty: FieldType,
    pub presence: Presence,
    pub default: Option<Value>,
    pub deprecated: bool,
    /// The schema version that introduced the field.
    pub since: Option<Version>,
    pub doc: String,
}

impl Field {
    /// A required field without default.
    pub fn new(id: FieldId, name: impl Into<String>, ty: impl Into<FieldType>) -> Field {
        Field {
            id,
            name: name.into(),
            ty: ty.into(),
            presence: Presence::Required,
            default: None,
            deprecated: false,
            since: None,
            doc: String::new(),
        }
    }
    pub fn optional(mut self) -> Field {
        self.presence = Presence::Optional;
        self
    }
    pub fn required(mut self) -> Field {
        self.presence = Presence::Required;
        self
    }
    pub fn default_value(mut self, v: Value) -> Field {
        self.default = Some(v);
        self
    }
    pub fn deprecated(mut self) -> Field {
        self.deprecated = true;
        self
    }
    pub fn since(mut self, v: Version) -> Field {
        self.since = Some(v);
        self
    }
    pub fn doc(mut self, d: impl Into<String>) -> Field {
        self.doc = d.into();
        self
    }
    pub fn is_required(&self) -> bool {
        self.presence == Presence::Required
    }
    /// Short human form: `name: type (id N, required|optional[, = default][, deprecated])`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}: {} (id {}, {}",
            self.name,
            self.ty,
            self.id,
            if self.is_required() {
                "required"
            } else {
                "optional"
            }
        );
        if let Some(d) = &self.default {
            s.push_str(&format!(", default {d}"));
        }
        if self.deprecated {
            s.push_str(", deprecated");
        }
        s.push(')');
        s
    }
}

/// A versioned message schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Type name, e.g. `sensor_msgs/msg/Imu` or `demo/SensorReading`.
    pub name: String,
    pub version: Version,
    /// Data encoding this schema describes on the wire; `cdr` by default.
    pub format: String,
    pub fields: Vec<Field>,
    pub doc: String,
}

/// Finds nested schemas by type name.
pub trait TypeResolver {
    fn resolve(&self, name: &str) -> Option<&Schema>;
}

/// A resolver that knows no types (nested values are then checked shallowly).
pub struct NoTypes;
impl TypeResolver for NoTypes {
    fn resolve(&self, _: &str) -> Option<&Schema> {
        None
    }
}
impl TypeResolver for [Schema] {
    fn resolve(&self, name: &str) -> Option<&Schema> {
        self.iter()
            .filter(|s| s.name == name)
            .max_by(|a, b| a.version.cmp(&b.version))
    }
}
impl TypeResolver for Vec<Schema> {
    fn resolve(&self, name: &str) -> Option<&Schema> {
        self.as_slice().resolve(name)
    }
}

/// Why a schema is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    #[error(
        "schema name `{name}` is not a type name ([A-Za-z][A-Za-z0-9_]* segments joined by `/`)"
    )]
    InvalidName { name: String },
    #[error("field name `{field}` is not an identifier")]
    InvalidFieldName { field: String },
    #[error("field `{field}` uses the reserved id 0")]
    ReservedFieldId { field: String },
    #[error("duplicate field id {id}: `{first}` and `{second}`")]
    DuplicateFieldId {
        id: FieldId,
        first: String,
        second: String,
    },
    #[error("duplicate field name `{field}` (ids {first_id} and {second_id})")]
    DuplicateFieldName {
        field: String,
        first_id: FieldId,
        second_id: FieldId,
    },
    #[error("field `{field}` has type `{ty}` which refers to the schema itself")]
    RecursiveType { field: String, ty: String },
    #[error("field `{field}` has unknown nested type `{ty}`")]
    UnknownNestedType { field: String, ty: String },
    #[error("field `{field}` is a zero-length array")]
    ZeroLengthArray { field: String },
    #[error("default of field `{field}` does not match its type `{expected}`: {detail}")]
    DefaultTypeMismatch {
        field: String,
        expected: String,
        detail: String,
    },
    #[error("deprecated field `{field}` is required without a default: writers could not stop setting it")]
    DeprecatedRequiredWithoutDefault { field: String },
    #[error("field `{field}` was added in {since}, after this schema's version {version}")]
    AddedAfterSchemaVersion {
        field: String,
        since: String,
        version: String,
    },
    #[error("schema has {count} fields, more than the limit {max}")]
    TooManyFields { count: usize, max: usize },
}

/// Why a message does not conform to a schema.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    #[error("required field `{field}` (id {id}) is missing")]
    MissingRequired { field: String, id: FieldId },
    #[error("field id {id} is not in schema `{schema}`")]
    UnknownField { id: FieldId, schema: String },
    #[error("field `{field}` expects `{expected}`, found {found}")]
    TypeMismatch {
        field: String,
        expected: String,
        found: String,
    },
    #[error("field `{field}`: {detail}")]
    OutOfBounds { field: String, detail: String },
    #[error("field `{field}`: nesting deeper than {max}")]
    TooDeep { field: String, max: usize },
}

/// Checks `v` against `ty` (deep when `types` resolves nested schemas).
pub(crate) fn check_value(
    field: &str,
    ty: &FieldType,
    v: &Value,
    types: &dyn TypeResolver,
    depth: usize,
) -> Result<(), MessageError> {
    let mismatch = |found: &Value| MessageError::TypeMismatch {
        field: field.to_string(),
        expected: ty.to_string(),
        found: found.kind().to_string(),
    };
    match ty {
        FieldType::Single(b) => check_base(field, ty, b, v, types, depth),
        FieldType::Array(b, n) => match v {
            // A byte array may be given as bytes.
            Value::Bytes(bytes) if *b == BaseType::Prim(Primitive::U8) => {
                if bytes.len() != *n as usize {
                    return Err(MessageError::OutOfBounds {
                        field: field.to_string(),
                        detail: format!("array needs {n} elements, has {}", bytes.len()),
                    });
                }
                Ok(())
            }
            Value::List(items) => {
                if items.len() != *n as usize {
                    return Err(MessageError::OutOfBounds {
                        field: field.to_string(),
                        detail: format!("array needs {n} elements, has {}", items.len()),
                    });
                }
                items
                    .iter()
                    .try_for_each(|i| check_base(field, ty, b, i, types, depth))
            }
            other => Err(mismatch(other)),
        },
        FieldType::Sequence(b, max) => {
            let len = match v {
                Value::Bytes(bytes) if *b == BaseType::Prim(Primitive::U8) => bytes.len(),
                Value::List(items) => {
                    items
                        .iter()
                        .try_for_each(|i| check_base(field, ty, b, i, types, depth))?;
                    items.len()
                }
                other => return Err(mismatch(other)),
            };
            match max {
                Some(m) if len > *m as usize => Err(MessageError::OutOfBounds {
                    field: field.to_string(),
                    detail: format!("sequence holds at most {m} elements, has {len}"),
                }),
                _ => Ok(()),
            }
        }
    }
}

fn check_base(
    field: &str,
    ty: &FieldType,
    b: &BaseType,
    v: &Value,
    types: &dyn TypeResolver,
    depth: usize,
) -> Result<(), MessageError> {
    let mismatch = || MessageError::TypeMismatch {
        field: field.to_string(),
        expected: ty.to_string(),
        found: v.kind().to_string(),
    };
    match (b, v) {
        (BaseType::Prim(p), v) if v.primitive() == Some(*p) => Ok(()),
        (BaseType::String(max), Value::String(s)) => match max {
            Some(m) if s.len() > *m as usize => Err(MessageError::OutOfBounds {
                field: field.to_string(),
                detail: format!("string holds at most {m} bytes, has {}", s.len()),
            }),
            _ => Ok(()),
        },
        (BaseType::Bytes, Value::Bytes(_)) => Ok(()),
        (BaseType::Nested(name), Value::Message(m)) => {
            if depth >= MAX_NESTING {
                return Err(MessageError::TooDeep {
                    field: field.to_string(),
                    max: MAX_NESTING,
                });
            }
            match types.resolve(name) {
                Some(s) => s.check_message_depth(m, types, depth + 1),
                None => Ok(()),
            }
        }
        _ => Err(mismatch()),
    }
}

impl Schema {
    /// Starts a schema (`format` defaults to `cdr`).
    pub fn builder(name: impl Into<String>, version: Version) -> SchemaBuilder {
        SchemaBuilder {
            schema: Schema {
                name: name.into(),
                version,
                format: "cdr".to_string(),
                fields: Vec::new(),
                doc: String::new(),
            },
        }
    }

    pub fn field(&self, id: FieldId) -> Option<&Field> {
        self.fields.iter().find(|f| f.id == id)
    }
    pub fn field_by_name(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// `name@version`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Checks everything that does not need other schemas: names, unique
    /// ids and names, defaults against types and bounds, deprecation rules.
    pub fn validate(&self) -> Result<(), SchemaError> {
        if !is_type_name(&self.name) {
            return Err(SchemaError::InvalidName {
                name: self.name.clone(),
            });
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(SchemaError::TooManyFields {
                count: self.fields.len(),
                max: MAX_FIELDS,
            });
        }
        let mut ids: BTreeMap<FieldId, &str> = BTreeMap::new();
        let mut names: BTreeMap<&str, FieldId> = BTreeMap::new();
        for f in &self.fields {
            if !is_field_name(&f.name) {
                return Err(SchemaError::InvalidFieldName {
                    field: f.name.clone(),
                });
            }
            if f.id == 0 {
                return Err(SchemaError::ReservedFieldId {
                    field: f.name.clone(),
                });
            }
            if let Some(first) = ids.insert(f.id, &f.name) {
                return Err(SchemaError::DuplicateFieldId {
                    id: f.id,
                    first: first.to_string(),
                    second: f.name.clone(),
                });
            }
            if let Some(first_id) = names.insert(&f.name, f.id) {
                return Err(SchemaError::DuplicateFieldName {
                    field: f.name.clone(),
                    first_id,
                    second_id: f.id,
                });
            }
            if let BaseType::Nested(n) = f.ty.base() {
                if *n == self.name {
                    return Err(SchemaError::RecursiveType {
                        field: f.name.clone(),
                        ty: f.ty.to_string(),
                    });
                }
            }
            if let FieldType::Array(_, 0) = f.ty {
                return Err(SchemaError::ZeroLengthArray {
                    field: f.name.clone(),
                });
            }
            if let Some(d) = &f.default {
                check_value(&f.name, &f.ty, d, &NoTypes, 0).map_err(|e| {
                    SchemaError::DefaultTypeMismatch {
                        field: f.name.clone(),
                        expected: f.ty.to_string(),
                        detail: e.to_string(),
                    }
                })?;
            }
            if f.deprecated && f.is_required() && f.default.is_none() {
                return Err(SchemaError::DeprecatedRequiredWithoutDefault {
                    field: f.name.clone(),
                });
            }
            if let Some(since) = &f.since {
                if *since > self.version {
                    return Err(SchemaError::AddedAfterSchemaVersion {
                        field: f.name.clone(),
                        since: since.to_string(),
                        version: self.version.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// [`validate`](Self::validate), then checks that every nested type
    /// resolves (and that nested defaults conform to their schema).
    pub fn validate_in(&self, types: &dyn TypeResolver) -> Result<(), SchemaError> {
        self.validate()?;
        for f in &self.fields {
            if let BaseType::Nested(n) = f.ty.base() {
                if types.resolve(n).is_none() {
                    return Err(SchemaError::UnknownNestedType {
                        field: f.name.clone(),
                        ty: n.clone(),
                    });
                }
                if let Some(d) = &f.default {
                    check_value(&f.name, &f.ty, d, types, 0).map_err(|e| {
                        SchemaError::DefaultTypeMismatch {
                            field: f.name.clone(),
                            expected: f.ty.to_string(),
                            detail: e.to_string(),
                        }
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Checks a message: every required field present, no unknown ids, every
    /// value of its field's type and within bounds. Nested messages are
    /// checked against their schema when `types` resolves it, else only
    /// checked to be messages.
    pub fn check_message(&self, m: &Message, types: &dyn TypeResolver) -> Result<(), MessageError> {
        self.check_message_depth(m, types, 0)
    }

    fn check_message_depth(
        &self,
        m: &Message,
        types: &dyn TypeResolver,
        depth: usize,
    ) -> Result<(), MessageError> {
        for (id, v) in m.iter() {
            let f = self.field(id).ok_or_else(|| MessageError::UnknownField {
                id,
                schema: self.key(),
            })?;
            check_value(&f.name, &f.ty, v, types, depth)?;
        }
        for f in &self.fields {
            if f.is_required() && !m.contains(f.id) {
                return Err(MessageError::MissingRequired {
                    field: f.name.clone(),
                    id: f.id,
                });
            }
        }
        Ok(())
    }

    /// Nested type names this schema refers to.
    pub fn nested_types(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.fields
            .iter()
            .filter_map(|f| match f.ty.base() {
                BaseType::Nested(n) if seen.insert(n.as_str()) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Builds a [`Schema`]; [`build`](Self::build) validates it.
#[derive(Debug, Clone)]
pub struct SchemaBuilder {
    schema: Schema,
}

impl SchemaBuilder {
    pub fn format(mut self, f: impl Into<String>) -> Self {
        self.schema.format = f.into();
        self
    }
    pub fn doc(mut self, d: impl Into<String>) -> Self {
        self.schema.doc = d.into();
        self
    }
    pub fn field(mut self, f: Field) -> Self {
        self.schema.fields.push(f);
        self
    }
    /// Adds a required field without default.
    pub fn required(self, id: FieldId, name: &str, ty: impl Into<FieldType>) -> Self {
        self.field(Field::new(id, name, ty))
    }
    /// Adds an optional field, with a default if given.
    pub fn optional(
        self,
        id: FieldId,
        name: &str,
        ty: impl Into<FieldType>,
        default: Option<Value>,
    ) -> Self {
        let mut f = Field::new(id, name, ty).optional();
        f.default = default;
        self.field(f)
    }
    /// Validates (without nested-type resolution) and returns the schema.
    pub fn build(self) -> Result<Schema, SchemaError> {
        self.schema.validate()?;
        Ok(self.schema)
    }
    /// Validates including nested-type resolution.
    pub fn build_in(self, types: &dyn TypeResolver) -> Result<Schema, SchemaError> {
        self.schema.validate_in(types)?;
        Ok(self.schema)
    }
}

impl BaseType {
    /// The zero value of one element (`0`, `false`, `""`, empty bytes);
    /// `None` for nested types (their zero message needs their schema).
    pub fn zero_value(&self) -> Option<Value> {
        Some(match self {
            BaseType::Prim(p) => match p {
                Primitive::Bool => Value::Bool(false),
                Primitive::U8 => Value::U8(0),
                Primitive::U16 => Value::U16(0),
                Primitive::U32 => Value::U32(0),
                Primitive::U64 => Value::U64(0),
                Primitive::I8 => Value::I8(0),
                Primitive::I16 => Value::I16(0),
                Primitive::I32 => Value::I32(0),
                Primitive::I64 => Value::I64(0),
                Primitive::F32 => Value::F32(0.0),
                Primitive::F64 => Value::F64(0.0),
            },
            BaseType::String(_) => Value::String(String::new()),
            BaseType::Bytes => Value::Bytes(Vec::new()),
            BaseType::Nested(_) => return None,
        })
    }
}

impl FieldType {
    /// The zero value of a field (what ROS initializes a field without a
    /// `.msg` default to): the element zero, arrays of N zeros, empty
    /// sequences. `None` when the element type is nested (and not a
    /// sequence) or for arrays longer than [`MAX_ZERO_ARRAY`].
    pub fn zero_value(&self) -> Option<Value> {
        match self {
            FieldType::Single(b) => b.zero_value(),
            // Bounded so that a hostile `T[4000000000]` cannot allocate.
            FieldType::Array(_, n) if *n as usize > MAX_ZERO_ARRAY => None,
            FieldType::Array(b, n) => {
                let z = b.zero_value()?;
                Some(Value::List(vec![z; *n as usize]))
            }
            FieldType::Sequence(..) => Some(Value::List(Vec::new())),
        }
    }

    /// Replaces the element type (keeps array/sequence shape).
    pub fn map_base(&self, base: BaseType) -> FieldType {
        self.with_base(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_matrix_is_exactly_the_lossless_conversions() {
        // For every pair, `widens_to` must agree with "every sample value of
        // `from` converts exactly to `to`" (sampled at the type's extremes).
        let samples = |p: Primitive| -> Vec<Value> {
            match p {
                Primitive::Bool => vec![Value::Bool(true)],
                Primitive::U8 => vec![Value::U8(u8::MAX)],
                Primitive::U16 => vec![Value::U16(u16::MAX)],
                Primitive::U32 => vec![Value::U32(u32::MAX)],
                Primitive::U64 => vec![Value::U64(u64::MAX)],
                Primitive::I8 => vec![Value::I8(i8::MIN)],
                Primitive::I16 => vec![Value::I16(i16::MIN)],
                Primitive::I32 => vec![Value::I32(i32::MIN + 1)],
                Primitive::I64 => vec![Value::I64(i64::MIN + 1)],
                Primitive::F32 => vec![Value::F32(0.1), Value::F32(f32::MAX)],
                Primitive::F64 => vec![Value::F64(0.1)],
            }
        };
        for from in Primitive::ALL {
            for to in Primitive::ALL {
                if from == to || !from.widens_to(to) {
                    continue;
                }
                for v in samples(from) {
                    let w = v.convert(to).unwrap_or_else(|| panic!("{v} -> {to:?}"));
                    assert_eq!(w.convert(from), Some(v.clone()), "{from:?} -> {to:?}");
                }
            }
        }
        assert!(Primitive::U32.widens_to(Primitive::I64));
        assert!(!Primitive::U32.widens_to(Primitive::I32));
        assert!(!Primitive::I64.widens_to(Primitive::F64));
    }

    #[test]
    fn narrowing_conversions_are_checked() {
        assert_eq!(Value::U64(300).convert(Primitive::U8), None);
        assert_eq!(Value::U64(200).convert(Primitive::U8), Some(Value::U8(200)));
        assert_eq!(Value::I32(-1).convert(Primitive::U32), None);
        assert_eq!(Value::F64(0.1).convert(Primitive::F32), None);
        assert_eq!(
            Value::F64(0.5).convert(Primitive::F32),
            Some(Value::F32(0.5))
        );
        assert_eq!(Value::F32(2.5).convert(Primitive::I32), None);
        assert_eq!(Value::F32(-3.0).convert(Primitive::I8), Some(Value::I8(-3)));
        assert_eq!(Value::F64(f64::INFINITY).convert(Primitive::U64), None);
        assert_eq!(Value::Bool(true).convert(Primitive::U8), None);
        assert_eq!(Value::String("1".into()).convert(Primitive::U8), None);
        assert_eq!(
            Value::List(vec![Value::U8(1), Value::U8(2)]).convert(Primitive::U16),
            Some(Value::List(vec![Value::U16(1), Value::U16(2)]))
        );
    }

    #[test]
    fn byte_arrays_accept_bytes_values() {
        let s = Schema::builder("t/B", Version::new(1, 0, 0))
            .required(1, "fixed", FieldType::array(Primitive::U8, 2))
            .required(2, "seq", FieldType::sequence(Primitive::U8, Some(3)))
            .build()
            .unwrap();
        let ok = Message::new()
            .with(1, Value::Bytes(vec![1, 2]))
            .with(2, Value::Bytes(vec![1, 2, 3]));
        s.check_message(&ok, &NoTypes).unwrap();
        let long = ok.clone().with(2, Value::Bytes(vec![0; 4]));
        assert!(matches!(
            s.check_message(&long, &NoTypes),
            Err(MessageError::OutOfBounds { .. })
        ));
    }
}
