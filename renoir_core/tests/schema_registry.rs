//! SchemaRegistry: versions, compatibility-checked registration, JSON file,
//! shared-memory blob (including corrupt and random input).

use proptest::prelude::*;
use renoir_core::schema::examples::*;
use renoir_core::schema::registry::{fnv1a64, BLOB_HEADER_LEN, BLOB_MAGIC};
use renoir_core::schema::*;

fn registry() -> SchemaRegistry {
    let mut r = SchemaRegistry::new();
    for s in [sensor_v0_9(), sensor_v1_0(), sensor_v1_1(), sensor_v2_0()] {
        r.register(s).unwrap();
    }
    let point = Schema::builder("geo/Point", Version::new(1, 0, 0))
        .required(1, "x", Primitive::F64)
        .optional(
            2,
            "label",
            FieldType::Single(BaseType::String(Some(16))),
            Some(Value::String("p".into())),
        )
        .required(3, "raw", FieldType::sequence(Primitive::U8, Some(8)))
        .build()
        .unwrap();
    r.register(point).unwrap();
    r
}

#[test]
fn versions_latest_and_conflicts() {
    let mut r = registry();
    assert_eq!(r.len(), 5);
    assert_eq!(
        r.names().collect::<Vec<_>>(),
        vec![SENSOR_READING, "geo/Point"]
    );
    let versions: Vec<String> = r
        .versions(SENSOR_READING)
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(versions, ["0.9.0", "1.0.0", "1.1.0", "2.0.0"]);
    assert_eq!(
        r.latest(SENSOR_READING).unwrap().version,
        Version::new(2, 0, 0)
    );
    assert_eq!(
        r.resolve(SENSOR_READING).unwrap().version,
        Version::new(2, 0, 0)
    );
    assert!(r.get(SENSOR_READING, &Version::new(1, 1, 0)).is_some());
    assert!(r.get(SENSOR_READING, &Version::new(3, 0, 0)).is_none());
    // Same content again: no-op. Different content, same version: conflict.
    r.register(sensor_v1_0()).unwrap();
    let mut other = sensor_v1_0();
    other.fields[1].name = "val".into();
    assert_eq!(
        r.register(other).unwrap_err(),
        RegisterError::Conflict {
            key: "demo/SensorReading@1.0.0".into()
        }
    );
    let mut invalid = sensor_v1_0();
    invalid.version = Version::new(1, 0, 5);
    invalid.fields[1].id = 1;
    assert!(matches!(
        r.register(invalid),
        Err(RegisterError::Invalid { .. })
    ));
}

#[test]
fn register_checked_enforces_a_requirement() {
    let mut r = SchemaRegistry::new();
    let first = r
        .register_checked(sensor_v1_0(), Requirement::Backward)
        .unwrap();
    assert_eq!(first.level, Level::Identical);
    let c = r
        .register_checked(sensor_v1_1(), Requirement::Backward)
        .unwrap();
    assert_eq!(c.level, Level::BackwardCompatible);
    let e = r
        .register_checked(sensor_v2_0(), Requirement::Backward)
        .unwrap_err();
    assert!(matches!(
        e,
        RegisterError::Incompatible {
            level: Level::Breaking,
            ..
        }
    ));
    assert!(e.to_string().contains("`sensor_id`"), "{e}");
    assert!(r.get(SENSOR_READING, &Version::new(2, 0, 0)).is_none());
    r.register_checked(sensor_v2_0(), Requirement::None)
        .unwrap();
    assert!(r.get(SENSOR_READING, &Version::new(2, 0, 0)).is_some());
}

#[test]
fn json_file_round_trip() {
    let r = registry();
    let dir = std::env::temp_dir().join(format!("renoir_schema_test_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry.json");
    r.save(&path).unwrap();
    let back = SchemaRegistry::load(&path).unwrap();
    assert_eq!(back, r);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        SchemaRegistry::load(&path),
        Err(PersistError::Io { .. })
    ));
    assert!(matches!(
        SchemaRegistry::from_json("{\"schemas\": 3}"),
        Err(PersistError::Json { .. })
    ));
    let dup_ids = r#"{"schemas":[{"name":"a/B","version":"1.0.0","fields":[
        {"id":1,"name":"x","type":"u8"},{"id":1,"name":"y","type":"u8"}]}]}"#;
    let e = SchemaRegistry::from_json(dup_ids).unwrap_err();
    assert!(e.to_string().contains("duplicate field id 1"), "{e}");
}

#[test]
fn blob_round_trip_and_layout() {
    let r = registry();
    let blob = r.to_blob();
    assert_eq!(&blob[0..8], &BLOB_MAGIC);
    assert_eq!(u32::from_le_bytes(blob[8..12].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(blob[12..16].try_into().unwrap()), 5);
    let payload_len = u64::from_le_bytes(blob[16..24].try_into().unwrap());
    assert_eq!(payload_len as usize, blob.len() - BLOB_HEADER_LEN);
    let sum = u64::from_le_bytes(blob[24..32].try_into().unwrap());
    assert_eq!(sum, fnv1a64(&blob[BLOB_HEADER_LEN..]));
    assert_eq!(SchemaRegistry::from_blob(&blob).unwrap(), r);
    assert_eq!(
        SchemaRegistry::from_blob(&SchemaRegistry::new().to_blob()).unwrap(),
        SchemaRegistry::new()
    );
}

/// Rewrites the checksum so corruption past the header reaches the parser.
fn reseal(mut blob: Vec<u8>) -> Vec<u8> {
    let len = (blob.len() - BLOB_HEADER_LEN) as u64;
    blob[16..24].copy_from_slice(&len.to_le_bytes());
    let sum = fnv1a64(&blob[BLOB_HEADER_LEN..]);
    blob[24..32].copy_from_slice(&sum.to_le_bytes());
    blob
}

#[test]
fn corrupt_blobs_are_errors() {
    let good = registry().to_blob();
    let from = SchemaRegistry::from_blob;
    assert_eq!(
        from(&good[..10]).unwrap_err(),
        BlobError::TooShort { len: 10 }
    );
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(from(&b).unwrap_err(), BlobError::BadMagic);
    let mut b = good.clone();
    b[8] = 9;
    assert_eq!(
        from(&b).unwrap_err(),
        BlobError::UnsupportedVersion { found: 9 }
    );
    let mut b = good.clone();
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(from(&b), Err(BlobError::TooManySchemas { .. })));
    let b = &good[..good.len() - 1];
    assert!(matches!(from(b), Err(BlobError::LengthMismatch { .. })));
    let mut b = good.clone();
    let last = b.len() - 2;
    b[last] ^= 0x55;
    assert!(matches!(from(&b), Err(BlobError::Checksum { .. })));
    // A record length pointing past the end.
    let mut b = good.clone();
    b[BLOB_HEADER_LEN..BLOB_HEADER_LEN + 4].copy_from_slice(&900_000u32.to_le_bytes());
    let e = from(&reseal(b)).unwrap_err();
    assert!(matches!(e, BlobError::BadRecord { index: 0, .. }), "{e}");
    // A huge record length.
    let mut b = good.clone();
    b[BLOB_HEADER_LEN..BLOB_HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(from(&reseal(b)), Err(BlobError::BadRecord { .. })));
    // Fewer records than the payload holds.
    let mut b = good.clone();
    b[12..16].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(from(&b), Err(BlobError::TrailingBytes { .. })));
    // A schema that parses but is invalid (duplicate ids), sealed properly.
    let bad_json = br#"{"name":"a/B","version":"1.0.0","fields":[{"id":1,"name":"x","type":"u8"},{"id":1,"name":"y","type":"u8"}]}"#;
    let mut b = vec![0u8; BLOB_HEADER_LEN];
    b[0..8].copy_from_slice(&BLOB_MAGIC);
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(bad_json.len() as u32).to_le_bytes());
    b.extend_from_slice(bad_json);
    let e = from(&reseal(b)).unwrap_err();
    assert!(matches!(e, BlobError::Rejected { index: 0, .. }), "{e}");
    // The same schema twice.
    let one = {
        let mut r = SchemaRegistry::new();
        r.register(sensor_v1_0()).unwrap();
        r.to_blob()
    };
    let rec = &one[BLOB_HEADER_LEN..];
    let mut b = one[..BLOB_HEADER_LEN].to_vec();
    b[12..16].copy_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(rec);
    b.extend_from_slice(rec);
    let e = from(&reseal(b)).unwrap_err();
    assert!(e.to_string().contains("duplicate schema"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = SchemaRegistry::from_blob(&bytes);
        // Same bytes behind a valid header and checksum reach the record parser.
        let mut b = vec![0u8; BLOB_HEADER_LEN];
        b[0..8].copy_from_slice(&BLOB_MAGIC);
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[12..16].copy_from_slice(&(bytes.first().copied().unwrap_or(1) as u32 % 4).to_le_bytes());
        b.extend_from_slice(&bytes);
        let _ = SchemaRegistry::from_blob(&reseal(b));
    }

    #[test]
    fn mutated_blobs_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        truncate in any::<prop::sample::Index>(),
        reseal_it in any::<bool>(),
    ) {
        let mut b = registry().to_blob();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        if reseal_it {
            let keep = BLOB_HEADER_LEN + truncate.index(b.len() - BLOB_HEADER_LEN + 1);
            b.truncate(keep);
            b = reseal(b);
        }
        if let Ok(r) = SchemaRegistry::from_blob(&b) {
            // Whatever parsed is fully valid.
            for s in r.iter() {
                prop_assert!(s.validate().is_ok());
            }
        }
    }
}
