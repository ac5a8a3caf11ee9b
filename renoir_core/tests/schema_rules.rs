//! Every compatibility rule (with its reason text), and schema validation errors.

use renoir_core::schema::*;

fn v(major: u64) -> Version {
    Version::new(major, 0, 0)
}

fn base() -> Schema {
    Schema::builder("demo/R", v(1))
        .required(1, "a", Primitive::U32)
        .required(2, "b", FieldType::string())
        .optional(3, "c", Primitive::F32, Some(Value::F32(0.5)))
        .build()
        .unwrap()
}

fn evolve(f: impl FnOnce(&mut Schema)) -> Schema {
    let mut s = base();
    s.version = v(2);
    f(&mut s);
    s.validate().unwrap();
    s
}

fn only_reason(c: &Compatibility) -> &Reason {
    assert_eq!(c.reasons.len(), 1, "{c}");
    &c.reasons[0]
}

#[test]
fn adding_optional_with_default_is_backward() {
    let new = evolve(|s| {
        s.fields.push(
            Field::new(4, "d", Primitive::I16)
                .optional()
                .default_value(Value::I16(-1)),
        )
    });
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::BackwardCompatible);
    assert_eq!(
        only_reason(&c).message,
        "optional field `d` (id 4, i16, default -1) added: old readers do not know it"
    );
    assert!(MigrationPlan::new(&base(), &new).is_ok());
}

#[test]
fn deprecating_is_fully_compatible() {
    let new = evolve(|s| s.fields[2].deprecated = true);
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::FullyCompatible);
    assert_eq!(only_reason(&c).kind, ChangeKind::Deprecated);
    assert_eq!(only_reason(&c).message, "field `c` deprecated");
}

#[test]
fn required_to_optional_is_backward() {
    let new = evolve(|s| s.fields[1].presence = Presence::Optional);
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::BackwardCompatible);
    assert_eq!(
        only_reason(&c).message,
        "field `b` changed from required to optional: old readers may meet messages without it"
    );
    let plan = MigrationPlan::new(&base(), &new).unwrap();
    let m = Message::new()
        .with(1, Value::U32(1))
        .with(2, Value::String("x".into()));
    assert_eq!(plan.apply(&m).unwrap(), m);
}

#[test]
fn widenings_are_backward_and_migrate() {
    use Primitive::*;
    let cases = [
        (U8, U16, Value::U8(200)),
        (U16, U32, Value::U16(60000)),
        (U32, U64, Value::U32(u32::MAX)),
        (I8, I16, Value::I8(-100)),
        (I32, I64, Value::I32(i32::MIN)),
        (U32, I64, Value::U32(u32::MAX)),
        (U8, I16, Value::U8(255)),
        (F32, F64, Value::F32(0.1)),
        (I16, F32, Value::I16(-32768)),
        (U32, F64, Value::U32(u32::MAX)),
    ];
    for (from, to, val) in cases {
        assert!(from.widens_to(to), "{from:?} -> {to:?}");
        let old = Schema::builder("demo/W", v(1))
            .required(1, "x", from)
            .build()
            .unwrap();
        let new = Schema::builder("demo/W", v(2))
            .required(1, "x", to)
            .build()
            .unwrap();
        let c = compare(&old, &new);
        assert_eq!(c.level, Level::BackwardCompatible, "{from:?} -> {to:?}");
        assert_eq!(
            only_reason(&c).message,
            format!(
                "field `x` widened from {} to {}: new readers convert old values losslessly, old readers cannot hold new values",
                from.name(),
                to.name()
            )
        );
        let out = MigrationPlan::new(&old, &new)
            .unwrap()
            .apply(&Message::new().with(1, val.clone()))
            .unwrap();
        let got = out.get(1).unwrap();
        assert_eq!(got.primitive(), Some(to));
        assert_eq!(
            got.convert(from).as_ref(),
            Some(&val),
            "round trip {from:?}"
        );
    }
    // Not widenings.
    for (from, to) in [
        (U64, I64),
        (I32, U64),
        (I8, U8),
        (U64, F64),
        (I32, F32),
        (Bool, U8),
        (F64, F32),
    ] {
        assert!(!from.widens_to(to), "{from:?} -> {to:?}");
    }
}

#[test]
fn sequences_and_strings_widen() {
    let old = Schema::builder("demo/S", v(1))
        .required(1, "xs", FieldType::array(Primitive::U16, 3))
        .required(2, "name", FieldType::Single(BaseType::String(Some(8))))
        .required(3, "ys", FieldType::sequence(Primitive::F32, Some(4)))
        .build()
        .unwrap();
    let new = Schema::builder("demo/S", v(2))
        .required(1, "xs", FieldType::sequence(Primitive::U32, None))
        .required(2, "name", FieldType::string())
        .required(3, "ys", FieldType::sequence(Primitive::F64, Some(8)))
        .build()
        .unwrap();
    let c = compare(&old, &new);
    assert_eq!(c.level, Level::BackwardCompatible, "{c}");
    assert_eq!(c.reasons.len(), 3);
    let m = Message::new()
        .with(
            1,
            Value::List(vec![Value::U16(1), Value::U16(2), Value::U16(3)]),
        )
        .with(2, Value::String("abc".into()))
        .with(3, Value::List(vec![Value::F32(1.5)]));
    let out = MigrationPlan::new(&old, &new).unwrap().apply(&m).unwrap();
    assert_eq!(
        out.get(1),
        Some(&Value::List(vec![
            Value::U32(1),
            Value::U32(2),
            Value::U32(3)
        ]))
    );
    assert_eq!(out.get(3), Some(&Value::List(vec![Value::F64(1.5)])));
    // The reverse is a narrowing.
    assert_eq!(compare(&new, &old).level, Level::ForwardCompatible);
}

#[test]
fn breaking_removing_a_required_field() {
    let new = evolve(|s| {
        s.fields.remove(1);
    });
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(
        only_reason(&c).message,
        "required field `b` (id 2, string) removed: old readers need it"
    );
    let e = MigrationPlan::new(&base(), &new).unwrap_err();
    assert_eq!(
        e.to_string(),
        "required field `b` (id 2) would be dropped: add a drop rule to accept losing it"
    );
    let plan = MigrationPlan::with_rules(&base(), &new, &MigrationRules::new().drop("b")).unwrap();
    assert_eq!(plan.dropped(), &[(2, "b".to_string())]);
}

#[test]
fn breaking_adding_a_required_field_without_default() {
    let new = evolve(|s| s.fields.push(Field::new(9, "z", Primitive::U8)));
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(
        only_reason(&c).message,
        "required field `z` (id 9, u8) added without a default: old messages lack it"
    );
    // With a schema default it is only backward compatible, and plans.
    let with_default = evolve(|s| {
        s.fields
            .push(Field::new(9, "z", Primitive::U8).default_value(Value::U8(7)))
    });
    assert_eq!(
        compare(&base(), &with_default).level,
        Level::BackwardCompatible
    );
    let plan = MigrationPlan::new(&base(), &with_default).unwrap();
    let out = plan
        .apply(
            &Message::new()
                .with(1, Value::U32(1))
                .with(2, Value::String("s".into())),
        )
        .unwrap();
    assert_eq!(out.get(9), Some(&Value::U8(7)));
}

#[test]
fn breaking_incompatible_type_change() {
    let new = evolve(|s| s.fields[1].ty = FieldType::prim(Primitive::U32));
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(
        only_reason(&c).message,
        "field `b` changed type from string to u32, which is not a widening"
    );
    assert_eq!(
        MigrationPlan::new(&base(), &new).unwrap_err().to_string(),
        "field `b` changed type from string to u32: give a transform rule"
    );
    // Shape changes are type changes too.
    let arr = evolve(|s| s.fields[0].ty = FieldType::array(Primitive::U32, 2));
    assert_eq!(compare(&base(), &arr).level, Level::Breaking);
}

/// The issue lists "optional -> required" as breaking. Without a default
/// anywhere it is Breaking (the reason names the field) and the old -> new
/// plan refuses to build without a value; with a default every absent value
/// has a stand-in and it stays compatible.
#[test]
fn optional_to_required_without_default_is_breaking() {
    let new = evolve(|s| {
        s.fields[2].presence = Presence::Required;
        s.fields[2].default = None;
    });
    // The old schema's default (0.5) gives old data a value: compatible, and plans.
    let c = compare(&base(), &new);
    assert!(c.is_backward(), "{c}");
    let r = c
        .reasons
        .iter()
        .find(|r| r.kind == ChangeKind::OptionalToRequired)
        .unwrap();
    assert_eq!(
        r.message,
        "field `c` changed from optional to required; old messages without it get the default"
    );
    let plan = MigrationPlan::new(&base(), &new).unwrap();
    let out = plan
        .apply(
            &Message::new()
                .with(1, Value::U32(1))
                .with(2, Value::String("s".into())),
        )
        .unwrap();
    assert_eq!(out.get(3), Some(&Value::F32(0.5)));
    // Without any default anywhere it does not.
    let mut old = base();
    old.fields[2].default = None;
    let c = compare(&old, &new);
    assert_eq!(c.level, Level::Breaking);
    assert!(!c.is_backward());
    assert!(!c.is_forward());
    let r = only_reason(&c);
    assert_eq!(r.kind, ChangeKind::OptionalToRequired);
    assert_eq!(r.field.as_deref(), Some("c"));
    assert_eq!(r.id, Some(3));
    assert_eq!(
        r.message,
        "field `c` (id 3) changed from optional to required without a default: old messages and old writers may lack it"
    );
    // Also breaking with readers that skip unknown fields (nothing unknown here).
    let c = compare_with(
        &old,
        &new,
        &CompareOptions {
            readers_skip_unknown: true,
        },
    );
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(
        MigrationPlan::new(&old, &new).unwrap_err(),
        PlanError::MissingValue {
            field: "c".into(),
            id: 3
        }
    );
    let plan = MigrationPlan::with_rules(
        &old,
        &new,
        &MigrationRules::new().default_value("c", Value::F32(2.0)),
    )
    .unwrap();
    let out = plan
        .apply(
            &Message::new()
                .with(1, Value::U32(1))
                .with(2, Value::String("s".into())),
        )
        .unwrap();
    assert_eq!(out.get(3), Some(&Value::F32(2.0)));
}

#[test]
fn breaking_reusing_an_id_with_another_type() {
    let new = evolve(|s| {
        s.fields[1] = Field::new(2, "count", Primitive::I64);
    });
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(only_reason(&c).kind, ChangeKind::IdReused);
    assert_eq!(
        only_reason(&c).message,
        "field id 2 reused: was `b` (string), now `count` (i64); if it is the same field, declare a rename"
    );
    assert!(matches!(
        MigrationPlan::new(&base(), &new),
        Err(PlanError::IdReused { id: 2, .. })
    ));
    // Dropping the old field and giving the new one a value resolves it.
    let rules = MigrationRules::new()
        .drop("b")
        .default_value("count", Value::I64(0));
    let plan = MigrationPlan::with_rules(&base(), &new, &rules).unwrap();
    let out = plan
        .apply(
            &Message::new()
                .with(1, Value::U32(1))
                .with(2, Value::String("s".into())),
        )
        .unwrap();
    assert_eq!(out.get(2), Some(&Value::I64(0)));
}

#[test]
fn rename_keeping_id_is_fully_compatible() {
    let new = evolve(|s| s.fields[0].name = "alpha".into());
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::FullyCompatible);
    assert_eq!(
        only_reason(&c).message,
        "field `a` (id 1) renamed to `alpha`"
    );
}

#[test]
fn narrowing_and_removing_optional_are_forward() {
    let narrowed = evolve(|s| s.fields[0].ty = FieldType::prim(Primitive::U16));
    let c = compare(&base(), &narrowed);
    assert_eq!(c.level, Level::ForwardCompatible);
    assert_eq!(
        only_reason(&c).message,
        "field `a` narrowed from u32 to u16: old values may not fit"
    );
    assert!(matches!(
        MigrationPlan::new(&base(), &narrowed),
        Err(PlanError::Narrowing { .. })
    ));

    let removed = evolve(|s| {
        s.fields.remove(2);
    });
    let c = compare(&base(), &removed);
    assert_eq!(c.level, Level::ForwardCompatible);
    assert_eq!(
        only_reason(&c).message,
        "optional field `c` (id 3, f32) removed: new readers do not know it in old messages"
    );
    let skip = CompareOptions {
        readers_skip_unknown: true,
    };
    assert_eq!(
        compare_with(&base(), &removed, &skip).level,
        Level::FullyCompatible
    );
    // Dropping an optional field needs no rule.
    let plan = MigrationPlan::new(&base(), &removed).unwrap();
    assert_eq!(plan.dropped(), &[(3, "c".to_string())]);
}

#[test]
fn format_change_is_breaking() {
    let new = evolve(|s| s.format = "json".into());
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(
        only_reason(&c).message,
        "data format changed from `cdr` to `json`"
    );
}

#[test]
fn mixed_directions_are_breaking() {
    // A widening (backward only) plus a narrowing (forward only).
    let new = evolve(|s| {
        s.fields[0].ty = FieldType::prim(Primitive::U64);
        s.fields[2].ty = FieldType::prim(Primitive::U8);
        s.fields[2].default = None;
    });
    let c = compare(&base(), &new);
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(c.backward_breaks().count(), 1, "{c}");
    assert_eq!(c.forward_breaks().count(), 1, "{c}");
}

fn err_of(b: SchemaBuilder) -> SchemaError {
    b.build().unwrap_err()
}

#[test]
fn validation_errors_are_precise() {
    let b = || Schema::builder("demo/V", v(1));
    assert_eq!(
        err_of(
            b().required(1, "x", Primitive::U8)
                .required(1, "y", Primitive::U8)
        ),
        SchemaError::DuplicateFieldId {
            id: 1,
            first: "x".into(),
            second: "y".into()
        }
    );
    assert_eq!(
        err_of(
            b().required(1, "x", Primitive::U8)
                .required(2, "x", Primitive::U8)
        ),
        SchemaError::DuplicateFieldName {
            field: "x".into(),
            first_id: 1,
            second_id: 2
        }
    );
    assert_eq!(
        err_of(b().required(0, "x", Primitive::U8)),
        SchemaError::ReservedFieldId { field: "x".into() }
    );
    assert!(matches!(
        err_of(b().required(1, "bad name", Primitive::U8)),
        SchemaError::InvalidFieldName { .. }
    ));
    assert!(matches!(
        Schema::builder("no spaces!", v(1)).build().unwrap_err(),
        SchemaError::InvalidName { .. }
    ));
    let e = err_of(b().optional(1, "x", Primitive::U8, Some(Value::String("1".into()))));
    assert_eq!(
        e.to_string(),
        "default of field `x` does not match its type `u8`: field `x` expects `u8`, found string"
    );
    let e = err_of(b().optional(
        1,
        "s",
        FieldType::Single(BaseType::String(Some(3))),
        Some(Value::String("abcd".into())),
    ));
    assert!(matches!(e, SchemaError::DefaultTypeMismatch { .. }));
    assert!(e.to_string().contains("at most 3 bytes"), "{e}");
    let e = err_of(b().optional(
        1,
        "arr",
        FieldType::array(Primitive::U8, 2),
        Some(Value::List(vec![Value::U8(1)])),
    ));
    assert!(
        e.to_string().contains("array needs 2 elements, has 1"),
        "{e}"
    );
    assert_eq!(
        err_of(b().field(Field::new(1, "old", Primitive::U8).deprecated())),
        SchemaError::DeprecatedRequiredWithoutDefault {
            field: "old".into()
        }
    );
    // Deprecated + default or optional is fine.
    b().field(
        Field::new(1, "old", Primitive::U8)
            .deprecated()
            .default_value(Value::U8(0)),
    )
    .build()
    .unwrap();
    assert!(matches!(
        err_of(b().field(Field::new(1, "x", Primitive::U8).since(v(2)))),
        SchemaError::AddedAfterSchemaVersion { .. }
    ));
    assert!(matches!(
        err_of(b().required(1, "x", FieldType::array(Primitive::U8, 0))),
        SchemaError::ZeroLengthArray { .. }
    ));
    assert!(matches!(
        err_of(b().required(1, "me", FieldType::nested("demo/V"))),
        SchemaError::RecursiveType { .. }
    ));
}

#[test]
fn nested_types_resolve_and_check_deeply() {
    let point = Schema::builder("geo/Point", v(1))
        .required(1, "x", Primitive::F64)
        .required(2, "y", Primitive::F64)
        .build()
        .unwrap();
    let path = Schema::builder("geo/Path", v(1))
        .required(
            1,
            "points",
            FieldType::sequence(BaseType::Nested("geo/Point".into()), None),
        )
        .required(2, "origin", FieldType::nested("geo/Point"));
    assert_eq!(
        path.clone().build_in(&NoTypes).unwrap_err(),
        SchemaError::UnknownNestedType {
            field: "points".into(),
            ty: "geo/Point".into()
        }
    );
    let types = vec![point.clone()];
    let path = path.build_in(&types).unwrap();
    assert_eq!(path.nested_types(), vec!["geo/Point"]);

    let p = |x: f64| {
        Value::Message(
            Message::new()
                .with(1, Value::F64(x))
                .with(2, Value::F64(0.0)),
        )
    };
    let good = Message::new()
        .with(1, Value::List(vec![p(1.0), p(2.0)]))
        .with(2, p(0.0));
    path.check_message(&good, &types).unwrap();
    let bad_inner = Message::new()
        .with(
            1,
            Value::List(vec![Value::Message(
                Message::new().with(1, Value::F64(1.0)),
            )]),
        )
        .with(2, p(0.0));
    assert_eq!(
        path.check_message(&bad_inner, &types).unwrap_err(),
        MessageError::MissingRequired {
            field: "y".into(),
            id: 2
        }
    );
    // Without the resolver only the shape is checked.
    path.check_message(&bad_inner, &NoTypes).unwrap();
    assert!(matches!(
        path.check_message(&good.clone().with(9, Value::Bool(true)), &types),
        Err(MessageError::UnknownField { id: 9, .. })
    ));
}

#[test]
fn type_strings_round_trip() {
    for t in [
        "bool",
        "u8",
        "i64",
        "f32",
        "string",
        "string<=12",
        "bytes",
        "pkg/Type",
        "u8[16]",
        "f64[]",
        "i32[<=5]",
        "string<=4[<=2]",
        "pkg/msg/Point[3]",
    ] {
        let parsed: FieldType = t.parse().unwrap();
        assert_eq!(parsed.to_string(), t);
    }
    for bad in [
        "", "u8[", "u8[x]", "string<=", "1abc", "u8[<=]", "a b", "u7", "pkg/type",
    ] {
        assert!(bad.parse::<FieldType>().is_err(), "{bad:?}");
    }
}
