//! A readable text diff between two schemas (added / removed / changed fields).

use std::fmt;

use super::compat::match_fields;
use super::model::{Field, Schema};

/// One line of a [`SchemaDiff`].
#[derive(Debug, Clone, PartialEq)]
pub enum DiffEntry {
    Unchanged(Field),
    Added(Field),
    Removed(Field),
    /// Same field (by id, else by name) with differences, each described.
    Changed {
        old: Field,
        new: Field,
        changes: Vec<String>,
    },
}

/// Field-level differences between `old` and `new`, in the new schema's
/// field order, removed fields last.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaDiff {
    pub old_key: String,
    pub new_key: String,
    pub entries: Vec<DiffEntry>,
}

impl SchemaDiff {
    /// True when no field was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.entries
            .iter()
            .all(|e| matches!(e, DiffEntry::Unchanged(_)))
    }
}

fn changes(old: &Field, new: &Field) -> Vec<String> {
    let mut c = Vec::new();
    if old.name != new.name {
        c.push(format!("renamed from `{}`", old.name));
    }
    if old.id != new.id {
        c.push(format!("id {} -> {}", old.id, new.id));
    }
    if old.ty != new.ty {
        c.push(format!("type {} -> {}", old.ty, new.ty));
    }
    if old.presence != new.presence {
        c.push(if new.is_required() {
            "optional -> required".to_string()
        } else {
            "required -> optional".to_string()
        });
    }
    // Compared as written (a widened field's 0.0 f32 -> 0.0 f64 is no change).
    let shown = |f: &Field| f.default.as_ref().map(ToString::to_string);
    if shown(old) != shown(new) {
        let show = |f: &Field| {
            f.default
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "none".into())
        };
        c.push(format!("default {} -> {}", show(old), show(new)));
    }
    if old.deprecated != new.deprecated {
        c.push(if new.deprecated {
            "deprecated".to_string()
        } else {
            "undeprecated".to_string()
        });
    }
    c
}

/// Computes the diff (fields paired as in [`compare`](super::compare)).
pub fn diff(old: &Schema, new: &Schema) -> SchemaDiff {
    let m = match_fields(old, new, &[]);
    let mut entries: Vec<(usize, DiffEntry)> = Vec::new();
    for &(o, n, _) in &m.pairs {
        let (of, nf) = (&old.fields[o], &new.fields[n]);
        let c = changes(of, nf);
        entries.push((
            n,
            if c.is_empty() {
                DiffEntry::Unchanged(nf.clone())
            } else {
                DiffEntry::Changed {
                    old: of.clone(),
                    new: nf.clone(),
                    changes: c,
                }
            },
        ));
    }
    for &n in &m.added {
        entries.push((n, DiffEntry::Added(new.fields[n].clone())));
    }
    for &(_, n) in &m.reused {
        entries.push((n, DiffEntry::Added(new.fields[n].clone())));
    }
    entries.sort_by_key(|e| e.0);
    let mut entries: Vec<DiffEntry> = entries.into_iter().map(|e| e.1).collect();
    for &o in &m.removed {
        entries.push(DiffEntry::Removed(old.fields[o].clone()));
    }
    for &(o, _) in &m.reused {
        entries.push(DiffEntry::Removed(old.fields[o].clone()));
    }
    SchemaDiff {
        old_key: old.key(),
        new_key: new.key(),
        entries,
    }
}

/// Unified-diff-like text: `  ` unchanged, `+` added, `-` removed, `~` changed.
impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- {}", self.old_key)?;
        writeln!(f, "+++ {}", self.new_key)?;
        for e in &self.entries {
            match e {
                DiffEntry::Unchanged(x) => writeln!(f, "  {}", x.describe())?,
                DiffEntry::Added(x) => writeln!(f, "+ {}", x.describe())?,
                DiffEntry::Removed(x) => writeln!(f, "- {}", x.describe())?,
                DiffEntry::Changed { new, changes, .. } => {
                    writeln!(f, "~ {}: {}", new.describe(), changes.join(", "))?
                }
            }
        }
        Ok(())
    }
}
