//! End-to-end tests of `renoir schema` (the real binary) on the fixture
//! files: the SensorReading history (v0.9 JSON, v1.0/v1.1 YAML, v2.0 JSON),
//! a breaking v1.2, an invalid file, and two versions of a ROS `.msg`.
//! Exit codes: 0 ok / compatible, 1 breaking / invalid, 2 usage or I/O error.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

const V09: &str = "sensor_reading.v0.9.json";
const V10: &str = "sensor_reading.v1.0.yaml";
const V11: &str = "sensor_reading.v1.1.yaml";
const V12: &str = "sensor_reading.v1.2-required-metadata.yaml";
const V20: &str = "sensor_reading.v2.0.json";
const MSG1: &str = "msg_v1/demo_msgs/msg/Reading.msg";
const MSG2: &str = "msg_v2/demo_msgs/msg/Reading.msg";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `renoir schema <args>`; relative arguments ending in a schema
/// extension are fixture names.
fn schema(args: &[&str]) -> Out {
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            let relative = !a.starts_with(['{', '@', '/']);
            if relative && [".json", ".yaml", ".msg"].iter().any(|e| a.ends_with(e)) {
                fixture(a)
            } else {
                a.to_string()
            }
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_renoir"))
        .arg("schema")
        .args(&args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn help_documents_exit_codes() {
    let o = schema(&["--help"]);
    assert_eq!(o.code, 0);
    for s in [
        "validate",
        "compat",
        "diff",
        "migrate",
        "Exit codes",
        "0  valid / compatible",
        "1  invalid schema or message, breaking change",
        "2  usage error, unreadable file",
    ] {
        assert!(o.stdout.contains(s), "missing {s:?} in:\n{}", o.stdout);
    }
}

#[test]
fn validate_ok_invalid_and_io_errors() {
    for f in [V09, V10, V11, V12, V20, MSG1, MSG2] {
        let o = schema(&["validate", f]);
        assert_eq!(o.code, 0, "{f}: {}", o.stderr);
        assert!(o.stdout.starts_with("ok: "), "{}", o.stdout);
    }
    let o = schema(&["validate", V11]);
    assert_eq!(o.stdout, "ok: demo/SensorReading@1.1.0 (4 fields)\n");
    // .msg: name from the path, version from the flag.
    let o = schema(&["validate", MSG1, "--version", "1.0.0"]);
    assert_eq!(o.stdout, "ok: demo_msgs/msg/Reading@1.0.0 (3 fields)\n");
    let o = schema(&["validate", MSG1, "--name", "x_msgs/msg/R"]);
    assert_eq!(o.stdout, "ok: x_msgs/msg/R@0.0.0 (3 fields)\n");
    // Normalized document.
    let o = schema(&["validate", MSG2, "--print", "json"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["fields"][3]["name"], "quality");
    assert_eq!(j["fields"][3]["default"], 1.0);
    assert_eq!(j["fields"][1]["type"], "f64");

    let o = schema(&["validate", "invalid_duplicate_id.yaml"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains("duplicate field id 1: `timestamp` and `value`"),
        "{}",
        o.stderr
    );
    let o = schema(&["validate", "bad.msg"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("line 2"), "{}", o.stderr);
    assert!(o.stderr.contains("float99"), "{}", o.stderr);
    // I/O and usage errors: 2.
    assert_eq!(schema(&["validate", "missing.yaml"]).code, 2);
    assert_eq!(schema(&["validate", &fixture("../schema_cli.rs")]).code, 2);
    assert_eq!(schema(&["validate"]).code, 2);
    assert_eq!(schema(&["validate", V11, "--version", "one"]).code, 2);
    assert_eq!(schema(&["frobnicate"]).code, 2);
}

#[test]
fn compat_levels_and_exit_codes() {
    let o = schema(&["compat", V10, V11]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with(
        "demo/SensorReading@1.0.0 -> demo/SensorReading@1.1.0: backward compatible\n"
    ));
    assert!(o
        .stdout
        .contains("optional field `accuracy` (id 3, f32, default 1.0) added"));
    // Stricter policies.
    assert_eq!(
        schema(&["compat", V10, V11, "--require", "backward"]).code,
        0
    );
    assert_eq!(schema(&["compat", V10, V11, "--require", "full"]).code, 1);
    assert_eq!(
        schema(&["compat", V10, V11, "--require", "full", "--skip-unknown"]).code,
        0
    );
    assert_eq!(
        schema(&["compat", V11, V10, "--require", "backward"]).code,
        1
    );

    // v1.1 -> v2.0: required field without default.
    let o = schema(&["compat", V11, V20]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains(": breaking\n"));
    assert!(o
        .stdout
        .contains("required field `sensor_id` (id 5, string) added without a default"));
    assert_eq!(schema(&["compat", V11, V20, "--require", "none"]).code, 0);

    // optional -> required without a default is breaking, naming the field.
    let o = schema(&["compat", V11, V12, "--json"]);
    assert_eq!(o.code, 1);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["level"], "breaking");
    assert_eq!(j["ok"], false);
    assert_eq!(j["reasons"][0]["kind"], "OptionalToRequired");
    assert_eq!(j["reasons"][0]["field"], "metadata");

    // Legacy ids reused with other names and types.
    let o = schema(&["compat", V09, V10]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("field id 1 reused: was `time` (u32)"));

    // Mixed formats and an identical pair.
    let o = schema(&["compat", V20, V20]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains(": identical\n"));
    // Invalid input: 1; missing file: 2.
    assert_eq!(
        schema(&["compat", V10, "invalid_duplicate_id.yaml"]).code,
        1
    );
    assert_eq!(schema(&["compat", V10, "missing.json"]).code, 2);
}

#[test]
fn msg_files_compare_and_diff() {
    let o = schema(&[
        "compat",
        MSG1,
        MSG2,
        "--old-version",
        "1.0.0",
        "--new-version",
        "1.1.0",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with(
        "demo_msgs/msg/Reading@1.0.0 -> demo_msgs/msg/Reading@1.1.0: backward compatible\n"
    ));
    assert!(o.stdout.contains("field `value` widened from f32 to f64"));
    assert!(o
        .stdout
        .contains("required field `quality` (id 4, f32, default 1.0) added"));
    // Downgrading is a narrowing: not backward.
    assert_eq!(
        schema(&["compat", MSG2, MSG1, "--require", "backward"]).code,
        1
    );
    let o = schema(&["diff", MSG1, MSG2]);
    assert_eq!(o.code, 0);
    assert_eq!(
        o.stdout,
        "--- demo_msgs/msg/Reading@0.0.0\n\
         +++ demo_msgs/msg/Reading@0.0.0\n  \
         stamp: u64 (id 1, required, default 0)\n\
         ~ value: f64 (id 2, required, default 0.0): type f32 -> f64\n  \
         frame_id: string (id 3, required, default \"\")\n\
         + quality: f32 (id 4, required, default 1.0)\n\
         level: backward compatible\n"
    );
}

#[test]
fn diff_is_readable_and_exit_follows_level() {
    let o = schema(&["diff", V11, V20]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stdout,
        "--- demo/SensorReading@1.1.0\n\
         +++ demo/SensorReading@2.0.0\n  \
         timestamp: u64 (id 1, required)\n  \
         value: f64 (id 2, required)\n  \
         accuracy: f32 (id 3, optional, default 1.0)\n  \
         metadata: string (id 4, optional)\n\
         + sensor_id: string (id 5, required)\n\
         level: breaking\n"
    );
    let o = schema(&["diff", V11, V12]);
    assert!(o
        .stdout
        .contains("~ metadata: string (id 4, required): optional -> required\n"));
    let o = schema(&["diff", V10, V11, "--json"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(j["diff"].as_str().unwrap().contains("+ accuracy"));
}

#[test]
fn migrate_messages() {
    // v0.9 -> v1.0 needs the renames; then it renames and widens.
    let msg = r#"{"time": 5, "sensor_value": 1.5}"#;
    let o = schema(&["migrate", V09, V10, "--message", msg]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("field id 1 reused"), "{}", o.stderr);
    let o = schema(&[
        "migrate",
        V09,
        V10,
        "--message",
        msg,
        "--rename",
        "time=timestamp",
        "--rename",
        "sensor_value=value",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j, serde_json::json!({"timestamp": 5, "value": 1.5}));
    assert!(o.stderr.contains("note: convert `timestamp` u32 -> u64"));

    // v1.1 -> v2.0: needs a sensor_id.
    let msg = r#"{"timestamp": 7, "value": 2.5, "metadata": "m"}"#;
    assert_eq!(schema(&["migrate", V11, V20, "--message", msg]).code, 1);
    let o = schema(&[
        "migrate",
        V11,
        V20,
        "--message",
        msg,
        "--default",
        "sensor_id=unknown",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"timestamp": 7, "value": 2.5, "metadata": "m", "sensor_id": "unknown"})
    );
    // Field ids work as keys; a message file with @.
    let dir = std::env::temp_dir().join(format!("renoir_schema_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.json");
    std::fs::write(&file, r#"{"1": 9, "2": 0.25}"#).unwrap();
    let at = format!("@{}", file.display());
    let o = schema(&["migrate", V10, V11, "--message", &at]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j, serde_json::json!({"timestamp": 9, "value": 0.25}));
    std::fs::remove_dir_all(&dir).unwrap();

    // .msg: appended field gets its default, widened value converts.
    let o = schema(&[
        "migrate",
        MSG1,
        MSG2,
        "--message",
        r#"{"stamp": 1, "value": 0.5, "frame_id": "base"}"#,
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"stamp": 1, "value": 0.5, "frame_id": "base", "quality": 1.0})
    );

    // Invalid messages: 1. Usage errors: 2.
    let bad = |m: &str| schema(&["migrate", V10, V11, "--message", m]).code;
    assert_eq!(bad(r#"{"timestamp": -1, "value": 1}"#), 1);
    assert_eq!(bad(r#"{"value": 1.0}"#), 1, "missing required timestamp");
    assert_eq!(bad(r#"{"nope": 1}"#), 1);
    assert_eq!(bad("{not json"), 2);
    assert_eq!(bad("[1, 2]"), 2);
    let o = schema(&[
        "migrate",
        V11,
        V20,
        "--message",
        msg,
        "--default",
        "no_equals_sign",
    ]);
    assert_eq!(o.code, 2);
}
