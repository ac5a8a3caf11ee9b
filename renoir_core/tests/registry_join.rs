//! Registry: concurrent creation by many processes (O_EXCL race), domain
//! isolation, graph contents, corrupt records rejected without panics.
// Atomics via renoir_core::sync (clippy resolves the re-export to std).
#![allow(clippy::disallowed_types)]

mod topic_common;

use renoir_core::region::{Access, Backend, Region};
use renoir_core::registry::layout::{EndpointRecord, RegLayout, MAX_ENDPOINTS};
use renoir_core::registry::Domain;
use renoir_core::topic::{EndpointKind, Qos, TopicSpec};
use std::time::{Duration, Instant};
use topic_common::*;

#[test]
fn child() {
    if role().as_deref() == Some("joiner") {
        let start: u64 = std::env::var("T_START").unwrap().parse().unwrap();
        // All children start joining at the same instant.
        while (now_ns() as u64) < start {
            std::hint::spin_loop();
        }
        let dom: u32 = std::env::var("T_DOMAIN").unwrap().parse().unwrap();
        let d = Domain::join(dom).unwrap();
        let _n = d
            .add_node(&format!("joiner_{}", std::process::id()), "/race", "")
            .unwrap();
        let t = Instant::now();
        while d.graph().nodes.len() < 6 && t.elapsed() < scaled(Duration::from_secs(10)) {
            std::thread::sleep(Duration::from_millis(5));
        }
        println!("NODES {}", d.graph().nodes.len());
        // Stay until everybody has seen everybody.
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn six_processes_race_to_create_the_registry() {
    if role().is_some() || no_spawn("six_processes_race_to_create_the_registry") {
        return;
    }
    init();
    let dom = 401;
    let start = (now_ns() + 300_000_000).to_string();
    let kids: Vec<_> = (0..6)
        .map(|_| {
            spawn_child(
                "child",
                "joiner",
                &[("T_DOMAIN", dom.to_string()), ("T_START", start.clone())],
            )
        })
        .collect();
    for c in kids {
        let (ok, out) = wait_child(c, Duration::from_secs(30));
        assert!(ok, "{out}");
        assert!(out.contains("NODES 6"), "{out}");
    }
    assert_clean(dom);
}

#[test]
fn domains_are_isolated_and_graph_reports_endpoints() {
    if role().is_some() {
        return;
    }
    init();
    let (a, b) = (402, 403);
    {
        let da = Domain::join(a).unwrap();
        let db = Domain::join(b).unwrap();
        assert!(std::sync::Arc::ptr_eq(&da, &Domain::join(a).unwrap()));
        let na = da.add_node("na", "/ns", "enc").unwrap();
        let _nb = db.add_node("nb", "/", "").unwrap();
        let mut spec = TopicSpec::new("/t", "pkg/msg/T", Qos::transient_local(3));
        spec.type_hash = [9; 32];
        let p = da.create_publisher(&na, spec.clone()).unwrap();
        let v0 = db.graph_version();
        let s = da.create_subscriber(&na, spec.clone()).unwrap();
        let g = da.graph();
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].namespace, "/ns");
        assert_eq!(g.nodes[0].enclave, "enc");
        assert_eq!(g.endpoints.len(), 2);
        let pe = g
            .endpoints
            .iter()
            .find(|e| e.kind == EndpointKind::Publisher)
            .unwrap();
        assert_eq!(pe.gid, p.gid());
        assert_eq!(pe.type_hash, [9; 32]);
        assert_eq!(pe.qos, spec.qos);
        assert_eq!(pe.node_name, "na");
        let se = g
            .endpoints
            .iter()
            .find(|e| e.kind == EndpointKind::Subscriber)
            .unwrap();
        assert_eq!(se.gid, s.gid());
        let seen = renoir_core::registry::inspect(a).expect("inspect");
        assert_eq!(seen.endpoints.len(), 2);
        assert_eq!(seen.nodes.len(), 1);
        assert_eq!(db.graph().nodes.len(), 1);
        assert!(db.graph().endpoints.is_empty());
        assert_eq!(db.graph_version(), v0, "other domain's version moved");
        // Bounded, validated strings.
        assert!(da.add_node(&"x".repeat(300), "/", "").is_err());
        assert!(da.add_node("bad\0name", "/", "").is_err());
    }
    assert_clean(a);
    assert_clean(b);
}

#[test]
fn corrupt_endpoint_records_are_skipped() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 404;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let _p = d
            .create_publisher(&n, TopicSpec::new("/ok", "T", Qos::default()))
            .unwrap();
        let _p2 = d
            .create_publisher(&n, TopicSpec::new("/victim", "T", Qos::default()))
            .unwrap();
        // A hostile peer scribbles on the registry.
        let r = Region::open(d.registry_name(), Backend::Shm, Access::ReadWrite).unwrap();
        let lay = RegLayout::compute(r.payload_offset());
        let mut hit = 0;
        for i in 0..MAX_ENDPOINTS {
            let e: &EndpointRecord = r
                .get(lay.endpoints + i * std::mem::size_of::<EndpointRecord>())
                .unwrap();
            if e.slot.load().is_live() && e.topic.get().as_deref() == Ok("/victim") {
                // Poke the record as raw words: the topic string's length
                // word (byte 144) becomes absurd; readers must reject it.
                let raw: &[renoir_core::sync::atomic::AtomicU64] = r
                    .get_slice(
                        lay.endpoints + i * std::mem::size_of::<EndpointRecord>(),
                        101,
                    )
                    .unwrap();
                // topic field starts at byte 144: len word = u32 at 144.
                raw[18].store(u64::MAX, renoir_core::sync::atomic::Ordering::Relaxed);
                hit += 1;
            }
        }
        assert_eq!(hit, 1);
        let g = d.graph();
        assert_eq!(g.endpoints.len(), 1, "{g:?}");
        assert_eq!(g.endpoints[0].topic_name, "/ok");
    }
    assert_clean(dom);
}

/// A leaver killed between setting `closed` and unlinking: the next joiner
/// must not be locked out.
#[test]
fn stale_closed_flag_does_not_lock_out_joiners() {
    use renoir_core::registry::layout::RegHeader;
    use renoir_core::sync::atomic::Ordering;
    if role().is_some() {
        return;
    }
    init();
    let dom = 405;
    let d = Domain::join(dom).unwrap();
    let r = Region::open(d.registry_name(), Backend::Shm, Access::ReadWrite).unwrap();
    let lay = RegLayout::compute(r.payload_offset());
    let h: &RegHeader = r.get(lay.header).unwrap();
    h.closed.store(1, Ordering::SeqCst);
    d.abandon();
    drop(r);
    {
        let d = Domain::join(dom).expect("join after a stale close");
        let _n = d.add_node("n", "/", "").unwrap();
        assert_eq!(d.graph().nodes.len(), 1);
    }
    assert_clean(dom);
}
