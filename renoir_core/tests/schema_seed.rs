//! The seed cases of the schema-evolution issue: the SensorReading history.

use renoir_core::schema::examples::*;
use renoir_core::schema::*;

fn reason_texts(c: &Compatibility) -> Vec<String> {
    c.reasons.iter().map(|r| r.message.clone()).collect()
}

/// v1.0 -> v1.1 adds two optional fields. We return BackwardCompatible:
/// new (v1.1) readers read v1.0 data (accuracy reads as its default 1.0,
/// metadata is simply unset), but v1.0 readers decode exactly their own type
/// and do not know the two new fields, so the forward direction is not
/// guaranteed. With readers that skip unknown fields it is FullyCompatible.
#[test]
fn v1_0_to_v1_1_is_backward_compatible() {
    let c = compare(&sensor_v1_0(), &sensor_v1_1());
    assert_eq!(c.level, Level::BackwardCompatible, "{c}");
    assert_eq!(c.reasons.len(), 2);
    assert!(c.reasons.iter().all(|r| r.kind == ChangeKind::FieldAdded));
    assert!(c.reasons.iter().all(|r| r.backward && !r.forward));
    let texts = reason_texts(&c);
    assert_eq!(
        texts[0],
        "optional field `accuracy` (id 3, f32, default 1.0) added: old readers do not know it"
    );
    assert_eq!(
        texts[1],
        "optional field `metadata` (id 4, string) added: old readers do not know it"
    );

    let skip = compare_with(
        &sensor_v1_0(),
        &sensor_v1_1(),
        &CompareOptions {
            readers_skip_unknown: true,
        },
    );
    assert_eq!(skip.level, Level::FullyCompatible);
}

#[test]
fn identical_and_version_only_change() {
    assert_eq!(
        compare(&sensor_v1_1(), &sensor_v1_1()).level,
        Level::Identical
    );
    let mut bumped = sensor_v1_1();
    bumped.version = Version::new(1, 1, 1);
    bumped.doc = "docs only".into();
    let c = compare(&sensor_v1_1(), &bumped);
    assert_eq!(c.level, Level::Identical);
    assert!(c.reasons.is_empty());
}

#[test]
fn v1_1_to_v2_0_is_breaking_and_needs_a_default() {
    let c = compare(&sensor_v1_1(), &sensor_v2_0());
    assert_eq!(c.level, Level::Breaking, "{c}");
    assert_eq!(
        reason_texts(&c),
        vec![
            "required field `sensor_id` (id 5, string) added without a default: old messages lack it"
        ]
    );

    let err = MigrationPlan::new(&sensor_v1_1(), &sensor_v2_0()).unwrap_err();
    assert_eq!(
        err,
        PlanError::MissingValue {
            field: "sensor_id".into(),
            id: 5
        }
    );
    assert!(err.to_string().contains("`sensor_id`"));

    let rules = MigrationRules::new().default_value("sensor_id", Value::String("unknown".into()));
    let plan = MigrationPlan::with_rules(&sensor_v1_1(), &sensor_v2_0(), &rules).unwrap();
    let old = Message::new()
        .with(1, Value::U64(7))
        .with(2, Value::F64(2.5))
        .with(3, Value::F32(0.5));
    let new = plan.apply(&old).unwrap();
    assert_eq!(new.get(5), Some(&Value::String("unknown".into())));
    assert_eq!(new.get(1), Some(&Value::U64(7)));
    assert_eq!(new.get(3), Some(&Value::F32(0.5)));
    assert!(!new.contains(4));
    sensor_v2_0().check_message(&new, &NoTypes).unwrap();

    // A wrongly typed rule default is refused when planning.
    let bad = MigrationRules::new().default_value("sensor_id", Value::U32(1));
    assert!(matches!(
        MigrationPlan::with_rules(&sensor_v1_1(), &sensor_v2_0(), &bad),
        Err(PlanError::RuleDefaultMismatch { .. })
    ));
}

#[test]
fn legacy_v0_9_needs_explicit_renames_then_widens() {
    let c = compare(&sensor_v0_9(), &sensor_v1_0());
    assert_eq!(c.level, Level::Breaking);
    assert_eq!(
        reason_texts(&c),
        vec![
            "field id 1 reused: was `time` (u32), now `timestamp` (u64); if it is the same field, declare a rename",
            "field id 2 reused: was `sensor_value` (f32), now `value` (f64); if it is the same field, declare a rename",
        ]
    );
    assert_eq!(
        MigrationPlan::new(&sensor_v0_9(), &sensor_v1_0()).unwrap_err(),
        PlanError::IdReused {
            id: 1,
            old_field: "time".into(),
            new_field: "timestamp".into()
        }
    );

    let rules = MigrationRules::new()
        .rename("time", "timestamp")
        .rename("sensor_value", "value");
    let plan = MigrationPlan::with_rules(&sensor_v0_9(), &sensor_v1_0(), &rules).unwrap();
    assert_eq!(
        plan.notes(),
        &[
            "rename `time` -> `timestamp`",
            "convert `timestamp` u32 -> u64",
            "rename `sensor_value` -> `value`",
            "convert `value` f32 -> f64",
        ]
    );
    let out = plan.apply(&sensor_v0_9_message(u32::MAX, 21.5)).unwrap();
    assert_eq!(out.get(1), Some(&Value::U64(u64::from(u32::MAX))));
    assert_eq!(out.get(2), Some(&Value::F64(21.5)));
    assert_eq!(out.len(), 2);

    // Unknown rule field names are refused.
    let typo = MigrationRules::new().rename("tim", "timestamp");
    assert!(matches!(
        MigrationPlan::with_rules(&sensor_v0_9(), &sensor_v1_0(), &typo),
        Err(PlanError::UnknownRuleField { .. })
    ));
}

fn registry() -> SchemaRegistry {
    let mut r = SchemaRegistry::new();
    for s in [sensor_v0_9(), sensor_v1_0(), sensor_v1_1(), sensor_v2_0()] {
        r.register(s).unwrap();
    }
    r
}

#[test]
fn chain_v0_9_to_v2_0() {
    let reg = registry();
    let chain = reg
        .chain(
            SENSOR_READING,
            &Version::new(0, 9, 0),
            &Version::new(2, 0, 0),
            sensor_rules,
        )
        .unwrap();
    assert_eq!(chain.plans().len(), 3);
    assert_eq!(chain.source().version, Version::new(0, 9, 0));
    assert_eq!(chain.target().version, Version::new(2, 0, 0));
    let out = chain.apply(&sensor_v0_9_message(1000, 3.25)).unwrap();
    assert_eq!(out.get(1), Some(&Value::U64(1000)));
    assert_eq!(out.get(2), Some(&Value::F64(3.25)));
    assert_eq!(out.get(5), Some(&Value::String("unknown".into())));
    assert!(!out.contains(3), "optional with default stays unset");
    sensor_v2_0().check_message(&out, &NoTypes).unwrap();

    // Plans that do not meet refuse to chain.
    let p1 = MigrationPlan::new(&sensor_v1_0(), &sensor_v1_1()).unwrap();
    let err = MigrationChain::new(vec![p1.clone(), p1]).unwrap_err();
    assert!(matches!(err, ChainError::BrokenLink { index: 1, .. }));
    assert_eq!(MigrationChain::new(vec![]).unwrap_err(), ChainError::Empty);
}

#[test]
fn migrator_rolls_back_and_counts() {
    // v1.1 -> v1.0 -> (narrowing allowed) a v1.0-like schema with u32 timestamps.
    let mut narrow = sensor_v1_0();
    narrow.version = Version::new(1, 0, 1);
    narrow.fields[0].ty = FieldType::prim(Primitive::U32);
    let plan = MigrationPlan::with_rules(
        &sensor_v1_0(),
        &narrow,
        &MigrationRules::new().allow_narrowing("timestamp"),
    )
    .unwrap();
    let mut m = Migrator::new(plan);

    let ok = Message::new()
        .with(1, Value::U64(5))
        .with(2, Value::F64(1.0));
    let out = m.migrate(ok).unwrap();
    assert_eq!(out.get(1), Some(&Value::U32(5)));

    let too_big = Message::new()
        .with(1, Value::U64(u64::from(u32::MAX) + 1))
        .with(2, Value::F64(1.0));
    let rejected = m.migrate(too_big.clone()).unwrap_err();
    assert_eq!(rejected.original, too_big, "original handed back untouched");
    assert!(matches!(rejected.error, MigrateError::Conversion { .. }));
    assert!(rejected.error.to_string().contains("field `timestamp`"));

    let mut in_place = too_big.clone();
    assert!(m.migrate_in_place(&mut in_place).is_err());
    assert_eq!(in_place, too_big, "rolled back");

    // Missing required value in the input: fails validation, input untouched.
    let mut missing = Message::new().with(1, Value::U64(1));
    let before = missing.clone();
    let e = m.migrate_in_place(&mut missing).unwrap_err();
    assert_eq!(missing, before);
    assert!(e.to_string().contains("value"), "{e}");

    let stats = *m.stats();
    assert_eq!(stats.migrated, 1);
    assert_eq!(stats.failed, 3);
    assert!(stats.total_time >= stats.max_time);
    assert!(stats.max_time > std::time::Duration::ZERO);
    assert!(stats.per_second() > 0.0);
    m.reset_stats();
    assert_eq!(m.stats().migrated, 0);
}

#[test]
fn transform_rule_handles_incompatible_type() {
    let old = Schema::builder("demo/T", Version::new(1, 0, 0))
        .required(1, "level", FieldType::string())
        .build()
        .unwrap();
    let new = Schema::builder("demo/T", Version::new(2, 0, 0))
        .required(1, "level", Primitive::U8)
        .build()
        .unwrap();
    assert!(matches!(
        MigrationPlan::new(&old, &new),
        Err(PlanError::IncompatibleType { .. })
    ));
    let rules = MigrationRules::new().transform("level", |v| match v {
        Value::String(s) => s.parse::<u8>().map(Value::U8).map_err(|e| e.to_string()),
        other => Err(format!("unexpected {other}")),
    });
    let plan = MigrationPlan::with_rules(&old, &new, &rules).unwrap();
    let out = plan
        .apply(&Message::new().with(1, Value::String("42".into())))
        .unwrap();
    assert_eq!(out.get(1), Some(&Value::U8(42)));
    let err = plan
        .apply(&Message::new().with(1, Value::String("x".into())))
        .unwrap_err();
    assert!(matches!(err, MigrateError::Transform { .. }), "{err}");
}
