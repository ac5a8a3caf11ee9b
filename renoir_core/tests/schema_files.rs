//! Schema files (JSON, YAML, ROS .msg) and the text diff.

use renoir_core::schema::examples::*;
use renoir_core::schema::*;

const YAML: &str = r#"
name: demo/SensorReading
version: 1.1.0
doc: A reading
fields:
  - { id: 1, name: timestamp, type: u64 }
  - { id: 2, name: value, type: f64 }
  - id: 3
    name: accuracy
    type: f32
    required: false
    default: 1.0
    since: 1.1.0
  - { id: 4, name: metadata, type: string, required: false, since: 1.1.0 }
"#;

#[test]
fn yaml_and_json_load_the_same_schema() {
    let mut from_yaml = schema_from_yaml(YAML).unwrap();
    from_yaml.doc.clear();
    assert_eq!(from_yaml, sensor_v1_1());
    let json = schema_to_json(&sensor_v1_1());
    assert_eq!(schema_from_json(&json).unwrap(), sensor_v1_1());
    let yaml = schema_to_yaml(&sensor_v2_0());
    assert_eq!(schema_from_yaml(&yaml).unwrap(), sensor_v2_0());
}

#[test]
fn file_errors_name_the_problem() {
    let e = schema_from_yaml("name: a/B\nversion: 1.0\nfields: []\n").unwrap_err();
    assert!(matches!(e, SchemaFileError::BadVersion { .. }), "{e}");
    let e = schema_from_yaml("name: a/B\nversion: [1]\n").unwrap_err();
    assert!(matches!(e, SchemaFileError::Yaml { .. }), "{e}");
    let e = schema_from_json(r#"{"name":"a/B","version":"one","fields":[]}"#).unwrap_err();
    assert!(matches!(e, SchemaFileError::BadVersion { .. }), "{e}");
    let e = schema_from_json(
        r#"{"name":"a/B","version":"1.0.0","fields":[{"id":1,"name":"x","type":"u7"}]}"#,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("field `x`:"), "{e}");
    let e = schema_from_json(
        r#"{"name":"a/B","version":"1.0.0","fields":[{"id":1,"name":"x","type":"u8","default":300}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        e,
        SchemaFileError::BadDefault {
            field: "x".into(),
            detail: "300 is out of range for U8".into()
        }
    );
    let e = schema_from_json(
        r#"{"name":"a/B","version":"1.0.0","fields":[{"id":1,"name":"x","type":"u8","colour":1}]}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
    let e = schema_from_json(
        r#"{"name":"a/B","version":"1.0.0","fields":[{"id":1,"name":"x","type":"u8"},{"id":2,"name":"x","type":"u8"}]}"#,
    )
    .unwrap_err();
    assert!(matches!(e, SchemaFileError::Invalid { .. }), "{e}");
}

#[test]
fn load_schema_file_by_extension() {
    let dir = std::env::temp_dir().join(format!("renoir_schema_files_{}", std::process::id()));
    let msg_dir = dir.join("my_pkg").join("msg");
    std::fs::create_dir_all(&msg_dir).unwrap();
    let y = dir.join("reading.yaml");
    std::fs::write(&y, YAML).unwrap();
    assert_eq!(load_schema_file(&y).unwrap().version, Version::new(1, 1, 0));
    let j = dir.join("reading.json");
    std::fs::write(&j, schema_to_json(&sensor_v1_0())).unwrap();
    assert_eq!(load_schema_file(&j).unwrap(), sensor_v1_0());
    let m = msg_dir.join("Reading.msg");
    std::fs::write(&m, "uint64 timestamp\nfloat64 value\n").unwrap();
    let s = load_schema_file(&m).unwrap();
    assert_eq!(s.name, "my_pkg/msg/Reading");
    assert_eq!(s.fields.len(), 2);
    let bad = msg_dir.join("Bad.msg");
    std::fs::write(&bad, "uint64 timestamp\nfloat99 value\n").unwrap();
    let e = load_schema_file(&bad).unwrap_err();
    assert!(matches!(e, SchemaFileError::Msg { line: 2, .. }), "{e}");
    let t = dir.join("x.toml");
    std::fs::write(&t, "").unwrap();
    assert!(matches!(
        load_schema_file(&t),
        Err(SchemaFileError::UnknownExtension { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

const IMU_LIKE: &str = r#"
# A header comment
std_msgs/Header header   # trailing comment
int8 STATUS_OK=0
string NAME="imu # not a comment"
float64[9] covariance
uint8[] data
int32[<=4] small
string<=10 label "hi"
bool flag true
float32 gain 0.5
int16[3] offsets [1, -2, 3]
string[] tags ["a,b", 'c']
Point origin
geometry_msgs/Vector3 accel
char c
byte b
wstring w
"#;

#[test]
fn ros_msg_parses_types_defaults_and_constants() {
    let m = parse_ros_msg("sensor_pkg/msg/Imu", Version::new(1, 0, 0), IMU_LIKE).unwrap();
    let s = &m.schema;
    let ty = |n: &str| s.field_by_name(n).unwrap().ty.to_string();
    assert_eq!(ty("header"), "std_msgs/msg/Header");
    assert_eq!(ty("covariance"), "f64[9]");
    assert_eq!(ty("data"), "u8[]");
    assert_eq!(ty("small"), "i32[<=4]");
    assert_eq!(ty("label"), "string<=10");
    assert_eq!(ty("origin"), "sensor_pkg/msg/Point");
    assert_eq!(ty("accel"), "geometry_msgs/msg/Vector3");
    assert_eq!(ty("c"), "u8");
    assert_eq!(ty("b"), "u8");
    assert_eq!(ty("w"), "string");
    let def = |n: &str| s.field_by_name(n).unwrap().default.clone();
    assert_eq!(def("label"), Some(Value::String("hi".into())));
    assert_eq!(def("flag"), Some(Value::Bool(true)));
    assert_eq!(def("gain"), Some(Value::F32(0.5)));
    assert_eq!(
        def("offsets"),
        Some(Value::List(vec![
            Value::I16(1),
            Value::I16(-2),
            Value::I16(3)
        ]))
    );
    assert_eq!(
        def("tags"),
        Some(Value::List(vec![
            Value::String("a,b".into()),
            Value::String("c".into())
        ]))
    );
    // Ids in declaration order, constants not fields.
    let ids: Vec<u32> = s.fields.iter().map(|f| f.id).collect();
    assert_eq!(ids, (1..=14).collect::<Vec<_>>());
    assert!(s.fields.iter().all(|f| f.is_required()));
    assert_eq!(m.constants.len(), 2);
    assert_eq!(m.constants[0].name, "STATUS_OK");
    assert_eq!(m.constants[0].value, Value::I8(0));
    assert_eq!(
        m.constants[1].value,
        Value::String("imu # not a comment".into())
    );
    assert_eq!(
        s.nested_types(),
        vec![
            "std_msgs/msg/Header",
            "sensor_pkg/msg/Point",
            "geometry_msgs/msg/Vector3"
        ]
    );
}

#[test]
fn ros_msg_errors_carry_line_numbers() {
    let p = |t: &str| parse_ros_msg("p/msg/T", Version::new(1, 0, 0), t).unwrap_err();
    assert_eq!(
        p("int32 a\nfloat99 b"),
        MsgError::BadType {
            line: 2,
            ty: "float99".into()
        }
    );
    assert!(matches!(p("int32"), MsgError::Syntax { line: 1, .. }));
    assert!(matches!(
        p("int32 9lives"),
        MsgError::BadName { line: 1, .. }
    ));
    let e = p("uint8 a 300");
    assert_eq!(
        e.to_string(),
        "line 1: bad default for `a`: 300 is out of range for u8"
    );
    assert!(matches!(
        p("int8 X=1000"),
        MsgError::BadConstant { line: 1, .. }
    ));
    assert!(matches!(
        p("int8 a\n---\nint8 b"),
        MsgError::Separator { line: 2 }
    ));
    assert!(matches!(
        p("int8[2] a [1, 2, 3]"),
        MsgError::BadDefault { .. }
    ));
    assert!(matches!(
        p("string<=2 a \"abc\""),
        MsgError::BadDefault { .. }
    ));
    assert!(matches!(p("int8 a\nint8 a"), MsgError::Invalid { .. }));
    assert!(matches!(p("int8[0] a"), MsgError::Invalid { .. }));
}

#[test]
fn msg_evolution_by_appending_is_backward_compatible() {
    let v1 = parse_ros_msg("p/msg/R", Version::new(1, 0, 0), "uint32 t\nfloat32 v\n")
        .unwrap()
        .schema;
    let v2 = parse_ros_msg(
        "p/msg/R",
        Version::new(2, 0, 0),
        "uint64 t\nfloat64 v\nfloat32 accuracy 1.0\n",
    )
    .unwrap()
    .schema;
    let c = compare(&v1, &v2);
    assert_eq!(c.level, Level::BackwardCompatible, "{c}");
    let plan = MigrationPlan::new(&v1, &v2).unwrap();
    let out = plan
        .apply(
            &Message::new()
                .with(1, Value::U32(3))
                .with(2, Value::F32(0.25)),
        )
        .unwrap();
    assert_eq!(out.get(3), Some(&Value::F32(1.0)));
}

#[test]
fn diff_is_readable() {
    let d = diff(&sensor_v1_0(), &sensor_v1_1());
    assert_eq!(
        d.to_string(),
        "--- demo/SensorReading@1.0.0\n\
         +++ demo/SensorReading@1.1.0\n  \
         timestamp: u64 (id 1, required)\n  \
         value: f64 (id 2, required)\n\
         + accuracy: f32 (id 3, optional, default 1.0)\n\
         + metadata: string (id 4, optional)\n"
    );
    let mut v12 = sensor_v1_1();
    v12.version = Version::new(1, 2, 0);
    v12.fields[1].ty = FieldType::prim(Primitive::F32);
    v12.fields[2].deprecated = true;
    v12.fields.remove(3);
    let d = diff(&sensor_v1_1(), &v12);
    let text = d.to_string();
    assert!(
        text.contains("~ value: f32 (id 2, required): type f64 -> f32\n"),
        "{text}"
    );
    assert!(
        text.contains("~ accuracy: f32 (id 3, optional, default 1.0, deprecated): deprecated\n"),
        "{text}"
    );
    assert!(
        text.ends_with("- metadata: string (id 4, optional)\n"),
        "{text}"
    );
    assert!(!d.is_empty());
    assert!(diff(&sensor_v1_1(), &sensor_v1_1()).is_empty());
    let legacy = diff(&sensor_v0_9(), &sensor_v1_0()).to_string();
    assert!(
        legacy.contains("+ timestamp: u64 (id 1, required)"),
        "{legacy}"
    );
    assert!(legacy.contains("- time: u32 (id 1, required)"), "{legacy}");
}

/// `.msg` fields without a default get the ROS zero value as default, so
/// appending a field is backward compatible and removing one forward
/// compatible (as for layouts in msg_support); nested fields get none.
#[test]
fn ros_msg_zero_defaults_make_appending_compatible() {
    let v1 = parse_ros_msg(
        "demo_msgs/msg/Reading",
        Version::new(1, 0, 0),
        "uint64 stamp\nfloat32[2] xy\nstring label\nint16[] hist\nPoint p\nPoint[] ps\n",
    )
    .unwrap()
    .schema;
    let def = |n: &str| v1.field_by_name(n).unwrap().default.clone();
    assert_eq!(def("stamp"), Some(Value::U64(0)));
    assert_eq!(
        def("xy"),
        Some(Value::List(vec![Value::F32(0.0), Value::F32(0.0)]))
    );
    assert_eq!(def("label"), Some(Value::String(String::new())));
    assert_eq!(def("hist"), Some(Value::List(vec![])));
    assert_eq!(def("p"), None);
    assert_eq!(def("ps"), Some(Value::List(vec![])));
    let v2 = parse_ros_msg(
        "demo_msgs/msg/Reading",
        Version::new(1, 1, 0),
        "uint64 stamp\nfloat32[2] xy\nstring label\nint16[] hist\nPoint p\nPoint[] ps\nfloat64 quality\n",
    )
    .unwrap()
    .schema;
    assert_eq!(compare(&v1, &v2).level, Level::BackwardCompatible);
    assert_eq!(compare(&v2, &v1).level, Level::ForwardCompatible);
    let out = MigrationPlan::new(&v1, &v2)
        .unwrap()
        .apply(
            &Message::new()
                .with(1, Value::U64(5))
                .with(2, Value::List(vec![Value::F32(1.0), Value::F32(2.0)]))
                .with(3, Value::String("x".into()))
                .with(4, Value::List(vec![]))
                .with(5, Value::Message(Message::new()))
                .with(6, Value::List(vec![])),
        )
        .unwrap();
    assert_eq!(out.get(7), Some(&Value::F64(0.0)));
    assert_eq!(out.get(1), Some(&Value::U64(5)));
    // A huge array gets no default instead of a huge allocation.
    let big = parse_ros_msg("p/msg/B", Version::new(1, 0, 0), "uint8[4000000000] a\n")
        .unwrap()
        .schema;
    assert_eq!(big.fields[0].default, None);
}
