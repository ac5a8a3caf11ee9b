//! The `SensorReading` history used by the tests, the benchmark and the docs
//! (v0.9.0 -> v1.0.0 -> v1.1.0 -> v2.0.0).

use semver::Version;

use super::migrate::MigrationRules;
use super::model::{Field, FieldType, Message, Primitive, Schema, Value};

/// Type name of the example.
pub const SENSOR_READING: &str = "demo/SensorReading";

/// v0.9.0 (legacy): `time: u32` (id 1), `sensor_value: f32` (id 2).
pub fn sensor_v0_9() -> Schema {
    Schema::builder(SENSOR_READING, Version::new(0, 9, 0))
        .required(1, "time", Primitive::U32)
        .required(2, "sensor_value", Primitive::F32)
        .build()
        .expect("valid example")
}

/// v1.0.0: `timestamp: u64` (id 1), `value: f64` (id 2). Same ids as v0.9
/// with other names and types: a plan from v0.9 needs explicit renames.
pub fn sensor_v1_0() -> Schema {
    Schema::builder(SENSOR_READING, Version::new(1, 0, 0))
        .required(1, "timestamp", Primitive::U64)
        .required(2, "value", Primitive::F64)
        .build()
        .expect("valid example")
}

/// v1.1.0: v1.0 + optional `accuracy: f32 = 1.0` (id 3) + optional
/// `metadata: string` (id 4).
pub fn sensor_v1_1() -> Schema {
    let v = Version::new(1, 1, 0);
    Schema::builder(SENSOR_READING, v.clone())
        .required(1, "timestamp", Primitive::U64)
        .required(2, "value", Primitive::F64)
        .field(
            Field::new(3, "accuracy", Primitive::F32)
                .optional()
                .default_value(Value::F32(1.0))
                .since(v.clone()),
        )
        .field(
            Field::new(4, "metadata", FieldType::string())
                .optional()
                .since(v),
        )
        .build()
        .expect("valid example")
}

/// v2.0.0: v1.1 + required `sensor_id: string` (id 5) without a default.
pub fn sensor_v2_0() -> Schema {
    let v = Version::new(2, 0, 0);
    let mut s = sensor_v1_1();
    s.version = v.clone();
    s.fields
        .push(Field::new(5, "sensor_id", FieldType::string()).since(v));
    s
}

/// Rules for each step of the chain: renames for v0.9 -> v1.0, a default
/// `sensor_id` for v1.1 -> v2.0, nothing otherwise.
pub fn sensor_rules(from: &Version, to: &Version) -> MigrationRules {
    match (from.major, from.minor, to.major) {
        (0, 9, 1) => MigrationRules::new()
            .rename("time", "timestamp")
            .rename("sensor_value", "value"),
        (1, _, 2) => {
            MigrationRules::new().default_value("sensor_id", Value::String("unknown".into()))
        }
        _ => MigrationRules::new(),
    }
}

/// A typical v0.9 message.
pub fn sensor_v0_9_message(time: u32, value: f32) -> Message {
    Message::new()
        .with(1, Value::U32(time))
        .with(2, Value::F32(value))
}
