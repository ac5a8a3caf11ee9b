//! ROS message layouts -> renoir schemas, compatibility between two versions
//! of a type, and migration of CDR bytes from one version to the other.
//!
//! * [`schema_of`] / [`schema_of_type_support`]: a [`MessageLayout`] becomes
//!   a [`Schema`] (name `pkg/msg/Name`, ids = field index + 1, every field
//!   required with the ROS zero value as default) plus the schemas of every
//!   nested type ([`LayoutSchemas`]).
//! * [`evolve`]: old and new layout of one type -> [`Compatibility`] (nested
//!   types included) and, when not breaking, a [`CdrMigration`].
//! * [`migrate_cdr`]: decodes CDR of the old layout into a dynamic
//!   [`Message`], migrates it (nested messages with their own plans) and
//!   encodes CDR of the new layout. Input bytes are untrusted: every length is
//!   checked against the remaining input before anything is allocated.
//!
//! The mapping table is in docs/schema-evolution.md ("ROS mapping").

use std::collections::BTreeMap;
use std::sync::Arc;

use renoir_core::schema::{
    compare, BaseType, ChangeKind, Compatibility, Field as SField, FieldType as SType, Level,
    Message, MigrationPlan, MigrationRules, PlanError, Primitive as SPrim, Reason, Schema,
    SchemaError, SchemaRegistry, TypeResolver, Value, Version,
};
use thiserror::Error;

use crate::cdr::{align_up, split_header, Reader, ENCAPSULATION_LE};
use crate::error::DeserializeError;
use crate::ffi::introspect::{InitFn, MemberFns};
use crate::ffi::typesupport::{MessageTypeSupport, TypeHash};
use crate::layout::{Arity, Field, FieldType, Flavor, MessageLayout, Primitive};

/// Why a layout cannot be described as a schema, or two layouts not planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaMapError {
    #[error("{ty}: field `{field}` has type {what}, which renoir schemas cannot describe")]
    Unsupported {
        ty: String,
        field: String,
        what: &'static str,
    },
    #[error("{ty}: field `{field}`: bound or length {value} does not fit in u32")]
    BoundTooLarge {
        ty: String,
        field: String,
        value: usize,
    },
    #[error("{ty}: nested type `{nested}` appears with two different layouts")]
    ConflictingNested { ty: String, nested: String },
    #[error("schema derived from {ty} is invalid: {source}")]
    Invalid { ty: String, source: SchemaError },
    #[error("old layout is `{old}` but new layout is `{new}`: migration is per type name")]
    DifferentTypes { old: String, new: String },
    #[error("cannot plan {ty}: {source}")]
    Plan { ty: String, source: PlanError },
    #[error(
        "{ty}: field `{field}` has id {id}, but CDR layouts need ids 1, 2, ... in field order"
    )]
    NotPositional { ty: String, field: String, id: u32 },
    #[error("{ty}: field `{field}`: nested type `{nested}` is not known")]
    UnknownNested {
        ty: String,
        field: String,
        nested: String,
    },
    #[error("{ty}: nested types deeper than {max} (or recursive)")]
    TooDeep { ty: String, max: usize },
}

/// Why one CDR sample could not be migrated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MigrateCdrError {
    #[error("input is not valid CDR of the old layout: {0}")]
    Decode(#[from] DeserializeError),
    #[error("field `{field}`: string is not UTF-8")]
    InvalidUtf8 { field: String },
    #[error("field `{field}`: wide string is not valid UTF-16")]
    InvalidUtf16 { field: String },
    #[error("migration failed: {0}")]
    Migrate(#[from] renoir_core::schema::MigrateError),
    #[error("the plan is for {plan}, the layouts are {old} -> {new}")]
    WrongPlan {
        plan: String,
        old: String,
        new: String,
    },
    #[error("field `{field}`: expected {expected}, the migrated value is {found}")]
    Encode {
        field: String,
        expected: String,
        found: String,
    },
    #[error("field `{field}`: missing in the migrated message")]
    MissingField { field: String },
    #[error("field `{field}`: length {len} exceeds bound {bound}")]
    BoundExceeded {
        field: String,
        len: usize,
        bound: usize,
    },
    #[error("field `{field}`: {len} elements do not fit a uint32 length")]
    TooLong { field: String, len: usize },
}

/// A type's schema and the schemas of every type nested in it (deeply).
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutSchemas {
    pub root: Schema,
    /// Nested types by name, each once.
    pub nested: BTreeMap<String, Schema>,
}

impl LayoutSchemas {
    /// Every schema (root first).
    pub fn all(&self) -> impl Iterator<Item = &Schema> {
        std::iter::once(&self.root).chain(self.nested.values())
    }
    /// The same schemas without the defaults that hold nested messages
    /// (single nested fields and arrays of them), which the JSON / YAML /
    /// registry-blob form cannot express. Use these for
    /// `SchemaRegistry::save` / `to_blob`; keep the full ones for
    /// [`evolve`]-style comparisons and migration (without the nested
    /// defaults, adding a nested field reads as breaking).
    pub fn persistable(&self) -> LayoutSchemas {
        let strip = |s: &Schema| {
            let mut s = s.clone();
            for f in &mut s.fields {
                let nested_value = match &f.default {
                    Some(Value::Message(_)) => true,
                    Some(Value::List(items)) => {
                        items.iter().any(|v| matches!(v, Value::Message(_)))
                    }
                    _ => false,
                };
                if nested_value {
                    f.default = None;
                }
            }
            s
        };
        LayoutSchemas {
            root: strip(&self.root),
            nested: self
                .nested
                .iter()
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        }
    }

    /// Registers the root and the nested schemas in `reg`.
    pub fn register_into(
        &self,
        reg: &mut SchemaRegistry,
    ) -> Result<(), renoir_core::schema::RegisterError> {
        for s in self.nested.values() {
            reg.register(s.clone())?;
        }
        reg.register(self.root.clone())
    }
}

impl TypeResolver for LayoutSchemas {
    fn resolve(&self, name: &str) -> Option<&Schema> {
        if self.root.name == name {
            Some(&self.root)
        } else {
            self.nested.get(name)
        }
    }
}

/// The schema version for a type hash: `1.0.0+rihs01.<hex>` (the hash as
/// semver build metadata), or `1.0.0` without a hash.
pub fn version_of_hash(hash: Option<&TypeHash>) -> Version {
    let mut v = Version::new(1, 0, 0);
    if let Some(h) = hash {
        let hex: String = h.value.iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(b) =
            renoir_core::schema::Version::parse(&format!("1.0.0+rihs{:02x}.{hex}", h.version))
        {
            v = b;
        }
    }
    v
}

/// [`schema_of`] with the version from the type support's hash.
pub fn schema_of_type_support(ts: &MessageTypeSupport) -> Result<LayoutSchemas, SchemaMapError> {
    schema_of(ts.layout(), version_of_hash(ts.type_hash().as_ref()))
}

/// Describes `layout` as a schema at `version` (nested types at
/// `1.0.0+fnv.<fingerprint of their schema>`).
pub fn schema_of(
    layout: &MessageLayout,
    version: Version,
) -> Result<LayoutSchemas, SchemaMapError> {
    let mut nested = BTreeMap::new();
    let root = one_schema(layout, version, &mut nested)?;
    Ok(LayoutSchemas { root, nested })
}

fn prim_of(p: Primitive) -> Option<SPrim> {
    Some(match p {
        Primitive::Bool => SPrim::Bool,
        Primitive::Char | Primitive::Octet | Primitive::U8 => SPrim::U8,
        Primitive::I8 => SPrim::I8,
        Primitive::U16 | Primitive::WChar => SPrim::U16,
        Primitive::I16 => SPrim::I16,
        Primitive::U32 => SPrim::U32,
        Primitive::I32 => SPrim::I32,
        Primitive::U64 => SPrim::U64,
        Primitive::I64 => SPrim::I64,
        Primitive::F32 => SPrim::F32,
        Primitive::F64 => SPrim::F64,
        Primitive::LongDouble => return None,
    })
}

fn is_byte(p: Primitive) -> bool {
    matches!(p, Primitive::Char | Primitive::Octet | Primitive::U8)
}

fn bound32(layout: &MessageLayout, f: &Field, v: usize) -> Result<u32, SchemaMapError> {
    u32::try_from(v).map_err(|_| SchemaMapError::BoundTooLarge {
        ty: layout.type_name(),
        field: f.name.clone(),
        value: v,
    })
}

fn one_schema(
    layout: &MessageLayout,
    version: Version,
    nested: &mut BTreeMap<String, Schema>,
) -> Result<Schema, SchemaMapError> {
    let ty_name = layout.type_name();
    let mut b = Schema::builder(ty_name.clone(), version);
    for (i, f) in layout.fields.iter().enumerate() {
        let base = match &f.ty {
            FieldType::Primitive(p) => {
                BaseType::Prim(prim_of(*p).ok_or_else(|| SchemaMapError::Unsupported {
                    ty: ty_name.clone(),
                    field: f.name.clone(),
                    what: "long double",
                })?)
            }
            FieldType::String { bound } | FieldType::WString { bound } => {
                BaseType::String(bound.map(|n| bound32(layout, f, n)).transpose()?)
            }
            FieldType::Message(m) => {
                let name = m.type_name();
                let s = one_schema(m, Version::new(1, 0, 0), nested)?;
                let s = fingerprinted(s);
                match nested.get(&name) {
                    Some(prev) if *prev != s => {
                        return Err(SchemaMapError::ConflictingNested {
                            ty: ty_name,
                            nested: name,
                        })
                    }
                    Some(_) => {}
                    None => {
                        nested.insert(name.clone(), s);
                    }
                }
                BaseType::Nested(name)
            }
        };
        let ty = match f.arity {
            Arity::Single => SType::Single(base),
            Arity::Array(n) => SType::Array(base, bound32(layout, f, n)?),
            Arity::Sequence { bound } => {
                SType::Sequence(base, bound.map(|n| bound32(layout, f, n)).transpose()?)
            }
        };
        let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut field = SField::new(id, &f.name, ty).default_value(zero_field(f));
        if matches!(f.ty, FieldType::WString { .. }) {
            // The schema model has one string type; the CDR of a wstring
            // differs, so the doc keeps it for `layout_from_schema`.
            field = field.doc(WSTRING_DOC);
        }
        b = b.field(field);
    }
    b.build().map_err(|source| SchemaMapError::Invalid {
        ty: ty_name,
        source,
    })
}

/// Gives a nested schema the version `1.0.0+fnv.<16 hex>`: FNV-1a 64 of
/// its JSON document, so two different layouts of one nested type never
/// share a name+version in a registry (equal layouts do).
fn fingerprinted(mut s: Schema) -> Schema {
    let doc = renoir_core::schema::schema_to_json(&s);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in doc.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if let Ok(v) = Version::parse(&format!("1.0.0+fnv.{h:016x}")) {
        s.version = v;
    }
    s
}

fn zero_one(ty: &FieldType) -> Value {
    match ty {
        FieldType::Primitive(p) => zero_prim(*p),
        FieldType::String { .. } | FieldType::WString { .. } => Value::String(String::new()),
        FieldType::Message(m) => Value::Message(zero_message(m)),
    }
}

fn zero_prim(p: Primitive) -> Value {
    match p {
        Primitive::Bool => Value::Bool(false),
        Primitive::Char | Primitive::Octet | Primitive::U8 => Value::U8(0),
        Primitive::I8 => Value::I8(0),
        Primitive::U16 | Primitive::WChar => Value::U16(0),
        Primitive::I16 => Value::I16(0),
        Primitive::U32 => Value::U32(0),
        Primitive::I32 => Value::I32(0),
        Primitive::U64 => Value::U64(0),
        Primitive::I64 => Value::I64(0),
        Primitive::F32 => Value::F32(0.0),
        Primitive::F64 | Primitive::LongDouble => Value::F64(0.0),
    }
}

/// The ROS zero value of a field (what a freshly initialized message holds
/// when the .msg gives no default): 0, false, "", empty sequences, arrays of
/// zeros, nested zero messages. Byte arrays/sequences are [`Value::Bytes`].
fn zero_field(f: &Field) -> Value {
    match (&f.ty, f.arity) {
        (FieldType::Primitive(p), Arity::Array(n)) if is_byte(*p) => Value::Bytes(vec![0; n]),
        (FieldType::Primitive(p), Arity::Sequence { .. }) if is_byte(*p) => Value::Bytes(vec![]),
        (ty, Arity::Single) => zero_one(ty),
        (ty, Arity::Array(n)) => Value::List((0..n).map(|_| zero_one(ty)).collect()),
        (_, Arity::Sequence { .. }) => Value::List(Vec::new()),
    }
}

/// The zero message of a layout (field id = index + 1).
pub fn zero_message(layout: &MessageLayout) -> Message {
    let mut m = Message::new();
    for (i, f) in layout.fields.iter().enumerate() {
        m.set(id_of(i), zero_field(f));
    }
    m
}

fn id_of(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// Compatibility and plans

/// A compiled old -> new migration of one ROS type, usable on CDR bytes with
/// [`migrate_cdr`]: the root plan and one plan per nested type that changed.
#[derive(Debug, Clone)]
pub struct CdrMigration {
    type_name: String,
    root: MigrationPlan,
    nested: BTreeMap<String, MigrationPlan>,
}

impl CdrMigration {
    /// Plans old -> new with explicit `rules` for the root type (for changes
    /// [`evolve`] calls breaking; the caller takes responsibility). Nested
    /// types are planned without rules.
    pub fn with_rules(
        old: &MessageLayout,
        new: &MessageLayout,
        rules: &MigrationRules,
    ) -> Result<CdrMigration, SchemaMapError> {
        let (o, n) = schemas_of_pair(old, new)?;
        plan_pair(&o, &n, rules)
    }
    /// The type this plan migrates (`pkg/msg/Name`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }
    /// The root plan.
    pub fn root(&self) -> &MigrationPlan {
        &self.root
    }
    /// What the plan does, nested types prefixed with their name.
    pub fn notes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.root.notes().to_vec();
        for (name, p) in &self.nested {
            v.extend(p.notes().iter().map(|n| format!("{name}: {n}")));
        }
        v
    }
}

/// What [`evolve`] finds.
#[derive(Debug, Clone)]
pub struct Evolution {
    pub old: LayoutSchemas,
    pub new: LayoutSchemas,
    /// Root changes plus the changes of every nested type present in both
    /// versions (their messages prefixed with the nested type's name).
    pub compatibility: Compatibility,
    /// Present when the level is not [`Level::Breaking`] and planning succeeded.
    pub plan: Option<CdrMigration>,
    /// Why no plan was built (the first planning error), if planning was tried.
    pub plan_error: Option<SchemaMapError>,
}

fn schemas_of_pair(
    old: &MessageLayout,
    new: &MessageLayout,
) -> Result<(LayoutSchemas, LayoutSchemas), SchemaMapError> {
    if old.type_name() != new.type_name() {
        return Err(SchemaMapError::DifferentTypes {
            old: old.type_name(),
            new: new.type_name(),
        });
    }
    let o = schema_of(old, Version::new(1, 0, 0))?;
    let n = schema_of(new, Version::new(1, 0, 1))?;
    Ok((o, n))
}

fn plan_pair(
    o: &LayoutSchemas,
    n: &LayoutSchemas,
    rules: &MigrationRules,
) -> Result<CdrMigration, SchemaMapError> {
    let root = MigrationPlan::with_rules(&o.root, &n.root, rules).map_err(|source| {
        SchemaMapError::Plan {
            ty: o.root.name.clone(),
            source,
        }
    })?;
    let mut nested = BTreeMap::new();
    for (name, os) in &o.nested {
        if let Some(ns) = n.nested.get(name) {
            if compare(os, ns).level != Level::Identical {
                let p = MigrationPlan::new(os, ns).map_err(|source| SchemaMapError::Plan {
                    ty: name.clone(),
                    source,
                })?;
                nested.insert(name.clone(), p);
            }
        }
    }
    Ok(CdrMigration {
        type_name: o.root.name.clone(),
        root,
        nested,
    })
}

fn meet(reasons: &[Reason]) -> Level {
    if reasons.is_empty() {
        return Level::Identical;
    }
    let b = reasons.iter().all(|r| r.backward);
    let f = reasons.iter().all(|r| r.forward);
    match (b, f) {
        (true, true) => Level::FullyCompatible,
        (true, false) => Level::BackwardCompatible,
        (false, true) => Level::ForwardCompatible,
        (false, false) => Level::Breaking,
    }
}

/// `compare`, without the default changes of nested-typed fields (a nested
/// default is the nested type's zero message: its changes are reported by
/// that type's own comparison).
fn own_changes(old: &Schema, new: &Schema) -> Vec<Reason> {
    compare(old, new)
        .reasons
        .into_iter()
        .filter(|r| {
            let nested = r
                .field
                .as_deref()
                .and_then(|f| new.field_by_name(f))
                .is_some_and(|f| matches!(f.ty.base(), BaseType::Nested(_)));
            !(r.kind == ChangeKind::DefaultChanged && nested)
        })
        .collect()
}

/// Compares two layouts of the same type (old = the writer's, new = the
/// reader's) and, when the change is not breaking, plans old -> new.
pub fn evolve(old: &MessageLayout, new: &MessageLayout) -> Result<Evolution, SchemaMapError> {
    let (o, n) = schemas_of_pair(old, new)?;
    let mut reasons = own_changes(&o.root, &n.root);
    for (name, os) in &o.nested {
        if let Some(ns) = n.nested.get(name) {
            for mut r in own_changes(os, ns) {
                r.message = format!("in `{name}`: {}", r.message);
                reasons.push(r);
            }
        }
    }
    let level = meet(&reasons);
    let compatibility = Compatibility { level, reasons };
    let (plan, plan_error) = if level == Level::Breaking {
        (None, None)
    } else {
        match plan_pair(&o, &n, &MigrationRules::new()) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        }
    };
    Ok(Evolution {
        old: o,
        new: n,
        compatibility,
        plan,
        plan_error,
    })
}

// ---------------------------------------------------------------------------
// CDR <-> Message

/// Decodes CDR (header + body) of `layout` into a [`Message`] (ids = field
/// index + 1). Byte arrays/sequences become [`Value::Bytes`]. Trailing bytes
/// after the message are allowed (as in `deserialize`).
pub fn decode_cdr(layout: &MessageLayout, bytes: &[u8]) -> Result<Message, MigrateCdrError> {
    let body = split_header(bytes)?;
    let mut r = Reader::new(body);
    decode_message(layout, &mut r)
}

fn decode_message(layout: &MessageLayout, r: &mut Reader<'_>) -> Result<Message, MigrateCdrError> {
    let mut m = Message::new();
    for (i, f) in layout.fields.iter().enumerate() {
        let v = match f.arity {
            Arity::Single => decode_one(f, &f.ty, r)?,
            Arity::Array(n) => decode_many(f, n, r)?,
            Arity::Sequence { bound } => {
                let n = r.u32()? as usize;
                if let Some(b) = bound {
                    if n > b {
                        return Err(DeserializeError::BoundExceeded {
                            field: f.name.clone(),
                            len: n,
                            bound: b,
                        }
                        .into());
                    }
                }
                decode_many(f, n, r)?
            }
        };
        m.set(id_of(i), v);
    }
    Ok(m)
}

fn decode_many(f: &Field, n: usize, r: &mut Reader<'_>) -> Result<Value, MigrateCdrError> {
    // Untrusted count: the input must hold at least n minimal elements
    // before anything is allocated.
    r.need(n.saturating_mul(f.ty.min_cdr_size()))?;
    match &f.ty {
        FieldType::Primitive(p) => {
            if n == 0 {
                // Fast-CDR does not align before an empty primitive array.
                return Ok(if is_byte(*p) {
                    Value::Bytes(Vec::new())
                } else {
                    Value::List(Vec::new())
                });
            }
            let raw = r.take(p.align(), n * p.size())?;
            if is_byte(*p) {
                return Ok(Value::Bytes(raw.to_vec()));
            }
            let start = r.position() - raw.len();
            raw.chunks_exact(p.size())
                .enumerate()
                .map(|(k, c)| prim_from(*p, c, start + k * p.size()))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
        ty => (0..n)
            .map(|_| decode_one(f, ty, r))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
    }
}

fn prim_from(p: Primitive, c: &[u8], offset: usize) -> Result<Value, MigrateCdrError> {
    let a = |n: usize| -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&c[..n]);
        b
    };
    Ok(match p {
        Primitive::Bool => match c[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            value => return Err(DeserializeError::InvalidBool { offset, value }.into()),
        },
        Primitive::Char | Primitive::Octet | Primitive::U8 => Value::U8(c[0]),
        Primitive::I8 => Value::I8(c[0] as i8),
        Primitive::U16 | Primitive::WChar => Value::U16(u16::from_le_bytes([c[0], c[1]])),
        Primitive::I16 => Value::I16(i16::from_le_bytes([c[0], c[1]])),
        Primitive::U32 => Value::U32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        Primitive::I32 => Value::I32(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        Primitive::F32 => Value::F32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        Primitive::U64 => Value::U64(u64::from_le_bytes(a(8))),
        Primitive::I64 => Value::I64(i64::from_le_bytes(a(8))),
        Primitive::F64 => Value::F64(f64::from_le_bytes(a(8))),
        // Unreachable: schema_of rejects long double before any decoding.
        Primitive::LongDouble => Value::Bytes(c.to_vec()),
    })
}

fn decode_one(f: &Field, ty: &FieldType, r: &mut Reader<'_>) -> Result<Value, MigrateCdrError> {
    match ty {
        FieldType::Primitive(p) => {
            let raw = r.take(p.align(), p.size())?;
            prim_from(*p, raw, r.position() - raw.len())
        }
        FieldType::String { bound } => {
            let len = r.u32()? as usize;
            if len == 0 {
                return Ok(Value::String(String::new()));
            }
            let all = r.take(1, len)?;
            if all[len - 1] != 0 {
                return Err(DeserializeError::StringNotTerminated {
                    field: f.name.clone(),
                }
                .into());
            }
            // A C string ends at its first NUL (as deserialize into C does).
            let text = &all[..len - 1];
            let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
            if let Some(b) = bound {
                if text.len() > *b {
                    return Err(DeserializeError::BoundExceeded {
                        field: f.name.clone(),
                        len: text.len(),
                        bound: *b,
                    }
                    .into());
                }
            }
            String::from_utf8(text.to_vec())
                .map(Value::String)
                .map_err(|_| MigrateCdrError::InvalidUtf8 {
                    field: f.name.clone(),
                })
        }
        FieldType::WString { bound } => {
            let mut units = Vec::new();
            crate::validate::wstring_units(f, *bound, r, |u| units.push(u))?;
            String::from_utf16(&units).map(Value::String).map_err(|_| {
                MigrateCdrError::InvalidUtf16 {
                    field: f.name.clone(),
                }
            })
        }
        FieldType::Message(m) => decode_message(m, r).map(Value::Message),
    }
}

/// A growing CDR body writer (alignment relative to the body start).
/// Holds the 4-byte header first, so alignment is relative to index 4.
struct Out(Vec<u8>);

impl Out {
    fn with_header(capacity: usize) -> Out {
        let mut v = Vec::with_capacity(capacity.max(64));
        v.extend_from_slice(&ENCAPSULATION_LE);
        Out(v)
    }
    fn align(&mut self, a: usize) {
        let body = self.0.len() - ENCAPSULATION_LE.len();
        let to = align_up(body, a) + ENCAPSULATION_LE.len();
        self.0.resize(to, 0);
    }
    fn put(&mut self, a: usize, b: &[u8]) {
        self.align(a);
        self.0.extend_from_slice(b);
    }
    fn len32(&mut self, field: &str, n: usize) -> Result<(), MigrateCdrError> {
        let v = u32::try_from(n).map_err(|_| MigrateCdrError::TooLong {
            field: field.to_string(),
            len: n,
        })?;
        self.put(4, &v.to_le_bytes());
        Ok(())
    }
}

/// Encodes `msg` (ids = field index + 1) as CDR (header + body) of
/// `layout`. Every field must be present with exactly its type and within
/// its bounds.
pub fn encode_cdr(layout: &MessageLayout, msg: &Message) -> Result<Vec<u8>, MigrateCdrError> {
    encode_with_capacity(layout, msg, 64)
}

fn encode_with_capacity(
    layout: &MessageLayout,
    msg: &Message,
    capacity: usize,
) -> Result<Vec<u8>, MigrateCdrError> {
    let mut out = Out::with_header(capacity);
    encode_message(layout, msg, &mut out)?;
    Ok(out.0)
}

fn mismatch(f: &Field, expected: &str, v: &Value) -> MigrateCdrError {
    MigrateCdrError::Encode {
        field: f.name.clone(),
        expected: expected.to_string(),
        found: v.kind().to_string(),
    }
}

fn encode_message(
    layout: &MessageLayout,
    msg: &Message,
    out: &mut Out,
) -> Result<(), MigrateCdrError> {
    for (i, f) in layout.fields.iter().enumerate() {
        let v = msg
            .get(id_of(i))
            .ok_or_else(|| MigrateCdrError::MissingField {
                field: f.name.clone(),
            })?;
        match f.arity {
            Arity::Single => encode_one(f, &f.ty, v, out)?,
            Arity::Array(n) => {
                let len = list_len(f, v)?;
                if len != n {
                    return Err(MigrateCdrError::Encode {
                        field: f.name.clone(),
                        expected: format!("{n} elements"),
                        found: format!("{len} elements"),
                    });
                }
                encode_many(f, v, out)?;
            }
            Arity::Sequence { bound } => {
                let len = list_len(f, v)?;
                if let Some(b) = bound {
                    if len > b {
                        return Err(MigrateCdrError::BoundExceeded {
                            field: f.name.clone(),
                            len,
                            bound: b,
                        });
                    }
                }
                out.len32(&f.name, len)?;
                encode_many(f, v, out)?;
            }
        }
    }
    Ok(())
}

fn list_len(f: &Field, v: &Value) -> Result<usize, MigrateCdrError> {
    match v {
        Value::List(items) => Ok(items.len()),
        Value::Bytes(b) if matches!(f.ty, FieldType::Primitive(p) if is_byte(p)) => Ok(b.len()),
        other => Err(mismatch(f, "a list", other)),
    }
}

fn encode_many(f: &Field, v: &Value, out: &mut Out) -> Result<(), MigrateCdrError> {
    match (v, &f.ty) {
        (Value::Bytes(b), FieldType::Primitive(_)) => {
            if !b.is_empty() {
                out.put(1, b);
            }
            Ok(())
        }
        (Value::List(items), FieldType::Primitive(p)) => {
            if !items.is_empty() {
                // Aligned once (elements are then naturally aligned).
                out.align(p.align());
            }
            items.iter().try_for_each(|x| encode_prim(f, *p, x, out))
        }
        (Value::List(items), ty) => items.iter().try_for_each(|x| encode_one(f, ty, x, out)),
        (other, _) => Err(mismatch(f, "a list", other)),
    }
}

fn encode_prim(f: &Field, p: Primitive, v: &Value, out: &mut Out) -> Result<(), MigrateCdrError> {
    let a = p.align();
    match (p, v) {
        (Primitive::Bool, Value::Bool(b)) => out.put(a, &[u8::from(*b)]),
        (Primitive::Char | Primitive::Octet | Primitive::U8, Value::U8(x)) => out.put(a, &[*x]),
        (Primitive::I8, Value::I8(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::U16 | Primitive::WChar, Value::U16(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::I16, Value::I16(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::U32, Value::U32(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::I32, Value::I32(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::U64, Value::U64(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::I64, Value::I64(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::F32, Value::F32(x)) => out.put(a, &x.to_le_bytes()),
        (Primitive::F64, Value::F64(x)) => out.put(a, &x.to_le_bytes()),
        _ => {
            let expected = prim_of(p).map_or("long double", SPrim::name);
            return Err(mismatch(f, expected, v));
        }
    }
    Ok(())
}

fn encode_one(f: &Field, ty: &FieldType, v: &Value, out: &mut Out) -> Result<(), MigrateCdrError> {
    match (ty, v) {
        (FieldType::Primitive(p), v) => encode_prim(f, *p, v, out),
        (FieldType::String { bound }, Value::String(s)) => {
            // Like Fast-CDR: a string ends at its first NUL.
            let b = s.as_bytes();
            let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
            if let Some(m) = bound {
                if b.len() > *m {
                    return Err(MigrateCdrError::BoundExceeded {
                        field: f.name.clone(),
                        len: b.len(),
                        bound: *m,
                    });
                }
            }
            out.len32(&f.name, b.len() + 1)?;
            out.0.extend_from_slice(b);
            out.0.push(0);
            Ok(())
        }
        (FieldType::WString { bound }, Value::String(s)) => {
            let units: Vec<u16> = s.encode_utf16().collect();
            if let Some(m) = bound {
                if units.len() > *m {
                    return Err(MigrateCdrError::BoundExceeded {
                        field: f.name.clone(),
                        len: units.len(),
                        bound: *m,
                    });
                }
            }
            out.len32(&f.name, units.len())?;
            for u in units {
                out.put(4, &u32::from(u).to_le_bytes());
            }
            Ok(())
        }
        (FieldType::Message(m), Value::Message(inner)) => encode_message(m, inner, out),
        (FieldType::Message(m), other) => Err(mismatch(f, &m.type_name(), other)),
        (_, other) => Err(mismatch(f, "string", other)),
    }
}

// ---------------------------------------------------------------------------
// Migration of bytes

/// Migrates one CDR sample written with `old` into CDR of `new` with `plan`
/// (from [`evolve`] or [`CdrMigration::with_rules`] on the same layouts).
/// Decoding is bounds-checked (untrusted bytes); the result is encoded
/// strictly against `new` (every field present, types and bounds checked).
pub fn migrate_cdr(
    plan: &CdrMigration,
    old: &MessageLayout,
    new: &MessageLayout,
    bytes_in: &[u8],
) -> Result<Vec<u8>, MigrateCdrError> {
    if plan.type_name != old.type_name() || plan.type_name != new.type_name() {
        return Err(MigrateCdrError::WrongPlan {
            plan: plan.type_name.clone(),
            old: old.type_name(),
            new: new.type_name(),
        });
    }
    let msg = decode_cdr(old, bytes_in)?;
    let mut out = plan.root.apply(&msg)?;
    if !plan.nested.is_empty() {
        migrate_nested(plan, new, &mut out)?;
    }
    // About the input's size: one allocation, no regrowth for a few
    // appended fields.
    encode_with_capacity(new, &out, bytes_in.len().saturating_add(64))
}

/// Applies nested plans to nested messages (in their old shape after the
/// root plan copied them), then recurses with the new nested layouts.
fn migrate_nested(
    plan: &CdrMigration,
    layout: &MessageLayout,
    msg: &mut Message,
) -> Result<(), MigrateCdrError> {
    for (i, f) in layout.fields.iter().enumerate() {
        let FieldType::Message(m) = &f.ty else {
            continue;
        };
        let Some(v) = msg.remove(id_of(i)) else {
            continue;
        };
        let fix = |v: Value| -> Result<Value, MigrateCdrError> {
            match v {
                Value::Message(inner) => {
                    let mut inner = match plan.nested.get(&m.type_name()) {
                        Some(p) => p.apply(&inner)?,
                        None => inner,
                    };
                    migrate_nested(plan, m, &mut inner)?;
                    Ok(Value::Message(inner))
                }
                other => Ok(other),
            }
        };
        let v = match v {
            Value::List(items) => {
                Value::List(items.into_iter().map(fix).collect::<Result<_, _>>()?)
            }
            other => fix(other)?,
        };
        msg.set(id_of(i), v);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Layouts without type support (CDR-only)

/// The field doc that marks a ROS `wstring` in a derived schema.
pub const WSTRING_DOC: &str = "ros: wstring";

/// Deepest nesting [`layout_from_schema`] follows (schemas may come from
/// shared memory: a cycle must end in an error).
pub const MAX_LAYOUT_DEPTH: usize = 32;

fn pkg_and_name(full: &str) -> (String, String) {
    // `pkg/msg/Name` -> (pkg, Name); `pkg/Name` -> (pkg, Name); `Name` -> ("", Name).
    let mut parts: Vec<&str> = full.split('/').collect();
    let name = parts.pop().unwrap_or_default().to_string();
    let pkg = parts.first().copied().unwrap_or_default().to_string();
    (pkg, name)
}

/// The CDR-only layout (see [`cdr_layout`]) of a schema whose ids are the
/// field positions (as [`schema_of`] and `.msg` files give): e.g. the
/// schema a publisher of another version registered, to decode its bytes.
/// Nested types resolve through `types`. Mapping: `u8` -> uint8, `u16` ->
/// uint16, `string` -> string (a wstring when the field doc is
/// [`WSTRING_DOC`]); `bytes` is not a ROS type (error).
pub fn layout_from_schema(
    schema: &Schema,
    types: &dyn TypeResolver,
) -> Result<Arc<MessageLayout>, SchemaMapError> {
    let mut memo = BTreeMap::new();
    layout_at(schema, types, &mut Vec::new(), &mut memo)
}

/// Builds one layout; `stack` holds the types being built (a type met again
/// while on it is a cycle), `memo` the finished ones, so a hostile set of
/// schemas costs linear work.
fn layout_at(
    schema: &Schema,
    types: &dyn TypeResolver,
    stack: &mut Vec<String>,
    memo: &mut BTreeMap<String, Arc<MessageLayout>>,
) -> Result<Arc<MessageLayout>, SchemaMapError> {
    if let Some(l) = memo.get(&schema.name) {
        return Ok(l.clone());
    }
    if stack.len() >= MAX_LAYOUT_DEPTH || stack.contains(&schema.name) {
        return Err(SchemaMapError::TooDeep {
            ty: schema.name.clone(),
            max: MAX_LAYOUT_DEPTH,
        });
    }
    stack.push(schema.name.clone());
    let mut fields = Vec::with_capacity(schema.fields.len());
    for (i, f) in schema.fields.iter().enumerate() {
        if f.id != id_of(i) {
            return Err(SchemaMapError::NotPositional {
                ty: schema.name.clone(),
                field: f.name.clone(),
                id: f.id,
            });
        }
        let ty = match f.ty.base() {
            BaseType::Prim(p) => FieldType::Primitive(match p {
                SPrim::Bool => Primitive::Bool,
                SPrim::U8 => Primitive::U8,
                SPrim::U16 => Primitive::U16,
                SPrim::U32 => Primitive::U32,
                SPrim::U64 => Primitive::U64,
                SPrim::I8 => Primitive::I8,
                SPrim::I16 => Primitive::I16,
                SPrim::I32 => Primitive::I32,
                SPrim::I64 => Primitive::I64,
                SPrim::F32 => Primitive::F32,
                SPrim::F64 => Primitive::F64,
            }),
            BaseType::String(bound) => {
                let bound = bound.map(|b| b as usize);
                if f.doc == WSTRING_DOC {
                    FieldType::WString { bound }
                } else {
                    FieldType::String { bound }
                }
            }
            BaseType::Bytes => {
                return Err(SchemaMapError::Unsupported {
                    ty: schema.name.clone(),
                    field: f.name.clone(),
                    what: "bytes",
                })
            }
            BaseType::Nested(n) => {
                let nested = types
                    .resolve(n)
                    .ok_or_else(|| SchemaMapError::UnknownNested {
                        ty: schema.name.clone(),
                        field: f.name.clone(),
                        nested: n.clone(),
                    })?;
                FieldType::Message(layout_at(nested, types, stack, memo)?)
            }
        };
        let arity = match &f.ty {
            SType::Single(_) => Arity::Single,
            SType::Array(_, n) => Arity::Array(*n as usize),
            SType::Sequence(_, m) => Arity::Sequence {
                bound: m.map(|m| m as usize),
            },
        };
        fields.push((f.name.clone(), ty, arity));
    }
    let (pkg, name) = pkg_and_name(&schema.name);
    let l = cdr_layout(&pkg, &name, fields);
    stack.pop();
    memo.insert(schema.name.clone(), l.clone());
    Ok(l)
}

/// One field of a [`cdr_layout`]: name, element type, arity.
pub type CdrField = (String, FieldType, Arity);

/// Builds a layout for CDR-only use (schemas, [`crate::validate`],
/// [`decode_cdr`], [`encode_cdr`], [`migrate_cdr`]) without a type support
/// library: e.g. another version of a type whose bytes arrive from a peer.
/// It has no memory layout and no accessor functions: never pass it to the
/// functions that read or write message memory.
pub fn cdr_layout(package: &str, name: &str, fields: Vec<CdrField>) -> Arc<MessageLayout> {
    let fields: Vec<Field> = fields
        .into_iter()
        .map(|(name, ty, arity)| Field {
            name,
            ty,
            arity,
            offset: 0,
            fns: MemberFns::default(),
        })
        .collect();
    let min_cdr_size = fields
        .iter()
        .map(|f| f.min_cdr_size())
        .fold(0usize, usize::saturating_add)
        .max(1);
    Arc::new(MessageLayout {
        package: package.to_string(),
        subfolder: "msg".to_string(),
        name: name.to_string(),
        flavor: Flavor::C,
        size_of: 0,
        fields,
        min_cdr_size,
        plain_align: None,
        plain_first_align: 1,
        init_fn: InitFn::C {
            init: None,
            fini: None,
        },
    })
}

/// The fields of an existing layout in [`cdr_layout`] form (to build a
/// modified version of a real type).
pub fn cdr_fields(layout: &MessageLayout) -> Vec<CdrField> {
    layout
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.ty.clone(), f.arity))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, p: Primitive) -> CdrField {
        (name.to_string(), FieldType::Primitive(p), Arity::Single)
    }

    #[test]
    fn cyclic_and_branching_schemas_end_quickly() {
        use renoir_core::schema::FieldType as T;
        // A -> B -> A, two fields each: an error, not 2^32 steps.
        let v = Version::new(1, 0, 0);
        let mk = |name: &str, other: &str| {
            Schema::builder(name, v.clone())
                .required(1, "x", T::nested(other))
                .required(2, "y", T::nested(other))
                .build()
                .unwrap()
        };
        let types = vec![mk("p/msg/A", "p/msg/B"), mk("p/msg/B", "p/msg/A")];
        assert!(matches!(
            layout_from_schema(&types[0], &types),
            Err(SchemaMapError::TooDeep { .. })
        ));
        // A chain of 20 types, each with two fields of the next: built once each.
        let mut chain: Vec<Schema> = (0..20)
            .map(|i| mk(&format!("p/msg/T{i}"), &format!("p/msg/T{}", i + 1)))
            .collect();
        chain.push(
            Schema::builder("p/msg/T20", v.clone())
                .required(1, "z", SPrim::U8)
                .build()
                .unwrap(),
        );
        let start = std::time::Instant::now();
        let l = layout_from_schema(&chain[0], &chain).unwrap();
        assert!(start.elapsed().as_secs() < 5);
        assert_eq!(l.type_name(), "p/msg/T0");
    }

    #[test]
    fn hand_built_roundtrip_and_added_field() {
        let point = cdr_layout(
            "g",
            "P",
            vec![p("x", Primitive::F64), p("y", Primitive::F64)],
        );
        let old = cdr_layout(
            "demo",
            "R",
            vec![
                p("flag", Primitive::Bool),
                p("stamp", Primitive::U64),
                (
                    "name".into(),
                    FieldType::String { bound: Some(8) },
                    Arity::Single,
                ),
                (
                    "pts".into(),
                    FieldType::Message(point.clone()),
                    Arity::Sequence { bound: None },
                ),
                (
                    "raw".into(),
                    FieldType::Primitive(Primitive::U8),
                    Arity::Sequence { bound: None },
                ),
            ],
        );
        let mut msg = Message::new()
            .with(1, Value::Bool(true))
            .with(2, Value::U64(7))
            .with(3, Value::String("abc".into()))
            .with(
                4,
                Value::List(vec![Value::Message(
                    Message::new()
                        .with(1, Value::F64(1.5))
                        .with(2, Value::F64(-2.0)),
                )]),
            )
            .with(5, Value::Bytes(vec![1, 2, 3]));
        let bytes = encode_cdr(&old, &msg).unwrap();
        assert_eq!(decode_cdr(&old, &bytes).unwrap(), msg);
        assert_eq!(crate::validate(&old, &bytes).unwrap(), bytes.len());

        let mut fields = cdr_fields(&old);
        fields.push(p("count", Primitive::I32));
        let new = cdr_layout("demo", "R", fields);
        let ev = evolve(&old, &new).unwrap();
        assert_eq!(ev.compatibility.level, Level::BackwardCompatible);
        let plan = ev.plan.expect("plan");
        let out = migrate_cdr(&plan, &old, &new, &bytes).unwrap();
        msg.set(6, Value::I32(0));
        assert_eq!(decode_cdr(&new, &out).unwrap(), msg);
        // Every strict prefix is rejected, never a panic.
        for n in 0..bytes.len() {
            assert!(migrate_cdr(&plan, &old, &new, &bytes[..n]).is_err(), "{n}");
        }
    }
}
