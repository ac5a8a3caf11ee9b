//! `renoir schema`: check schema files and their evolution in CI.
//!
//! `validate FILE`, `compat OLD NEW`, `diff OLD NEW`, `migrate OLD NEW
//! --message JSON` on schema documents (`.json`, `.yaml`, `.yml`) and ROS
//! `.msg` files (name and version from flags, else from the path).
//! Exit codes: 0 ok / compatible, 1 breaking / invalid, 2 usage or I/O error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use renoir_core::schema::file::{value_from_json, value_to_json};
use renoir_core::schema::{
    compare_with, diff, parse_ros_msg, schema_from_json, schema_from_yaml, schema_to_json,
    schema_to_yaml, CompareOptions, Compatibility, Level, Message, MigrationPlan, MigrationRules,
    Schema, SchemaFileError, Version,
};

use super::CmdResult;

const EXIT_HELP: &str = "\
Exit codes (for CI):
  0  valid / compatible (per --require) / migrated
  1  invalid schema or message, breaking change, migration impossible
  2  usage error, unreadable file, unknown file extension

Files: .json, .yaml/.yml schema documents, or ROS .msg files. A .msg file is
named <pkg>/msg/<Name> when it lies in <pkg>/msg/, else by its file stem, at
version 0.0.0; --name and --version (--old-version/--new-version) override.

Examples:
  renoir schema validate demo/SensorReading.v1.yaml
  renoir schema compat old.yaml new.yaml --require backward
  renoir schema diff v1/demo_msgs/msg/Reading.msg v2/demo_msgs/msg/Reading.msg
  renoir schema migrate v0.9.json v1.0.json --message '{\"time\": 5, \"sensor_value\": 1.5}' \\
      --rename time=timestamp --rename sensor_value=value";

#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_HELP)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: SchemaCmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum SchemaCmd {
    /// Check that a schema file parses and is valid.
    Validate(ValidateArgs),
    /// Compare two versions: compatibility level and every change.
    Compat(PairArgs),
    /// Readable field-by-field diff of two versions (then the level).
    Diff(PairArgs),
    /// Migrate one message (JSON) from the old version to the new one.
    Migrate(MigrateArgs),
    /// List the message type versions on the bus: the schema regions that
    /// running processes published in shared memory.
    Ls(LsArgs),
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    #[command(flatten)]
    pub sel: super::Selection,
    /// Only this domain (ROS_DOMAIN_ID).
    #[arg(long)]
    pub domain: Option<u32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Schema file (.json, .yaml, .yml, .msg).
    pub file: PathBuf,
    /// Type name (overrides the file's).
    #[arg(long)]
    pub name: Option<String>,
    /// Version (overrides the file's).
    #[arg(long)]
    pub version: Option<String>,
    /// Print the normalized schema document (json or yaml).
    #[arg(long, value_name = "FORMAT")]
    pub print: Option<DocFormat>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DocFormat {
    Json,
    Yaml,
}

/// Which directions must hold for exit code 0.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Require {
    /// Anything but a breaking change.
    #[default]
    NotBreaking,
    /// New readers read old data.
    Backward,
    /// Old readers read new data.
    Forward,
    /// Both.
    Full,
    /// Always 0 (report only).
    None,
}

#[derive(clap::Args, Debug)]
pub struct PairArgs {
    /// The old version's file.
    pub old: PathBuf,
    /// The new version's file.
    pub new: PathBuf,
    /// Type name for both (overrides the files').
    #[arg(long)]
    pub name: Option<String>,
    /// Version of the old file (overrides).
    #[arg(long)]
    pub old_version: Option<String>,
    /// Version of the new file (overrides).
    #[arg(long)]
    pub new_version: Option<String>,
    /// Compatibility needed for exit code 0.
    #[arg(long, value_enum, default_value_t = Require::NotBreaking)]
    pub require: Require,
    /// Model readers that skip fields they do not know (protobuf-like);
    /// ROS readers do not.
    #[arg(long)]
    pub skip_unknown: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The old version's file.
    pub old: PathBuf,
    /// The new version's file.
    pub new: PathBuf,
    /// The message, a JSON object keyed by old field names (or ids);
    /// `@FILE` reads it from a file.
    #[arg(long)]
    pub message: String,
    /// Old field OLD becomes new field NEW (`--rename OLD=NEW`, repeatable).
    #[arg(long, value_name = "OLD=NEW")]
    pub rename: Vec<String>,
    /// Value for new field F when the old message has none (`--default
    /// F=VALUE`, VALUE in JSON, bare words are strings; repeatable).
    #[arg(long, value_name = "F=VALUE")]
    pub default: Vec<String>,
    /// Accept losing old required field F (repeatable).
    #[arg(long, value_name = "F")]
    pub drop: Vec<String>,
    /// Accept narrowing new field F, checked on the value (repeatable).
    #[arg(long, value_name = "F")]
    pub allow_narrowing: Vec<String>,
    /// Type name for both (overrides the files').
    #[arg(long)]
    pub name: Option<String>,
    /// Version of the old file (overrides).
    #[arg(long)]
    pub old_version: Option<String>,
    /// Version of the new file (overrides).
    #[arg(long)]
    pub new_version: Option<String>,
}

/// A failure with its exit code.
struct Fail {
    code: u8,
    msg: String,
}

fn usage(msg: impl Into<String>) -> Fail {
    Fail {
        code: 2,
        msg: msg.into(),
    }
}
fn invalid(msg: impl Into<String>) -> Fail {
    Fail {
        code: 1,
        msg: msg.into(),
    }
}

pub fn run(a: Args) -> CmdResult {
    let r = match a.cmd {
        SchemaCmd::Validate(v) => validate(v),
        SchemaCmd::Compat(p) => compat(p, false),
        SchemaCmd::Diff(p) => compat(p, true),
        SchemaCmd::Migrate(m) => migrate(m),
        SchemaCmd::Ls(l) => bus(l),
    };
    Ok(match r {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("renoir schema: {}", f.msg);
            ExitCode::from(f.code)
        }
    })
}

/// `renoir schema ls`: one row per published type version. Exit 0, or 1
/// when a region could not be read (it is listed with the error).
fn bus(a: LsArgs) -> Result<u8, Fail> {
    a.sel.export_env();
    let found = renoir_core::schema::shm::list(a.domain);
    let bad = found.iter().any(|r| r.registry.is_err());
    if a.json {
        let v: Vec<serde_json::Value> = found
            .iter()
            .map(|r| {
                let root = r.root();
                serde_json::json!({
                    "domain": r.domain,
                    "region": r.name,
                    "pid": r.pid,
                    "alive": r.alive,
                    "hash16": r.hash16,
                    "type": root.map(|s| s.name.clone()),
                    "version": root.map(|s| s.version.to_string()),
                    "fields": root.map(|s| s.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>()),
                    "schemas": r.registry.as_ref().map(|g| g.len()).ok(),
                    "error": r.registry.as_ref().err(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else if found.is_empty() {
        println!("no schema regions");
    } else {
        let rows: Vec<Vec<String>> = found
            .iter()
            .map(|r| {
                let root = r.root();
                vec![
                    r.domain.to_string(),
                    root.map_or("?".into(), |s| s.name.clone()),
                    root.map_or("?".into(), |s| s.version.to_string()),
                    r.hash16.clone(),
                    format!("{}{}", r.pid, if r.alive { "" } else { " (dead)" }),
                    match &r.registry {
                        Ok(_) => root.map_or("no root schema".into(), |s| {
                            s.fields
                                .iter()
                                .map(|f| f.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }),
                        Err(e) => format!("unreadable: {e}"),
                    },
                ]
            })
            .collect();
        super::print_table(
            &["DOMAIN", "TYPE", "VERSION", "HASH", "PID", "FIELDS"],
            &rows,
        );
    }
    Ok(u8::from(bad))
}

fn parse_version(v: &str) -> Result<Version, Fail> {
    Version::parse(v).map_err(|e| usage(format!("version `{v}` is not semver: {e}")))
}

/// Loads a schema file; `name` / `version` override what the file says.
fn load(path: &Path, name: Option<&str>, version: Option<&str>) -> Result<Schema, Fail> {
    let shown = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "json" | "yaml" | "yml" | "msg") {
        return Err(usage(format!(
            "{shown}: unknown schema file extension (expected .json, .yaml, .yml or .msg)"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("{shown}: {e}")))?;
    let version = version.map(parse_version).transpose()?;
    let bad = |e: SchemaFileError| invalid(format!("{shown}: {e}"));
    let mut s = match ext {
        "json" => schema_from_json(&text).map_err(bad)?,
        "yaml" | "yml" => schema_from_yaml(&text).map_err(bad)?,
        _ => {
            let name = name.map(str::to_string).unwrap_or_else(|| msg_name(path));
            let v = version.clone().unwrap_or_else(|| Version::new(0, 0, 0));
            parse_ros_msg(&name, v, &text)
                .map_err(|e| invalid(format!("{shown}: .msg {e}")))?
                .schema
        }
    };
    if let Some(n) = name {
        s.name = n.to_string();
    }
    if let Some(v) = version {
        s.version = v;
    }
    s.validate()
        .map_err(|e| invalid(format!("{shown}: invalid schema: {e}")))?;
    Ok(s)
}

/// `<pkg>/msg/<Name>` when the file lies in `<pkg>/msg/`, else the stem.
fn msg_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("Unnamed");
    let pkg = path
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "msg"))
        .and_then(|d| d.parent())
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str());
    match pkg {
        Some(pkg) => format!("{pkg}/msg/{stem}"),
        None => stem.to_string(),
    }
}

fn validate(a: ValidateArgs) -> Result<u8, Fail> {
    let s = load(&a.file, a.name.as_deref(), a.version.as_deref())?;
    match a.print {
        Some(DocFormat::Json) => println!("{}", schema_to_json(&s)),
        Some(DocFormat::Yaml) => print!("{}", schema_to_yaml(&s)),
        None => {
            println!("ok: {} ({} fields)", s.key(), s.fields.len());
            let nested = s.nested_types();
            if !nested.is_empty() {
                println!("nested types (not checked here): {}", nested.join(", "));
            }
        }
    }
    Ok(0)
}

fn passes(level: Level, req: Require) -> bool {
    match req {
        Require::NotBreaking => level != Level::Breaking,
        Require::Backward => level.is_backward(),
        Require::Forward => level.is_forward(),
        Require::Full => level.is_backward() && level.is_forward(),
        Require::None => true,
    }
}

fn compat_json(old: &Schema, new: &Schema, c: &Compatibility, ok: bool) -> serde_json::Value {
    serde_json::json!({
        "old": old.key(),
        "new": new.key(),
        "level": c.level.to_string(),
        "backward": c.is_backward(),
        "forward": c.is_forward(),
        "ok": ok,
        "reasons": c.reasons.iter().map(|r| serde_json::json!({
            "kind": format!("{:?}", r.kind),
            "field": r.field,
            "id": r.id,
            "backward": r.backward,
            "forward": r.forward,
            "message": r.message,
        })).collect::<Vec<_>>(),
    })
}

fn compat(a: PairArgs, show_diff: bool) -> Result<u8, Fail> {
    let old = load(&a.old, a.name.as_deref(), a.old_version.as_deref())?;
    let new = load(&a.new, a.name.as_deref(), a.new_version.as_deref())?;
    let c = compare_with(
        &old,
        &new,
        &CompareOptions {
            readers_skip_unknown: a.skip_unknown,
        },
    );
    let ok = passes(c.level, a.require);
    if a.json {
        let mut j = compat_json(&old, &new, &c, ok);
        if show_diff {
            j["diff"] = serde_json::Value::String(diff(&old, &new).to_string());
        }
        println!("{j:#}");
    } else if show_diff {
        print!("{}", diff(&old, &new));
        println!("level: {}", c.level);
    } else {
        println!("{} -> {}: {}", old.key(), new.key(), c.level);
        for r in &c.reasons {
            println!("  {r}");
        }
        if !ok {
            let req = clap::ValueEnum::to_possible_value(&a.require)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            println!("FAIL: --require {req} not met");
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn split_kv<'a>(what: &str, s: &'a str) -> Result<(&'a str, &'a str), Fail> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| usage(format!("--{what} `{s}`: expected NAME=VALUE")))
}

/// A JSON value; a bare word that is not JSON is a string.
fn loose_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_string()))
}

fn migrate(a: MigrateArgs) -> Result<u8, Fail> {
    let old = load(&a.old, a.name.as_deref(), a.old_version.as_deref())?;
    let new = load(&a.new, a.name.as_deref(), a.new_version.as_deref())?;
    let mut rules = MigrationRules::new();
    for r in &a.rename {
        let (from, to) = split_kv("rename", r)?;
        rules = rules.rename(from, to);
    }
    for d in &a.default {
        let (field, text) = split_kv("default", d)?;
        let f = new
            .field_by_name(field)
            .ok_or_else(|| usage(format!("--default: the new schema has no field `{field}`")))?;
        let v = value_from_json(&f.ty, &loose_json(text))
            .map_err(|e| usage(format!("--default {field}: {e}")))?;
        rules = rules.default_value(field, v);
    }
    for d in &a.drop {
        rules = rules.drop(d);
    }
    for n in &a.allow_narrowing {
        rules = rules.allow_narrowing(n);
    }
    let text = match a.message.strip_prefix('@') {
        Some(p) => std::fs::read_to_string(p).map_err(|e| usage(format!("{p}: {e}")))?,
        None => a.message.clone(),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| usage(format!("--message is not JSON: {e}")))?;
    let msg = message_from_json(&old, &json)?;
    old.check_message(&msg, &renoir_core::schema::NoTypes)
        .map_err(|e| invalid(format!("message does not conform to {}: {e}", old.key())))?;
    let plan = MigrationPlan::with_rules(&old, &new, &rules).map_err(|e| {
        invalid(format!(
            "cannot migrate {} -> {}: {e}",
            old.key(),
            new.key()
        ))
    })?;
    for n in plan.notes() {
        eprintln!("note: {n}");
    }
    let out = plan
        .apply(&msg)
        .map_err(|e| invalid(format!("migration failed: {e}")))?;
    println!("{:#}", message_to_json(&new, &out));
    Ok(0)
}

/// A JSON object keyed by field names (or ids) -> message of `s`.
fn message_from_json(s: &Schema, j: &serde_json::Value) -> Result<Message, Fail> {
    let obj = j
        .as_object()
        .ok_or_else(|| usage("--message must be a JSON object"))?;
    let mut m = Message::new();
    for (k, v) in obj {
        let f = s
            .field_by_name(k)
            .or_else(|| k.parse().ok().and_then(|id| s.field(id)))
            .ok_or_else(|| invalid(format!("{} has no field `{k}`", s.key())))?;
        if v.is_null() {
            continue; // unset (optional)
        }
        let val = value_from_json(&f.ty, v).map_err(|e| invalid(format!("field `{k}`: {e}")))?;
        m.set(f.id, val);
    }
    Ok(m)
}

/// A message of `s` -> a JSON object keyed by field names (unknown ids by id).
fn message_to_json(s: &Schema, m: &Message) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    for f in &s.fields {
        if let Some(v) = m.get(f.id) {
            obj.insert(f.name.clone(), value_to_json(v));
        }
    }
    for (id, v) in m.iter() {
        if s.field(id).is_none() {
            obj.insert(id.to_string(), value_to_json(v));
        }
    }
    serde_json::Value::Object(obj)
}
