//! The schema registry in shared memory (rmw_renoir::schema_link): regions
//! written by one side and loaded by the other, verdicts on pairs of
//! versions, and corrupt regions (errors, never panics). Real regions under
//! this test's own prefix.

use msg_support::schema::{cdr_layout, decode_cdr, encode_cdr, migrate_cdr, CdrField};
use msg_support::{Arity, FieldType, Primitive};
use renoir_core::region::{Access, Backend, Region, RegionConfig};
use renoir_core::schema::{Message, Value};
use renoir_core::sync::atomic::{AtomicU64, Ordering};
use rmw_renoir::schema_link::{self as link, create_region, region_name};

fn set_prefix() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(CHILD).is_some() {
            return; // a child of a test here: its parent's prefix
        }
        let base = std::env::var("RENOIR_SHM_PREFIX").unwrap_or_else(|_| "rmw".into());
        std::env::set_var(
            "RENOIR_SHM_PREFIX",
            format!("{base}slink{}", std::process::id()),
        );
    });
}

const TY: &str = "evo_msgs/msg/Reading";
/// Set in a child process started by a test (its domain).
const CHILD: &str = "SCHEMA_LINK_CHILD_DOMAIN";

fn prim(name: &str, p: Primitive) -> CdrField {
    (name.into(), FieldType::Primitive(p), Arity::Single)
}

/// v1 {stamp u64, value f64}, v2 = v1 + accuracy f32, v3 {stamp, value string}.
fn version(v: u8) -> std::sync::Arc<msg_support::MessageLayout> {
    let mut f = vec![prim("stamp", Primitive::U64)];
    match v {
        3 => f.push((
            "value".into(),
            FieldType::String { bound: None },
            Arity::Single,
        )),
        _ => f.push(prim("value", Primitive::F64)),
    }
    if v == 2 {
        f.push(prim("accuracy", Primitive::F32));
    }
    cdr_layout("evo_msgs", "Reading", f)
}

fn hash(v: u8) -> [u8; 32] {
    [v; 32]
}

/// Publishes version `v` in `domain` as this process would.
fn publish(domain: u32, v: u8) -> Region {
    let blob = link::blob_of_layout(&version(v), &hash(v)).unwrap();
    create_region(&region_name(domain, std::process::id(), &hash(v)), &blob).unwrap()
}

#[test]
fn compatible_versions_migrate_and_breaking_ones_name_the_field() {
    set_prefix();
    let d = 901;
    let _r: Vec<Region> = (1..=3).map(|v| publish(d, v)).collect();
    // The bus's registry lists the three versions (the hash in each
    // version's build metadata).
    let bus = link::bus(d);
    assert_eq!(bus.len(), 3);
    for (l, v) in bus.iter().zip(1u8..) {
        assert_eq!(l.root.name, TY);
        let want = format!("rihs01.{}", format!("{v:02x}").repeat(32));
        assert_eq!(l.root.version.build.as_str(), want);
    }
    for v in 1..=3 {
        let l = link::load(d, TY, &hash(v)).unwrap();
        assert_eq!(l.root.name, TY);
        assert_eq!(l.root.fields.len(), if v == 2 { 3 } else { 2 });
    }
    // v1 writer -> v2 reader: accuracy filled with its zero default.
    let up = link::judge(d, TY, &hash(1), &hash(2));
    let m = up.migration.as_ref().expect("v1 -> v2 migrates");
    let mut msg = Message::new();
    msg.set(1, Value::U64(7));
    msg.set(2, Value::F64(7.5));
    let v1_bytes = encode_cdr(&version(1), &msg).unwrap();
    let out = migrate_cdr(&m.plan, &m.writer, &version(2), &v1_bytes).unwrap();
    let got = decode_cdr(&version(2), &out).unwrap();
    assert_eq!(got.get(1), Some(&Value::U64(7)));
    assert_eq!(got.get(2), Some(&Value::F64(7.5)));
    assert_eq!(got.get(3), Some(&Value::F32(0.0)));
    // v2 writer -> v1 reader: accuracy dropped.
    let down = link::judge(d, TY, &hash(2), &hash(1));
    let m = down.migration.as_ref().expect("v2 -> v1 migrates");
    msg.set(3, Value::F32(0.25));
    let v2_bytes = encode_cdr(&version(2), &msg).unwrap();
    let out = migrate_cdr(&m.plan, &m.writer, &version(1), &v2_bytes).unwrap();
    assert_eq!(out, v1_bytes);
    assert!(link::pair_ok(d, TY, &hash(1), &hash(2)));
    // v1 -> v3: breaking, the reasons name the field.
    let bad = link::judge(d, TY, &hash(1), &hash(3));
    assert!(!bad.compatible());
    assert!(!link::pair_ok(d, TY, &hash(1), &hash(3)));
    assert!(
        bad.reasons.iter().any(|r| r.contains("`value`")),
        "{:?}",
        bad.reasons
    );
}

#[test]
fn a_missing_schema_is_an_error_and_not_cached() {
    set_prefix();
    let d = 902;
    let _a = publish(d, 1);
    let v = link::judge(d, TY, &hash(1), &hash(2));
    assert!(!v.compatible());
    assert!(
        v.reasons[0].contains("no process published"),
        "{:?}",
        v.reasons
    );
    // The peer's schema appears later: the pair is judged again.
    let _b = publish(d, 2);
    assert!(link::judge(d, TY, &hash(1), &hash(2)).compatible());
}

/// Writes a region named like a schema region of `hash` whose length word
/// is `len` and whose payload after it is `bytes`.
fn raw_region(domain: u32, pid: u32, h: &[u8; 32], len: u64, bytes: &[u8]) -> Region {
    let r = Region::create(&RegionConfig::new(
        region_name(domain, pid, h),
        8 + bytes.len(),
    ))
    .unwrap();
    let off = r.payload_offset();
    // SAFETY: the region was just created by this test and nobody else
    // maps it yet.
    unsafe { r.bytes_mut(off + 8, bytes.len()) }
        .unwrap()
        .copy_from_slice(bytes);
    let w: &AtomicU64 = r.get(off).unwrap();
    // SYNC POINT: as create_region (the test reads it back in this thread).
    w.store(len, Ordering::Release);
    r
}

#[test]
fn corrupt_regions_are_errors_not_panics() {
    set_prefix();
    let d = 903;
    let h = hash(9);
    let good = link::blob_of_layout(&version(1), &h).unwrap();
    let cases: Vec<(u64, Vec<u8>)> = vec![
        (0, good.clone()),                           // length not written yet
        (u64::MAX, good.clone()),                    // absurd length
        (good.len() as u64 + 1, good.clone()),       // one byte more than the blob
        (good.len() as u64 - 1, good.clone()),       // truncated blob
        (good.len() as u64, vec![0xa5; good.len()]), // garbage
        (good.len() as u64, {
            let mut b = good.clone();
            let n = b.len();
            b[n / 2] ^= 0x40; // one flipped bit: checksum
            b
        }),
        // A valid blob of another hash under this hash's name.
        (
            good.len() as u64,
            link::blob_of_layout(&version(1), &hash(8)).unwrap(),
        ),
    ];
    for (i, (len, bytes)) in cases.into_iter().enumerate() {
        let r = raw_region(d, 4_000_000 + i as u32, &h, len, &bytes);
        let opened = Region::open(r.name(), Backend::Shm, Access::ReadOnly).unwrap();
        let err = link::read_region(&opened).and_then(|b| link::decode(&b, TY, &h));
        assert!(err.is_err(), "case {i} was accepted");
        let l = link::load(d, TY, &h);
        assert!(l.is_err(), "case {i}: load accepted it");
        drop(opened);
        drop(r);
    }
    // Random blobs never panic the decoder.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for n in 0..200usize {
        let mut b = good.clone();
        for _ in 0..(1 + n % 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % b.len();
            b[at] = (x >> 32) as u8;
        }
        b.truncate(b.len() - n % 3);
        let _ = link::decode(&b, TY, &h);
    }
}

#[test]
fn own_regions_are_swept_at_exit() {
    set_prefix();
    let d = 904;
    let r = publish(d, 1);
    let path = r.path().unwrap().to_path_buf();
    r.unlink_on_drop(false);
    drop(r);
    assert!(path.exists());
    link::sweep_own(d);
    assert!(!path.exists());
}

#[test]
fn regions_of_dead_processes_are_swept_by_the_next_member() {
    set_prefix();
    if let Some(d) = std::env::var_os(CHILD) {
        // The child: publish and die without any cleanup.
        let d: u32 = d.to_str().unwrap().parse().unwrap();
        std::mem::forget(publish(d, 1));
        std::process::exit(0);
    }
    let d = 905;
    let st = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "regions_of_dead_processes_are_swept_by_the_next_member",
        ])
        .env(CHILD, d.to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let stem = renoir_core::platform::shm::file_name(&format!("{d}_schema_"));
    let ours = || {
        std::fs::read_dir(renoir_core::platform::shm::shm_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&stem)))
            .count()
    };
    assert_eq!(ours(), 1, "the child's region is left behind");
    // Its schema is still readable until then.
    assert!(link::load(d, TY, &hash(1)).is_ok());
    link::sweep_dead(d);
    assert_eq!(ours(), 0, "the dead child's region was not reclaimed");
}
