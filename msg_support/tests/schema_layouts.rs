//! msg_support::schema over real rosidl type supports (test_msgs, sensor_msgs):
//! layouts -> schemas, compatibility of two versions of a type, and CDR
//! migration between them (checked against the real deserializer).
//!
//! Needs the ROS 2 Jazzy libraries (`eval "$(scripts/ros_env.sh)"`).

mod common;

use common::*;
use msg_support::schema::*;
use msg_support::{Arity, FieldType, MessageLayout, Primitive};
use renoir_core::schema::{
    BaseType, ChangeKind, FieldType as SType, Level, Message, MigrationRules, Presence,
    Primitive as SPrim, SchemaRegistry, TypeResolver, Value,
};
use std::sync::Arc;

fn layout(pkg: &str, name: &str) -> Arc<MessageLayout> {
    resolve(c_handle(pkg, name)).layout().clone()
}

fn ty(s: &renoir_core::schema::Schema, field: &str) -> String {
    s.field_by_name(field)
        .unwrap_or_else(|| panic!("{} has no `{field}`", s.name))
        .ty
        .to_string()
}

fn extra(name: &str, p: Primitive) -> CdrField {
    (name.to_string(), FieldType::Primitive(p), Arity::Single)
}

#[test]
fn basic_types_schema() {
    let ts = resolve(c_handle("test_msgs", "BasicTypes"));
    let s = schema_of_type_support(&ts).unwrap();
    let root = &s.root;
    assert_eq!(root.name, "test_msgs/msg/BasicTypes");
    assert!(s.nested.is_empty());
    // Version: 1.0.0 with the RIHS01 hash as build metadata.
    let hash = ts.type_hash().unwrap().to_rihs_string();
    assert_eq!((root.version.major, root.version.minor), (1, 0));
    assert_eq!(
        root.version.build.as_str(),
        hash.replace("RIHS01_", "rihs01.")
    );
    let expect = [
        ("bool_value", "bool"),
        ("byte_value", "u8"),
        ("char_value", "u8"),
        ("float32_value", "f32"),
        ("float64_value", "f64"),
        ("int8_value", "i8"),
        ("uint8_value", "u8"),
        ("int16_value", "i16"),
        ("uint16_value", "u16"),
        ("int32_value", "i32"),
        ("uint32_value", "u32"),
        ("int64_value", "i64"),
        ("uint64_value", "u64"),
    ];
    assert_eq!(root.fields.len(), expect.len());
    for (i, (f, (name, t))) in root.fields.iter().zip(expect).enumerate() {
        assert_eq!(f.id as usize, i + 1, "ids are index + 1");
        assert_eq!((f.name.as_str(), f.ty.to_string().as_str()), (name, t));
        assert_eq!(f.presence, Presence::Required);
    }
    // ROS zero values as defaults (what migration fills in).
    assert_eq!(
        root.field_by_name("bool_value").unwrap().default,
        Some(Value::Bool(false))
    );
    assert_eq!(
        root.field_by_name("float64_value").unwrap().default,
        Some(Value::F64(0.0))
    );
    // No hash -> 1.0.0.
    assert_eq!(version_of_hash(None).to_string(), "1.0.0");
}

#[test]
fn arrays_sequences_strings_and_nested() {
    let a = schema_of_type_support(&resolve(c_handle("test_msgs", "Arrays"))).unwrap();
    assert_eq!(ty(&a.root, "bool_values"), "bool[3]");
    assert_eq!(ty(&a.root, "byte_values"), "u8[3]");
    assert_eq!(ty(&a.root, "float64_values"), "f64[3]");
    assert_eq!(ty(&a.root, "string_values"), "string[3]");
    assert_eq!(
        ty(&a.root, "basic_types_values"),
        "test_msgs/msg/BasicTypes[3]"
    );
    assert_eq!(
        ty(&a.root, "constants_values"),
        "test_msgs/msg/Constants[3]"
    );
    assert!(a.nested.contains_key("test_msgs/msg/BasicTypes"));
    assert!(a.resolve("test_msgs/msg/Defaults").is_some());
    assert_eq!(
        a.root.field_by_name("byte_values").unwrap().default,
        Some(Value::Bytes(vec![0; 3]))
    );

    let b = schema_of_type_support(&resolve(c_handle("test_msgs", "BoundedSequences"))).unwrap();
    assert_eq!(ty(&b.root, "int32_values"), "i32[<=3]");
    assert_eq!(ty(&b.root, "string_values"), "string[<=3]");
    assert_eq!(
        ty(&b.root, "basic_types_values"),
        "test_msgs/msg/BasicTypes[<=3]"
    );
    let u = schema_of_type_support(&resolve(c_handle("test_msgs", "UnboundedSequences"))).unwrap();
    assert_eq!(ty(&u.root, "uint64_values"), "u64[]");
    assert_eq!(
        u.root.field_by_name("uint64_values").unwrap().default,
        Some(Value::List(vec![]))
    );

    let s = schema_of_type_support(&resolve(c_handle("test_msgs", "Strings"))).unwrap();
    assert_eq!(ty(&s.root, "string_value"), "string");
    assert_eq!(ty(&s.root, "bounded_string_value"), "string<=22");
    let w = schema_of_type_support(&resolve(c_handle("test_msgs", "WStrings"))).unwrap();
    assert_eq!(ty(&w.root, "wstring_value"), "string");

    let n = schema_of_type_support(&resolve(c_handle("test_msgs", "Nested"))).unwrap();
    assert_eq!(
        n.root.fields[0].ty,
        SType::Single(BaseType::Nested("test_msgs/msg/BasicTypes".into()))
    );
    let basic = &n.nested["test_msgs/msg/BasicTypes"];
    // Nested versions: 1.0.0 + a fingerprint of the nested schema, equal for
    // equal layouts, different for different ones.
    assert_eq!((basic.version.major, basic.version.minor), (1, 0));
    assert!(basic.version.build.as_str().starts_with("fnv."));
    let a = schema_of_type_support(&resolve(c_handle("test_msgs", "Arrays"))).unwrap();
    assert_eq!(a.nested["test_msgs/msg/BasicTypes"].version, basic.version);
    let mut bf = cdr_fields(&layout("test_msgs", "BasicTypes"));
    bf.pop();
    let other = cdr_layout(
        "test_msgs",
        "Nested",
        vec![(
            "basic_types_value".into(),
            FieldType::Message(cdr_layout("test_msgs", "BasicTypes", bf)),
            Arity::Single,
        )],
    );
    let o = schema_of(&other, renoir_core::schema::Version::new(1, 0, 0)).unwrap();
    assert_ne!(o.nested["test_msgs/msg/BasicTypes"].version, basic.version);
    assert_eq!(basic.fields[9].ty, SType::prim(SPrim::I32));
    // Every schema is valid with its nested types resolvable; registering works.
    let mut reg = SchemaRegistry::new();
    for (pkg, name) in TYPES {
        let s = schema_of_type_support(&resolve(c_handle(pkg, name))).unwrap();
        for one in s.all() {
            one.validate_in(&s).unwrap();
        }
        s.register_into(&mut reg).unwrap();
    }
    assert!(reg.latest("sensor_msgs/msg/Image").is_some());
    // The full schemas hold nested default messages, which the blob cannot;
    // the persistable ones round-trip through the shared-memory blob.
    let mut saved = SchemaRegistry::new();
    for (pkg, name) in TYPES {
        let s = schema_of_type_support(&resolve(c_handle(pkg, name))).unwrap();
        s.persistable().register_into(&mut saved).unwrap();
    }
    let back = SchemaRegistry::from_blob(&saved.to_blob()).unwrap();
    assert_eq!(back.len(), saved.len());
    let img = back.latest("sensor_msgs/msg/Image").unwrap();
    assert_eq!(img.field_by_name("header").unwrap().default, None);
    assert_eq!(
        img.field_by_name("height").unwrap().default,
        Some(Value::U32(0))
    );
    assert!(SchemaRegistry::from_blob(&reg.to_blob()).is_err());
    assert!(reg.latest("std_msgs/msg/Header").is_some());
    assert!(reg.latest("builtin_interfaces/msg/Time").is_some());
}

/// decode + encode reproduces every valid CDR stream of every type, and the
/// identity migration leaves bytes unchanged.
#[test]
fn codec_roundtrips_every_type() {
    for (pkg, name) in TYPES {
        let l = layout(pkg, name);
        let ev = evolve(&l, &l).unwrap();
        assert_eq!(ev.compatibility.level, Level::Identical, "{pkg}/{name}");
        let plan = ev.plan.expect("identity plan");
        let ts = resolve(c_handle(pkg, name));
        let mut streams = vec![Msg::new(&ts).ser()];
        for seed in 0..12 {
            streams.push(Gen::cdr(&l, seed + 1, seed == 0));
        }
        for bytes in streams {
            let m = decode_cdr(&l, &bytes).unwrap_or_else(|e| panic!("{pkg}/{name}: {e}"));
            let back = encode_cdr(&l, &m).unwrap();
            assert!(back == bytes, "{pkg}/{name}: {}", diff(&back, &bytes));
            assert_eq!(migrate_cdr(&plan, &l, &l, &bytes).unwrap(), bytes);
        }
    }
}

/// The rmw flow across processes: a publisher registers its type's schema
/// (persistable form) in the registry blob; a subscriber rebuilds a CDR
/// layout from it and decodes the publisher's bytes exactly as with the
/// real layout.
#[test]
fn layouts_rebuilt_from_registry_schemas_decode_identically() {
    let mut reg = SchemaRegistry::new();
    for (pkg, name) in TYPES {
        let s = schema_of_type_support(&resolve(c_handle(pkg, name))).unwrap();
        s.persistable().register_into(&mut reg).unwrap();
    }
    let shared = SchemaRegistry::from_blob(&reg.to_blob()).unwrap();
    for (pkg, name) in TYPES {
        let real = layout(pkg, name);
        let schema = shared.latest(&real.type_name()).unwrap();
        let rebuilt = layout_from_schema(schema, &shared).unwrap();
        assert_eq!(rebuilt.type_name(), real.type_name());
        for seed in 0..6 {
            let bytes = Gen::cdr(&real, seed + 100, seed == 0);
            let m = decode_cdr(&rebuilt, &bytes).unwrap_or_else(|e| panic!("{pkg}/{name}: {e}"));
            assert_eq!(m, decode_cdr(&real, &bytes).unwrap(), "{pkg}/{name}");
            assert_eq!(encode_cdr(&rebuilt, &m).unwrap(), bytes, "{pkg}/{name}");
            assert_eq!(
                msg_support::validate(&rebuilt, &bytes).unwrap(),
                bytes.len()
            );
        }
        let ev = evolve(&rebuilt, &real).unwrap();
        assert_eq!(ev.compatibility.level, Level::Identical, "{pkg}/{name}");
    }
    // Unknown nested types and non-positional ids are errors.
    let nested = shared.latest("test_msgs/msg/Nested").unwrap();
    assert!(matches!(
        layout_from_schema(nested, &renoir_core::schema::NoTypes),
        Err(SchemaMapError::UnknownNested { .. })
    ));
    let mut odd = shared.latest("test_msgs/msg/BasicTypes").unwrap().clone();
    odd.fields.swap(0, 1);
    assert!(matches!(
        layout_from_schema(&odd, &shared),
        Err(SchemaMapError::NotPositional { .. })
    ));
}

#[test]
fn default_message_decodes_to_zero_message() {
    // Types without .msg defaults (layouts do not carry .msg defaults: the
    // derived defaults are zero values).
    for name in ["BasicTypes", "Nested", "Empty", "Builtins"] {
        let ts = resolve(c_handle("test_msgs", name));
        let bytes = Msg::new(&ts).ser();
        assert_eq!(
            decode_cdr(ts.layout(), &bytes).unwrap(),
            zero_message(ts.layout()),
            "{name}"
        );
    }
}

/// The rmw case: a publisher's BasicTypes lacks a field the subscriber's
/// version has (added at the end): backward compatible, the new field gets
/// its default, every kept field keeps its value. And the reverse (a field
/// removed) gives bytes the real type support deserializes.
#[test]
fn added_and_removed_field_migrate() {
    let real = layout("test_msgs", "BasicTypes");
    let mut fields = cdr_fields(&real);
    fields.push(extra("sequence_number", Primitive::U32));
    let newer = cdr_layout("test_msgs", "BasicTypes", fields);

    let ev = evolve(&real, &newer).unwrap();
    assert_eq!(ev.compatibility.level, Level::BackwardCompatible);
    let r = &ev.compatibility.reasons[0];
    assert_eq!(r.kind, ChangeKind::FieldAdded);
    assert_eq!(r.field.as_deref(), Some("sequence_number"));
    let plan = ev.plan.expect("plan");
    assert!(plan
        .notes()
        .iter()
        .any(|n| n == "fill `sequence_number` = 0"));

    for seed in 1..20 {
        let bytes = Gen::cdr(&real, seed, false);
        let old = decode_cdr(&real, &bytes).unwrap();
        let out = migrate_cdr(&plan, &real, &newer, &bytes).unwrap();
        let new = decode_cdr(&newer, &out).unwrap();
        for id in 1..=13 {
            assert_eq!(new.get(id), old.get(id), "field id {id} kept");
        }
        assert_eq!(new.get(14), Some(&Value::U32(0)));
        assert_eq!(&out[..bytes.len()], &bytes[..], "a prefix: appended field");

        // Back: newer -> real drops the field; the real deserializer accepts it.
        let back_ev = evolve(&newer, &real).unwrap();
        assert_eq!(back_ev.compatibility.level, Level::ForwardCompatible);
        let back = migrate_cdr(back_ev.plan.as_ref().unwrap(), &newer, &real, &out).unwrap();
        assert_eq!(back, bytes);
        let ts = resolve(c_handle("test_msgs", "BasicTypes"));
        let mut m = Msg::new(&ts);
        m.de(&back).unwrap();
        assert_eq!(m.ser(), bytes);
    }
}

#[test]
fn nested_type_change_is_migrated_inside() {
    let real = layout("test_msgs", "Nested");
    let basic = layout("test_msgs", "BasicTypes");
    let mut bf = cdr_fields(&basic);
    bf.push(extra("quality", Primitive::F32));
    let basic2 = cdr_layout("test_msgs", "BasicTypes", bf);
    let newer = cdr_layout(
        "test_msgs",
        "Nested",
        vec![(
            "basic_types_value".into(),
            FieldType::Message(basic2),
            Arity::Single,
        )],
    );
    let ev = evolve(&real, &newer).unwrap();
    assert_eq!(ev.compatibility.level, Level::BackwardCompatible);
    assert!(
        ev.compatibility.reasons[0]
            .message
            .starts_with("in `test_msgs/msg/BasicTypes`: required field `quality`"),
        "{}",
        ev.compatibility
    );
    let plan = ev.plan.unwrap();
    let bytes = Gen::cdr(&real, 5, false);
    let out = migrate_cdr(&plan, &real, &newer, &bytes).unwrap();
    let m = decode_cdr(&newer, &out).unwrap();
    let Some(Value::Message(inner)) = m.get(1) else {
        panic!("nested message")
    };
    assert_eq!(inner.get(14), Some(&Value::F32(0.0)));
    let old = decode_cdr(&real, &bytes).unwrap();
    let Some(Value::Message(old_inner)) = old.get(1) else {
        panic!()
    };
    assert_eq!(inner.get(10), old_inner.get(10));
}

#[test]
fn breaking_changes_give_no_plan_unless_rules() {
    let real = layout("test_msgs", "BasicTypes");
    let mut fields = cdr_fields(&real);
    // int32_value (index 9) becomes a string: not a widening.
    fields[9].1 = FieldType::String { bound: None };
    let changed = cdr_layout("test_msgs", "BasicTypes", fields);
    let ev = evolve(&real, &changed).unwrap();
    assert_eq!(ev.compatibility.level, Level::Breaking);
    assert!(ev.plan.is_none());
    assert!(ev
        .compatibility
        .reasons
        .iter()
        .any(|r| r.field.as_deref() == Some("int32_value") && !r.backward));
    // With a transform the caller accepts it.
    let plan = CdrMigration::with_rules(
        &real,
        &changed,
        &MigrationRules::new().transform("int32_value", |v| match v {
            Value::I32(x) => Ok(Value::String(x.to_string())),
            other => Err(format!("unexpected {other}")),
        }),
    )
    .unwrap();
    let bytes = Gen::cdr(&real, 3, false);
    let old = decode_cdr(&real, &bytes).unwrap();
    let out = decode_cdr(
        &changed,
        &migrate_cdr(&plan, &real, &changed, &bytes).unwrap(),
    )
    .unwrap();
    let Some(Value::I32(x)) = old.get(10) else {
        panic!()
    };
    assert_eq!(out.get(10), Some(&Value::String(x.to_string())));

    // Widening int32 -> int64 is automatic.
    let mut fields = cdr_fields(&real);
    fields[9].1 = FieldType::Primitive(Primitive::I64);
    let wide = cdr_layout("test_msgs", "BasicTypes", fields);
    let ev = evolve(&real, &wide).unwrap();
    assert_eq!(ev.compatibility.level, Level::BackwardCompatible);
    let out = migrate_cdr(ev.plan.as_ref().unwrap(), &real, &wide, &bytes).unwrap();
    assert_eq!(
        decode_cdr(&wide, &out).unwrap().get(10),
        Some(&Value::I64(i64::from(*x)))
    );
    // A plan for another type is refused.
    let other = layout("test_msgs", "Strings");
    assert!(matches!(
        migrate_cdr(&plan, &other, &other, &bytes),
        Err(MigrateCdrError::WrongPlan { .. })
    ));
    assert!(matches!(
        evolve(&real, &other),
        Err(SchemaMapError::DifferentTypes { .. })
    ));
}

/// Untrusted input: truncations, mutations and absurd lengths are errors,
/// never panics or huge allocations.
#[test]
fn hostile_bytes_are_rejected_cleanly() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (pkg, name) in TYPES {
        let l = layout(pkg, name);
        let plan = evolve(&l, &l).unwrap().plan.unwrap();
        let bytes = Gen::cdr(&l, 7, false);
        for n in 0..bytes.len().min(400) {
            let _ = migrate_cdr(&plan, &l, &l, &bytes[..n]);
        }
        for _ in 0..200 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            let cut = b.len() - rng.below(b.len().min(8));
            if let Ok(out) = migrate_cdr(&plan, &l, &l, &b[..cut]) {
                // Accepted input re-decodes to the same message.
                assert_eq!(
                    decode_cdr(&l, &out).unwrap(),
                    decode_cdr(&l, &b[..cut]).unwrap()
                );
            }
        }
    }
    // A 2^32-1 sequence length with no data behind it.
    let l = layout("test_msgs", "UnboundedSequences");
    let mut b = vec![0, 1, 0, 0];
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_cdr(&l, &b),
        Err(MigrateCdrError::Decode(_))
    ));
    // Not UTF-8.
    let s = layout("std_msgs", "String");
    let b = [0, 1, 0, 0, 3, 0, 0, 0, 0xff, 0xfe, 0];
    assert!(matches!(
        decode_cdr(&s, &b),
        Err(MigrateCdrError::InvalidUtf8 { .. })
    ));
    assert_eq!(
        decode_cdr(&s, &[0, 1, 0, 0, 3, 0, 0, 0, b'h', b'i', 0]).unwrap(),
        Message::new().with(1, Value::String("hi".into()))
    );
}

/// Cost of migrate_cdr (release: `cargo test --release -p msg_support --test
/// schema_layouts -- --ignored --nocapture`): BasicTypes + an appended field,
/// and a 640x480 rgb8 Image + an appended field (the pixel bytes are one
/// `Bytes` value). Checks the results; prints the times for the docs.
#[test]
#[ignore]
fn migrate_cdr_cost() {
    let time = |what: &str, old: &MessageLayout, new: &MessageLayout, bytes: &[u8], n: u32| {
        let plan = evolve(old, new).unwrap().plan.unwrap();
        let out = migrate_cdr(&plan, old, new, bytes).unwrap();
        assert_eq!(&out[..bytes.len()], bytes);
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(migrate_cdr(&plan, old, new, bytes).unwrap());
            }
            best = best.min(start.elapsed().as_secs_f64() / f64::from(n));
        }
        let copy = {
            let start = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(bytes.to_vec());
            }
            start.elapsed().as_secs_f64() / f64::from(n)
        };
        println!(
            "{what}: {} bytes, migrate_cdr {:.2} us/message (best of 5), a plain copy {:.2} us",
            bytes.len(),
            best * 1e6,
            copy * 1e6
        );
    };
    let basic = layout("test_msgs", "BasicTypes");
    let mut f = cdr_fields(&basic);
    f.push(extra("seq", Primitive::U32));
    let basic2 = cdr_layout("test_msgs", "BasicTypes", f);
    time(
        "BasicTypes",
        &basic,
        &basic2,
        &Gen::cdr(&basic, 1, false),
        100_000,
    );
    let img = layout("sensor_msgs", "Image");
    let mut f = cdr_fields(&img);
    f.push(extra("exposure_us", Primitive::U32));
    let img2 = cdr_layout("sensor_msgs", "Image", f);
    time("Image 640x480 rgb8", &img, &img2, &image_cdr(640, 480), 200);
}
