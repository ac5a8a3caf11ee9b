//! Compatibility between two versions of a schema.
//!
//! Definitions (see docs/schema-evolution.md):
//! - *backward compatible*: readers using the new schema can read every
//!   message written with the old one;
//! - *forward compatible*: readers using the old schema can read every
//!   message written with the new one;
//! - *fully compatible*: both.
//!
//! By default readers are assumed to decode exactly their own type and not to
//! skip fields they do not know (ROS 2 / CDR `final` types behave this way), so
//! a field one side does not know breaks the direction in which it appears.
//! [`CompareOptions::readers_skip_unknown`] relaxes that.

use std::fmt;

use super::model::{BaseType, Field, FieldId, FieldType, Presence, Primitive, Schema};

/// Overall verdict of [`compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// No change that affects data (version and docs may differ).
    Identical,
    /// New readers read old data and old readers read new data.
    FullyCompatible,
    /// New readers read old data; old readers may fail on new data.
    BackwardCompatible,
    /// Old readers read new data; new readers may fail on old data.
    ForwardCompatible,
    /// Neither direction is guaranteed.
    Breaking,
}

impl Level {
    pub fn is_backward(self) -> bool {
        matches!(
            self,
            Level::Identical | Level::FullyCompatible | Level::BackwardCompatible
        )
    }
    pub fn is_forward(self) -> bool {
        matches!(
            self,
            Level::Identical | Level::FullyCompatible | Level::ForwardCompatible
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Identical => "identical",
            Level::FullyCompatible => "fully compatible",
            Level::BackwardCompatible => "backward compatible",
            Level::ForwardCompatible => "forward compatible",
            Level::Breaking => "breaking",
        })
    }
}

/// What kind of change a [`Reason`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    SchemaRenamed,
    FormatChanged,
    FieldAdded,
    FieldRemoved,
    FieldRenamed,
    FieldRenumbered,
    IdReused,
    TypeWidened,
    TypeNarrowed,
    TypeChanged,
    RequiredToOptional,
    OptionalToRequired,
    Deprecated,
    Undeprecated,
    DefaultChanged,
}

/// One change between two schemas, and what it does to each direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub kind: ChangeKind,
    /// The field's name (the new name when renamed), if the change is about a field.
    pub field: Option<String>,
    pub id: Option<FieldId>,
    /// New readers can still read old data despite this change.
    pub backward: bool,
    /// Old readers can still read new data despite this change.
    pub forward: bool,
    /// Human-readable sentence naming the field.
    pub message: String,
}

impl Reason {
    /// The level this change alone implies.
    pub fn level(&self) -> Level {
        match (self.backward, self.forward) {
            (true, true) => Level::FullyCompatible,
            (true, false) => Level::BackwardCompatible,
            (false, true) => Level::ForwardCompatible,
            (false, false) => Level::Breaking,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.level(), self.message)
    }
}

/// Result of [`compare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compatibility {
    pub level: Level,
    pub reasons: Vec<Reason>,
}

impl Compatibility {
    pub fn is_backward(&self) -> bool {
        self.level.is_backward()
    }
    pub fn is_forward(&self) -> bool {
        self.level.is_forward()
    }
    /// Reasons that break the backward direction.
    pub fn backward_breaks(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| !r.backward)
    }
    /// Reasons that break the forward direction.
    pub fn forward_breaks(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| !r.forward)
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.level)?;
        for r in &self.reasons {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

/// Knobs for [`compare_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// Readers ignore fields their schema does not know (protobuf/Avro-like
    /// decoding). Off by default: ROS 2 readers decode exactly their own type.
    pub readers_skip_unknown: bool,
}

/// How an old field was paired with a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchKind {
    Id,
    Name,
    Rename,
}

/// Field pairing between two schemas (indices into `fields`).
#[derive(Debug, Default)]
pub(crate) struct Matching {
    pub pairs: Vec<(usize, usize, MatchKind)>,
    pub removed: Vec<usize>,
    pub added: Vec<usize>,
    /// An old and a new field share an id but neither the name nor the type.
    pub reused: Vec<(usize, usize)>,
}

/// Pairs fields: explicit renames first, then equal ids (when the name or the
/// type still agrees), then equal names. An id shared by two fields that
/// differ in both name and type is a reuse, not a match.
pub(crate) fn match_fields(old: &Schema, new: &Schema, renames: &[(String, String)]) -> Matching {
    let mut old_used = vec![false; old.fields.len()];
    let mut new_used = vec![false; new.fields.len()];
    let mut m = Matching::default();
    for (from, to) in renames {
        let o = old.fields.iter().position(|f| &f.name == from);
        let n = new.fields.iter().position(|f| &f.name == to);
        if let (Some(o), Some(n)) = (o, n) {
            if !old_used[o] && !new_used[n] {
                old_used[o] = true;
                new_used[n] = true;
                m.pairs.push((o, n, MatchKind::Rename));
            }
        }
    }
    for (o, of) in old.fields.iter().enumerate() {
        if old_used[o] {
            continue;
        }
        if let Some(n) = new.fields.iter().position(|f| f.id == of.id) {
            let nf = &new.fields[n];
            if !new_used[n] && (nf.name == of.name || nf.ty == of.ty) {
                old_used[o] = true;
                new_used[n] = true;
                m.pairs.push((o, n, MatchKind::Id));
            }
        }
    }
    for (o, of) in old.fields.iter().enumerate() {
        if old_used[o] {
            continue;
        }
        if let Some(n) = new.fields.iter().position(|f| f.name == of.name) {
            if !new_used[n] {
                old_used[o] = true;
                new_used[n] = true;
                m.pairs.push((o, n, MatchKind::Name));
            }
        }
    }
    for (o, of) in old.fields.iter().enumerate() {
        if old_used[o] {
            continue;
        }
        match new
            .fields
            .iter()
            .position(|f| f.id == of.id)
            .filter(|n| !new_used[*n])
        {
            Some(n) => {
                new_used[n] = true;
                m.reused.push((o, n));
            }
            None => m.removed.push(o),
        }
    }
    m.added = (0..new.fields.len()).filter(|n| !new_used[*n]).collect();
    m.pairs.sort_by_key(|p| p.1);
    m
}

/// How a value of type `from` becomes a value of type `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeRelation {
    Same,
    /// Every `from` value is a valid `to` value (possibly after widening).
    Widens,
    /// Every `to` value is a valid `from` value, not the reverse.
    Narrows,
    Incompatible,
}

fn base_relation(from: &BaseType, to: &BaseType) -> TypeRelation {
    use TypeRelation::*;
    match (from, to) {
        _ if from == to => Same,
        (BaseType::Prim(a), BaseType::Prim(b)) if a.widens_to(*b) => Widens,
        (BaseType::Prim(a), BaseType::Prim(b)) if b.widens_to(*a) => Narrows,
        (BaseType::String(a), BaseType::String(b)) => match (a, b) {
            (_, None) => Widens,
            (None, Some(_)) => Narrows,
            (Some(x), Some(y)) if y >= x => Widens,
            _ => Narrows,
        },
        _ => Incompatible,
    }
}

fn count_relation(from: &FieldType, to: &FieldType) -> TypeRelation {
    use TypeRelation::*;
    match (from, to) {
        (FieldType::Single(_), FieldType::Single(_)) => Same,
        (FieldType::Array(_, a), FieldType::Array(_, b)) if a == b => Same,
        (FieldType::Array(_, a), FieldType::Sequence(_, m)) => match m {
            Some(m) if m < a => Incompatible,
            _ => Widens,
        },
        (FieldType::Sequence(_, m), FieldType::Array(_, b)) => match m {
            Some(m) if m < b => Incompatible,
            _ => Narrows,
        },
        (FieldType::Sequence(_, a), FieldType::Sequence(_, b)) => match (a, b) {
            _ if a == b => Same,
            (_, None) => Widens,
            (None, Some(_)) => Narrows,
            (Some(x), Some(y)) if y > x => Widens,
            _ => Narrows,
        },
        _ => Incompatible,
    }
}

/// Relation between two field types: element relation combined with the
/// shape (single / array / sequence and bounds).
pub(crate) fn type_relation(from: &FieldType, to: &FieldType) -> TypeRelation {
    use TypeRelation::*;
    let b = base_relation(from.base(), to.base());
    let c = count_relation(from, to);
    match (b, c) {
        (Incompatible, _) | (_, Incompatible) => Incompatible,
        (Same, x) | (x, Same) => x,
        (Widens, Widens) => Widens,
        (Narrows, Narrows) => Narrows,
        _ => Incompatible,
    }
}

/// The primitive a conversion must produce, if the element type is primitive.
pub(crate) fn target_primitive(ty: &FieldType) -> Option<Primitive> {
    match ty.base() {
        BaseType::Prim(p) => Some(*p),
        _ => None,
    }
}

/// Compares with default options (readers do not skip unknown fields).
pub fn compare(old: &Schema, new: &Schema) -> Compatibility {
    compare_with(old, new, &CompareOptions::default())
}

fn presence(f: &Field) -> &'static str {
    match f.presence {
        Presence::Required => "required",
        Presence::Optional => "optional",
    }
}

/// Compares `old` to `new` and lists every change with its effect on each
/// direction. The level is the meet of all reasons' levels.
pub fn compare_with(old: &Schema, new: &Schema, opts: &CompareOptions) -> Compatibility {
    let skip = opts.readers_skip_unknown;
    let mut reasons = Vec::new();
    let mut push = |kind, f: Option<&Field>, backward, forward, message: String| {
        reasons.push(Reason {
            kind,
            field: f.map(|f| f.name.clone()),
            id: f.map(|f| f.id),
            backward,
            forward,
            message,
        })
    };
    if old.name != new.name {
        push(
            ChangeKind::SchemaRenamed,
            None,
            true,
            true,
            format!("schema renamed from `{}` to `{}`", old.name, new.name),
        );
    }
    if old.format != new.format {
        push(
            ChangeKind::FormatChanged,
            None,
            false,
            false,
            format!(
                "data format changed from `{}` to `{}`",
                old.format, new.format
            ),
        );
    }
    let m = match_fields(old, new, &[]);
    for &(o, n, _) in &m.pairs {
        let (of, nf) = (&old.fields[o], &new.fields[n]);
        if of.name != nf.name {
            push(
                ChangeKind::FieldRenamed,
                Some(nf),
                true,
                true,
                format!(
                    "field `{}` (id {}) renamed to `{}`",
                    of.name, of.id, nf.name
                ),
            );
        }
        if of.id != nf.id {
            push(
                ChangeKind::FieldRenumbered,
                Some(nf),
                true,
                true,
                format!(
                    "field `{}` changed id from {} to {} (matched by name)",
                    nf.name, of.id, nf.id
                ),
            );
        }
        match type_relation(&of.ty, &nf.ty) {
            TypeRelation::Same => {}
            TypeRelation::Widens => push(
                ChangeKind::TypeWidened,
                Some(nf),
                true,
                false,
                format!(
                    "field `{}` widened from {} to {}: new readers convert old values losslessly, old readers cannot hold new values",
                    nf.name, of.ty, nf.ty
                ),
            ),
            TypeRelation::Narrows => push(
                ChangeKind::TypeNarrowed,
                Some(nf),
                false,
                true,
                format!(
                    "field `{}` narrowed from {} to {}: old values may not fit",
                    nf.name, of.ty, nf.ty
                ),
            ),
            TypeRelation::Incompatible => push(
                ChangeKind::TypeChanged,
                Some(nf),
                false,
                false,
                format!(
                    "field `{}` changed type from {} to {}, which is not a widening",
                    nf.name, of.ty, nf.ty
                ),
            ),
        }
        match (of.presence, nf.presence) {
            (Presence::Required, Presence::Optional) => push(
                ChangeKind::RequiredToOptional,
                Some(nf),
                true,
                false,
                format!(
                    "field `{}` changed from required to optional: old readers may meet messages without it",
                    nf.name
                ),
            ),
            (Presence::Optional, Presence::Required) => {
                // With a default (old or new) every absent value has a
                // stand-in, so nothing breaks. Without one, old data (and
                // old writers, which may still leave it unset) lacks a
                // value the new schema demands: breaking, as the issue
                // requires, in both directions for registry policies.
                let has_default = nf.default.is_some() || of.default.is_some();
                push(
                    ChangeKind::OptionalToRequired,
                    Some(nf),
                    has_default,
                    has_default,
                    if has_default {
                        format!(
                            "field `{}` changed from optional to required; old messages without it get the default",
                            nf.name
                        )
                    } else {
                        format!(
                            "field `{}` (id {}) changed from optional to required without a default: old messages and old writers may lack it",
                            nf.name, nf.id
                        )
                    },
                );
            }
            _ => {}
        }
        if !of.deprecated && nf.deprecated {
            push(
                ChangeKind::Deprecated,
                Some(nf),
                true,
                true,
                format!("field `{}` deprecated", nf.name),
            );
        } else if of.deprecated && !nf.deprecated {
            push(
                ChangeKind::Undeprecated,
                Some(nf),
                true,
                true,
                format!("field `{}` no longer deprecated", nf.name),
            );
        }
        let old_default = of.default.as_ref().map(ToString::to_string);
        let new_default = nf.default.as_ref().map(ToString::to_string);
        if old_default != new_default {
            let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
            push(
                ChangeKind::DefaultChanged,
                Some(nf),
                true,
                true,
                format!(
                    "default of field `{}` changed from {} to {}",
                    nf.name,
                    show(&old_default),
                    show(&new_default)
                ),
            );
        }
    }
    for &(o, n) in &m.reused {
        let (of, nf) = (&old.fields[o], &new.fields[n]);
        push(
            ChangeKind::IdReused,
            Some(nf),
            false,
            false,
            format!(
                "field id {} reused: was `{}` ({}), now `{}` ({}); if it is the same field, declare a rename",
                nf.id, of.name, of.ty, nf.name, nf.ty
            ),
        );
    }
    for &o in &m.removed {
        let of = &old.fields[o];
        let old_can_do_without = !of.is_required() || of.default.is_some();
        let forward = old_can_do_without;
        push(
            ChangeKind::FieldRemoved,
            Some(of),
            skip,
            forward,
            if forward {
                format!(
                    "{} field `{}` (id {}, {}) removed{}",
                    presence(of),
                    of.name,
                    of.id,
                    of.ty,
                    if skip {
                        ""
                    } else {
                        ": new readers do not know it in old messages"
                    }
                )
            } else {
                format!(
                    "required field `{}` (id {}, {}) removed: old readers need it",
                    of.name, of.id, of.ty
                )
            },
        );
    }
    for &n in &m.added {
        let nf = &new.fields[n];
        let backward = !nf.is_required() || nf.default.is_some();
        push(
            ChangeKind::FieldAdded,
            Some(nf),
            backward,
            skip,
            if backward {
                format!(
                    "{} field `{}` (id {}, {}{}) added{}",
                    presence(nf),
                    nf.name,
                    nf.id,
                    nf.ty,
                    nf.default
                        .as_ref()
                        .map(|d| format!(", default {d}"))
                        .unwrap_or_default(),
                    if skip {
                        ""
                    } else {
                        ": old readers do not know it"
                    }
                )
            } else {
                format!(
                    "required field `{}` (id {}, {}) added without a default: old messages lack it",
                    nf.name, nf.id, nf.ty
                )
            },
        );
    }
    let level = if reasons.is_empty() {
        Level::Identical
    } else {
        let b = reasons.iter().all(|r| r.backward);
        let f = reasons.iter().all(|r| r.forward);
        match (b, f) {
            (true, true) => Level::FullyCompatible,
            (true, false) => Level::BackwardCompatible,
            (false, true) => Level::ForwardCompatible,
            (false, false) => Level::Breaking,
        }
    };
    Compatibility { level, reasons }
}
