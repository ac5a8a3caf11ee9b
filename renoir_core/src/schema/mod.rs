//! Message schemas and their evolution: what this module owns.
//!
//! - [`model`]: the schema model ([`Schema`], [`Field`], [`FieldType`]),
//!   dynamic data ([`Message`]: field id -> [`Value`]), the builder and
//!   validation ([`SchemaError`], [`MessageError`]).
//! - [`compat`]: [`compare`] old vs new -> [`Compatibility`] (level +
//!   human-readable reasons).
//! - [`migrate`]: [`MigrationPlan`] (old, new, [`MigrationRules`]),
//!   [`MigrationChain`], and the [`Migrator`] executor with rollback and
//!   [`MigrationStats`].
//! - [`registry`]: [`SchemaRegistry`] (versions per name), its JSON file form
//!   and its shared-memory blob form (untrusted-input parser).
//! - [`file`]: JSON/YAML schema documents; [`rosmsg`]: ROS `.msg` parsing.
//! - [`diff`]: a readable text diff between two schemas.
//! - [`shm`]: the domain's schema registry in shared memory (one region per
//!   process and type version holding a registry blob), listed by
//!   `renoir schema ls`.
//!
//! Only [`shm`] touches shared memory, and nothing here knows ROS types:
//! msg_support maps ROS type descriptions onto [`Schema`], rmw_renoir
//! publishes them through [`shm`], the CLI prints [`compare`] and [`diff`]. Rules and formats:
//! docs/schema-evolution.md.

pub mod compat;
pub mod diff;
pub mod examples;
pub mod file;
pub mod migrate;
pub mod model;
pub mod registry;
pub mod rosmsg;
#[cfg(not(loom))]
pub mod shm;

pub use compat::{compare, compare_with, ChangeKind, CompareOptions, Compatibility, Level, Reason};
pub use diff::{diff, DiffEntry, SchemaDiff};
pub use file::{
    load_schema_file, schema_from_json, schema_from_yaml, schema_to_json, schema_to_yaml,
    SchemaDoc, SchemaFileError,
};
pub use migrate::{
    ChainError, MigrateError, MigrationChain, MigrationPlan, MigrationRules, MigrationStats,
    Migrator, PlanError, Rejected,
};
pub use model::{
    BaseType, Field, FieldId, FieldType, Message, MessageError, NoTypes, Presence, Primitive,
    Schema, SchemaBuilder, SchemaError, TypeResolver, Value,
};
pub use registry::{BlobError, PersistError, RegisterError, Requirement, SchemaRegistry};
pub use rosmsg::{parse_ros_msg, MsgError, RosConstant, RosMsg};
pub use semver::Version;
