//! Migration of messages from one schema version to another.
//!
//! A [`MigrationPlan`] is computed once from (old, new, [`MigrationRules`]) and
//! then applied to many messages. Building fails for changes that cannot be
//! done automatically unless the rules resolve them. A [`MigrationChain`]
//! composes plans (v0.9 -> v1.0 -> v1.1 -> v2.0). A [`Migrator`] runs a chain,
//! validates each result against the final schema, leaves the input untouched
//! on failure and keeps [`MigrationStats`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::compat::{match_fields, target_primitive, type_relation, TypeRelation};
use super::model::{check_value, FieldId, Message, NoTypes, Schema, Value};

/// A caller-supplied conversion for a field whose type change is not automatic.
pub type TransformFn = Arc<dyn Fn(&Value) -> Result<Value, String> + Send + Sync>;

/// Explicit decisions for changes the planner will not make on its own.
/// Field names refer to the old schema for `rename.0` and `drop`, and to the
/// new schema everywhere else.
#[derive(Clone, Default)]
pub struct MigrationRules {
    renames: Vec<(String, String)>,
    defaults: Vec<(String, Value)>,
    drops: Vec<String>,
    narrowings: Vec<String>,
    transforms: Vec<(String, TransformFn)>,
}

impl fmt::Debug for MigrationRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrationRules")
            .field("renames", &self.renames)
            .field("defaults", &self.defaults)
            .field("drops", &self.drops)
            .field("narrowings", &self.narrowings)
            .field(
                "transforms",
                &self.transforms.iter().map(|t| &t.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl MigrationRules {
    pub fn new() -> Self {
        Self::default()
    }
    /// Old field `from` becomes new field `to` (whatever their ids).
    pub fn rename(mut self, from: &str, to: &str) -> Self {
        self.renames.push((from.to_string(), to.to_string()));
        self
    }
    /// Value for new field `field` when the old message has no value for it.
    pub fn default_value(mut self, field: &str, v: Value) -> Self {
        self.defaults.push((field.to_string(), v));
        self
    }
    /// Accept losing old required field `field`.
    pub fn drop(mut self, field: &str) -> Self {
        self.drops.push(field.to_string());
        self
    }
    /// Accept a narrowing of new field `field`, checked per message (a value
    /// that does not fit fails that message's migration).
    pub fn allow_narrowing(mut self, field: &str) -> Self {
        self.narrowings.push(field.to_string());
        self
    }
    /// Convert the old value of new field `field` with `f`.
    pub fn transform(
        mut self,
        field: &str,
        f: impl Fn(&Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.transforms.push((field.to_string(), Arc::new(f)));
        self
    }
    fn default_for(&self, field: &str) -> Option<&Value> {
        self.defaults.iter().find(|d| d.0 == field).map(|d| &d.1)
    }
}

/// Why a plan cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("{which} schema {key} is invalid: {detail}")]
    InvalidSchema {
        which: &'static str,
        key: String,
        detail: String,
    },
    #[error("required field `{field}` (id {id}) has no value for old messages: give it a default (schema or rule)")]
    MissingValue { field: String, id: FieldId },
    #[error("field `{field}` changed type from {from} to {to}: give a transform rule")]
    IncompatibleType {
        field: String,
        from: String,
        to: String,
    },
    #[error("field `{field}` narrowed from {from} to {to}: allow the narrowing or give a transform rule")]
    Narrowing {
        field: String,
        from: String,
        to: String,
    },
    #[error("field id {id} reused: old `{old_field}` vs new `{new_field}`: declare a rename or drop `{old_field}`")]
    IdReused {
        id: FieldId,
        old_field: String,
        new_field: String,
    },
    #[error(
        "required field `{field}` (id {id}) would be dropped: add a drop rule to accept losing it"
    )]
    RequiredDropped { field: String, id: FieldId },
    #[error("rule `{rule}` names field `{field}`, which the {which} schema does not have")]
    UnknownRuleField {
        rule: &'static str,
        field: String,
        which: &'static str,
    },
    #[error("default rule for field `{field}` does not match its type: {detail}")]
    RuleDefaultMismatch { field: String, detail: String },
}

/// Why one message could not be migrated (the input is left as it was).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MigrateError {
    #[error("{at}: field `{field}`: {detail}")]
    Conversion {
        at: String,
        field: String,
        detail: String,
    },
    #[error("{at}: transform of field `{field}` failed: {detail}")]
    Transform {
        at: String,
        field: String,
        detail: String,
    },
    #[error("{at}: required field `{field}` has no value")]
    MissingValue { at: String, field: String },
    #[error("result does not conform to {schema}: {detail}")]
    InvalidResult { schema: String, detail: String },
}

#[derive(Clone)]
enum Conv {
    Identity,
    /// Scalar or element-wise primitive conversion, checked.
    Prim(super::model::Primitive),
    Custom(TransformFn),
}

#[derive(Clone)]
enum Op {
    /// Take the old field `from`; if absent use `fallback`; if none and the
    /// target is required, fail.
    Copy {
        from: FieldId,
        conv: Conv,
        fallback: Option<Value>,
    },
    /// A field old messages never carry.
    Fill(Value),
}

#[derive(Clone)]
struct Step {
    to: FieldId,
    name: String,
    required: bool,
    op: Op,
}

/// A compiled old -> new mapping (by stable id, then name, then rules).
#[derive(Clone)]
pub struct MigrationPlan {
    source: Arc<Schema>,
    target: Arc<Schema>,
    steps: Vec<Step>,
    dropped: Vec<(FieldId, String)>,
    notes: Vec<String>,
}

impl fmt::Debug for MigrationPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrationPlan")
            .field("source", &self.source.key())
            .field("target", &self.target.key())
            .field("notes", &self.notes)
            .finish()
    }
}

impl MigrationPlan {
    /// Plans old -> new with no explicit rules.
    pub fn new(old: &Schema, new: &Schema) -> Result<MigrationPlan, PlanError> {
        Self::with_rules(old, new, &MigrationRules::default())
    }

    /// Plans old -> new; `rules` resolve what is not automatic.
    pub fn with_rules(
        old: &Schema,
        new: &Schema,
        rules: &MigrationRules,
    ) -> Result<MigrationPlan, PlanError> {
        for (which, s) in [("source", old), ("target", new)] {
            s.validate().map_err(|e| PlanError::InvalidSchema {
                which,
                key: s.key(),
                detail: e.to_string(),
            })?;
        }
        let unknown = |rule, field: &str, which| PlanError::UnknownRuleField {
            rule,
            field: field.to_string(),
            which,
        };
        for (from, to) in &rules.renames {
            if old.field_by_name(from).is_none() {
                return Err(unknown("rename", from, "old"));
            }
            if new.field_by_name(to).is_none() {
                return Err(unknown("rename", to, "new"));
            }
        }
        for d in &rules.drops {
            if old.field_by_name(d).is_none() {
                return Err(unknown("drop", d, "old"));
            }
        }
        for (name, v) in &rules.defaults {
            let f = new
                .field_by_name(name)
                .ok_or_else(|| unknown("default", name, "new"))?;
            check_value(&f.name, &f.ty, v, &NoTypes, 0).map_err(|e| {
                PlanError::RuleDefaultMismatch {
                    field: name.clone(),
                    detail: e.to_string(),
                }
            })?;
        }
        for n in rules
            .narrowings
            .iter()
            .chain(rules.transforms.iter().map(|t| &t.0))
        {
            if new.field_by_name(n).is_none() {
                return Err(unknown("transform/narrowing", n, "new"));
            }
        }

        let m = match_fields(old, new, &rules.renames);
        let mut steps = Vec::with_capacity(new.fields.len());
        let mut notes = Vec::new();
        let mut dropped = Vec::new();
        let mut added = m.added.clone();
        for &(o, n) in &m.reused {
            let (of, nf) = (&old.fields[o], &new.fields[n]);
            if rules.drops.contains(&of.name) {
                dropped.push((of.id, of.name.clone()));
                notes.push(format!("drop `{}` (id {} reused)", of.name, of.id));
                added.push(n);
            } else {
                return Err(PlanError::IdReused {
                    id: nf.id,
                    old_field: of.name.clone(),
                    new_field: nf.name.clone(),
                });
            }
        }
        for &(o, n, _) in &m.pairs {
            let (of, nf) = (&old.fields[o], &new.fields[n]);
            let transform = rules.transforms.iter().find(|t| t.0 == nf.name);
            let conv = if let Some((_, f)) = transform {
                Conv::Custom(f.clone())
            } else {
                match type_relation(&of.ty, &nf.ty) {
                    TypeRelation::Same => Conv::Identity,
                    TypeRelation::Widens => target_primitive(&nf.ty)
                        .map(Conv::Prim)
                        .unwrap_or(Conv::Identity),
                    TypeRelation::Narrows if rules.narrowings.contains(&nf.name) => {
                        target_primitive(&nf.ty)
                            .map(Conv::Prim)
                            .unwrap_or(Conv::Identity)
                    }
                    TypeRelation::Narrows => {
                        return Err(PlanError::Narrowing {
                            field: nf.name.clone(),
                            from: of.ty.to_string(),
                            to: nf.ty.to_string(),
                        })
                    }
                    TypeRelation::Incompatible => {
                        return Err(PlanError::IncompatibleType {
                            field: nf.name.clone(),
                            from: of.ty.to_string(),
                            to: nf.ty.to_string(),
                        })
                    }
                }
            };
            // The value an absent old field stands for: the old default,
            // converted; else the rule's default; else the new default.
            let old_default = of.default.as_ref().and_then(|d| apply_conv(&conv, d).ok());
            // An optional target whose default already equals that value
            // stays unset (it reads the same).
            let old_default =
                old_default.filter(|d| nf.is_required() || nf.default.as_ref() != Some(d));
            let fallback = old_default
                .or_else(|| rules.default_for(&nf.name).cloned())
                .or_else(|| nf.default.clone().filter(|_| nf.is_required()));
            if nf.is_required() && !of.is_required() && fallback.is_none() {
                return Err(PlanError::MissingValue {
                    field: nf.name.clone(),
                    id: nf.id,
                });
            }
            if of.name != nf.name {
                notes.push(format!("rename `{}` -> `{}`", of.name, nf.name));
            }
            if of.ty != nf.ty {
                notes.push(format!("convert `{}` {} -> {}", nf.name, of.ty, nf.ty));
            }
            steps.push(Step {
                to: nf.id,
                name: nf.name.clone(),
                required: nf.is_required(),
                op: Op::Copy {
                    from: of.id,
                    conv,
                    fallback,
                },
            });
        }
        for &n in &added {
            let nf = &new.fields[n];
            let value = rules
                .default_for(&nf.name)
                .cloned()
                .or_else(|| nf.default.clone().filter(|_| nf.is_required()));
            match value {
                Some(v) => {
                    notes.push(format!("fill `{}` = {}", nf.name, v));
                    steps.push(Step {
                        to: nf.id,
                        name: nf.name.clone(),
                        required: nf.is_required(),
                        op: Op::Fill(v),
                    });
                }
                None if nf.is_required() => {
                    return Err(PlanError::MissingValue {
                        field: nf.name.clone(),
                        id: nf.id,
                    })
                }
                None => notes.push(format!("leave optional `{}` unset", nf.name)),
            }
        }
        for &o in &m.removed {
            let of = &old.fields[o];
            let losable = !of.is_required() || of.deprecated || of.default.is_some();
            if !losable && !rules.drops.contains(&of.name) {
                return Err(PlanError::RequiredDropped {
                    field: of.name.clone(),
                    id: of.id,
                });
            }
            notes.push(format!("drop `{}`", of.name));
            dropped.push((of.id, of.name.clone()));
        }
        steps.sort_by_key(|s| s.to);
        Ok(MigrationPlan {
            source: Arc::new(old.clone()),
            target: Arc::new(new.clone()),
            steps,
            dropped,
            notes,
        })
    }

    pub fn source(&self) -> &Schema {
        &self.source
    }
    pub fn target(&self) -> &Schema {
        &self.target
    }
    /// Old fields whose values the plan discards.
    pub fn dropped(&self) -> &[(FieldId, String)] {
        &self.dropped
    }
    /// What the plan does, one line per action (renames, conversions, fills, drops).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Maps one message (no validation of the result; see [`Migrator`]).
    fn map(&self, step_no: usize, msg: &Message) -> Result<Message, MigrateError> {
        let mut out = Message::new();
        for s in &self.steps {
            match &s.op {
                Op::Fill(v) => {
                    out.set(s.to, v.clone());
                }
                Op::Copy {
                    from,
                    conv,
                    fallback,
                } => {
                    let at = || {
                        format!(
                            "step {step_no} ({} -> {})",
                            self.source.key(),
                            self.target.key()
                        )
                    };
                    let v = match msg.get(*from) {
                        Some(v) => Some(apply_conv(conv, v).map_err(|e| match e {
                            ConvFailure::Convert(target) => MigrateError::Conversion {
                                at: at(),
                                field: s.name.clone(),
                                detail: format!("value {v} does not convert to {target}"),
                            },
                            ConvFailure::Transform(detail) => MigrateError::Transform {
                                at: at(),
                                field: s.name.clone(),
                                detail,
                            },
                        })?),
                        None => fallback.clone(),
                    };
                    match v {
                        Some(v) => {
                            out.set(s.to, v);
                        }
                        None if s.required => {
                            return Err(MigrateError::MissingValue {
                                at: at(),
                                field: s.name.clone(),
                            })
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// Migrates one message and validates it against the target schema.
    /// The input is never modified.
    pub fn apply(&self, msg: &Message) -> Result<Message, MigrateError> {
        let out = self.map(0, msg)?;
        validate(&self.target, &out)?;
        Ok(out)
    }
}

enum ConvFailure {
    Convert(String),
    Transform(String),
}

fn apply_conv(conv: &Conv, v: &Value) -> Result<Value, ConvFailure> {
    match conv {
        Conv::Identity => Ok(v.clone()),
        Conv::Prim(p) => v
            .convert(*p)
            .ok_or_else(|| ConvFailure::Convert(p.name().to_string())),
        Conv::Custom(f) => f(v).map_err(ConvFailure::Transform),
    }
}

fn validate(target: &Schema, out: &Message) -> Result<(), MigrateError> {
    target
        .check_message(out, &NoTypes)
        .map_err(|e| MigrateError::InvalidResult {
            schema: target.key(),
            detail: e.to_string(),
        })
}

/// Why plans do not chain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    #[error("a migration chain needs at least one plan")]
    Empty,
    #[error("plan {index} starts at {found} but the previous plan ends at {expected}")]
    BrokenLink {
        index: usize,
        expected: String,
        found: String,
    },
}

/// Plans applied in sequence; each plan's source is the previous target.
#[derive(Clone, Debug)]
pub struct MigrationChain {
    plans: Vec<MigrationPlan>,
}

impl MigrationChain {
    pub fn new(plans: Vec<MigrationPlan>) -> Result<MigrationChain, ChainError> {
        if plans.is_empty() {
            return Err(ChainError::Empty);
        }
        for i in 1..plans.len() {
            let (prev, next) = (plans[i - 1].target(), plans[i].source());
            if prev.name != next.name || prev.version != next.version || prev.fields != next.fields
            {
                return Err(ChainError::BrokenLink {
                    index: i,
                    expected: prev.key(),
                    found: next.key(),
                });
            }
        }
        Ok(MigrationChain { plans })
    }
    pub fn single(plan: MigrationPlan) -> MigrationChain {
        MigrationChain { plans: vec![plan] }
    }
    pub fn plans(&self) -> &[MigrationPlan] {
        &self.plans
    }
    pub fn source(&self) -> &Schema {
        self.plans[0].source()
    }
    pub fn target(&self) -> &Schema {
        self.plans[self.plans.len() - 1].target()
    }
    /// Runs every plan, then validates against the final schema. The input
    /// is never modified.
    pub fn apply(&self, msg: &Message) -> Result<Message, MigrateError> {
        let mut cur = self.plans[0].map(0, msg)?;
        for (i, p) in self.plans.iter().enumerate().skip(1) {
            cur = p.map(i, &cur)?;
        }
        validate(self.target(), &cur)?;
        Ok(cur)
    }
}

impl From<MigrationPlan> for MigrationChain {
    fn from(p: MigrationPlan) -> Self {
        MigrationChain::single(p)
    }
}

/// Counters kept by a [`Migrator`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationStats {
    /// Messages migrated successfully.
    pub migrated: u64,
    /// Messages whose migration failed (and were left untouched).
    pub failed: u64,
    /// Time spent in migrations, successful or not.
    pub total_time: Duration,
    /// Longest single migration.
    pub max_time: Duration,
}

impl MigrationStats {
    /// Mean time per attempted message.
    pub fn mean_time(&self) -> Duration {
        let n = self.migrated + self.failed;
        if n == 0 {
            Duration::ZERO
        } else {
            self.total_time / n.min(u64::from(u32::MAX)) as u32
        }
    }
    /// Attempted messages per second of migration time.
    pub fn per_second(&self) -> f64 {
        let s = self.total_time.as_secs_f64();
        if s == 0.0 {
            0.0
        } else {
            (self.migrated + self.failed) as f64 / s
        }
    }
}

/// A failed migration: the error and the original message, untouched.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub error: MigrateError,
    pub original: Message,
}

/// Runs a chain of plans over messages and keeps statistics.
#[derive(Debug, Clone)]
pub struct Migrator {
    chain: MigrationChain,
    stats: MigrationStats,
}

impl Migrator {
    pub fn new(chain: impl Into<MigrationChain>) -> Migrator {
        Migrator {
            chain: chain.into(),
            stats: MigrationStats::default(),
        }
    }
    pub fn chain(&self) -> &MigrationChain {
        &self.chain
    }
    pub fn stats(&self) -> &MigrationStats {
        &self.stats
    }
    pub fn reset_stats(&mut self) {
        self.stats = MigrationStats::default();
    }

    fn record(&mut self, start: Instant, ok: bool) {
        let t = start.elapsed();
        self.stats.total_time += t;
        self.stats.max_time = self.stats.max_time.max(t);
        if ok {
            self.stats.migrated += 1;
        } else {
            self.stats.failed += 1;
        }
    }

    /// Migrates `msg`; on failure hands it back unchanged inside [`Rejected`].
    pub fn migrate(&mut self, msg: Message) -> Result<Message, Box<Rejected>> {
        let start = Instant::now();
        let r = self.chain.apply(&msg);
        self.record(start, r.is_ok());
        r.map_err(|error| {
            Box::new(Rejected {
                error,
                original: msg,
            })
        })
    }

    /// Replaces `*msg` by its migration, or leaves it exactly as it was
    /// (rollback) and returns the error.
    pub fn migrate_in_place(&mut self, msg: &mut Message) -> Result<(), MigrateError> {
        let start = Instant::now();
        let r = self.chain.apply(msg);
        self.record(start, r.is_ok());
        *msg = r?;
        Ok(())
    }
}
