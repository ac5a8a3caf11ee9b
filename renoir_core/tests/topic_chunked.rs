//! Chunked samples on topics: payloads above the publisher's
//! `max_slot_size` travel through its chunk store (docs/large-payloads.md
//! §8). Boundaries in one process; real child processes (this binary
//! re-executed with a role) for cross-process delivery and for SIGKILL of
//! a subscriber holding a chunked sample and of a publisher mid-publish.
//! Every test uses its own domain and checks that nothing is left in the
//! shm directory.
mod topic_common;

use renoir_core::blob::BlobStore;
use renoir_core::config::BlobConfig;
use renoir_core::region::{Access, Backend, Region};
use renoir_core::registry::Domain;
use renoir_core::topic::{PublishError, Publisher, Qos, Sample, Subscriber, TopicSpec};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};
use topic_common::*;

const CHUNK: u64 = 256;

/// Byte `k` of sample `seq`'s payload.
fn pat(len: usize, seq: u64) -> Vec<u8> {
    (0..len)
        .map(|k| (k as u64).wrapping_mul(31).wrapping_add(seq * 7) as u8)
        .collect()
}

fn cfg(max_slot: u64, pool: u64, strategy: &str) -> BlobConfig {
    BlobConfig {
        max_slot_size: max_slot,
        chunk_size: CHUNK,
        pool_size: pool,
        chunk_strategy: strategy.into(),
        reclaim_interval_ms: 0,
        reclaim_max_age_ms: 100,
        checksum: true,
        ..BlobConfig::default()
    }
}

fn take_now(s: &Subscriber) -> Sample {
    let t = Instant::now();
    loop {
        if let Some(x) = s.take().unwrap() {
            return x;
        }
        assert!(t.elapsed() < scaled(Duration::from_secs(5)), "no sample");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Every way of reading `x` gives `want`.
fn verify(x: &Sample, want: &[u8]) {
    assert_eq!(x.len(), want.len());
    let mut joined = Vec::new();
    for c in x.chunks() {
        joined.extend_from_slice(c);
    }
    assert_eq!(joined, want, "chunks()");
    let mut out = vec![0u8; want.len()];
    x.copy_to(&mut out).unwrap();
    assert_eq!(out, want, "copy_to");
    assert!(x.copy_to(&mut vec![0u8; want.len() + 1]).is_err());
    assert_eq!(&x[..], want, "deref");
    assert_eq!(x.contiguous(), Some(want), "contiguous after deref");
}

fn boundaries(strategy: &str, dom: u32) {
    init();
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        // Everything non-empty is chunked here.
        let p0 = d
            .create_publisher_with(
                &n,
                TopicSpec::new("/c0", "t/T", Qos::reliable(5)),
                cfg(0, 4 << 10, strategy),
            )
            .unwrap();
        // Contiguous up to 1000 bytes, chunked above.
        let p1 = d
            .create_publisher_with(
                &n,
                TopicSpec::new("/c1", "t/T", Qos::reliable(5)),
                cfg(1000, 4 << 10, strategy),
            )
            .unwrap();
        let s0 = d
            .create_subscriber(&n, TopicSpec::new("/c0", "t/T", Qos::reliable(5)))
            .unwrap();
        let s1 = d
            .create_subscriber(&n, TopicSpec::new("/c1", "t/T", Qos::reliable(5)))
            .unwrap();
        let c = CHUNK as usize;
        let cases: &[(&Publisher, &Subscriber, usize, bool)] = &[
            (&p0, &s0, 1, true),
            (&p0, &s0, c - 1, true),
            (&p0, &s0, c, true),
            (&p0, &s0, c + 1, true),
            (&p0, &s0, 2 * c, true),
            (&p0, &s0, 37 * c + 5, true),
            (&p0, &s0, 0, false),
            (&p1, &s1, 0, false),
            (&p1, &s1, 1, false),
            (&p1, &s1, 1000, false),
            (&p1, &s1, 1001, true),
            (&p1, &s1, 1000 + 3 * c, true),
        ];
        for (i, &(p, s, len, chunked)) in cases.iter().enumerate() {
            let want = pat(len, i as u64 + 1);
            p.publish_bytes(&want, now_ns()).unwrap();
            let x = take_now(s);
            assert_eq!(x.is_chunked(), chunked, "case {i} len {len}");
            if chunked {
                let n_chunks = x.chunks().count();
                // Before any deref: zero copy iff one chunk.
                assert_eq!(x.contiguous().is_some(), n_chunks <= 1, "case {i}");
                match strategy {
                    "fixed" => assert_eq!(n_chunks, len.div_ceil(c), "case {i}"),
                    _ => assert!(n_chunks >= len.div_ceil(c), "case {i}"),
                }
            }
            verify(&x, &want);
        }
        let st = p0.chunk_stats().expect("p0 has a chunk store");
        assert!(st.reclaim.published >= 1, "{st:?}");
        assert_eq!(st.chunk_size, CHUNK as u32);
        assert!(p1.chunk_stats().is_some());
        // A loan above max_slot_size stays contiguous (documented).
        let m = p1.loan(5000).unwrap();
        assert_eq!(m.len(), 5000);
        drop(m);
    }
    assert_clean(dom);
}

#[test]
fn chunked_boundaries_fixed() {
    if role().is_some() {
        return;
    }
    boundaries("fixed", 231);
}

#[test]
fn chunked_boundaries_adaptive() {
    if role().is_some() {
        return;
    }
    boundaries("adaptive", 232);
}

/// A subscriber holds a chunked sample while the publisher keeps
/// publishing: the held bytes never change, the best-effort publisher
/// drops with `ChunksExhausted` once the store is full, a reliable one
/// blocks up to max_blocking then reports the same error; after the loan
/// is dropped, publishing succeeds again.
#[test]
fn held_chunked_sample_is_never_overwritten() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 233;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        for (topic, qos) in [("/be", Qos::best_effort(3)), ("/rel", Qos::reliable(3))] {
            let len = 4 * CHUNK as usize + 10;
            let p = d
                .create_publisher_with(
                    &n,
                    TopicSpec::new(topic, "t/T", qos),
                    cfg(64, 12 * CHUNK, "fixed"),
                )
                .unwrap();
            p.set_max_blocking(Duration::from_millis(30));
            let s = d
                .create_subscriber(&n, TopicSpec::new(topic, "t/T", qos))
                .unwrap();
            let first = pat(len, 1);
            p.publish_bytes(&first, now_ns()).unwrap();
            let held = take_now(&s);
            assert!(held.is_chunked());
            let mut exhausted = 0;
            for i in 2..60u64 {
                match p.publish_bytes(&pat(len, i), now_ns()) {
                    Ok(_) => {}
                    Err(PublishError::ChunksExhausted { .. }) => exhausted += 1,
                    Err(e) => panic!("{topic}: unexpected {e}"),
                }
                // Drain the ring so only the held sample pins the store.
                while let Some(x) = s.take().unwrap() {
                    assert_eq!(&x[..], &pat(len, x.info().sequence)[..]);
                }
                assert_eq!(&held[..], &first[..], "{topic}: held sample changed");
            }
            assert!(exhausted > 0, "{topic}: store never ran full");
            let st = p.chunk_stats().unwrap();
            assert_eq!(st.dropped, exhausted, "{topic}: {st:?}");
            assert!(st.reclaim.retired > 0, "{topic}: {st:?}");
            // What `renoir ls` shows: the store mapped read-only by name.
            let r = std::sync::Arc::new(
                Region::open(&st.segment, Backend::Shm, Access::ReadOnly).unwrap(),
            );
            let sum = BlobStore::open_in(&r, r.payload_offset())
                .unwrap()
                .summary();
            assert_eq!(sum.chunks_in_use, st.chunks_in_use, "{sum:?}");
            assert_eq!((sum.pinned, sum.readers), (1, 1), "{sum:?}");
            assert_eq!(sum.epoch, st.reclaim.retired, "{sum:?}");
            verify(&held, &first);
            drop(held);
            p.publish_bytes(&pat(len, 99), now_ns())
                .unwrap_or_else(|e| panic!("{topic}: after release: {e}"));
        }
    }
    assert_clean(dom);
}

/// Reliable: a publisher blocked on a full store continues as soon as the
/// subscriber drops its sample (within max_blocking).
#[test]
fn reliable_publisher_waits_for_room() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 234;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let len = 4 * CHUNK as usize;
        let spec = TopicSpec::new("/w", "t/T", Qos::reliable(3));
        let p = d
            .create_publisher_with(&n, spec.clone(), cfg(64, 10 * CHUNK, "fixed"))
            .unwrap();
        p.set_max_blocking(scaled(Duration::from_secs(20)));
        let s = d.create_subscriber(&n, spec).unwrap();
        p.publish_bytes(&pat(len, 1), now_ns()).unwrap();
        let held = take_now(&s);
        // Fill the store behind the held sample's epoch.
        let mut i = 2;
        p.set_max_blocking(Duration::from_millis(0));
        while p.publish_bytes(&pat(len, i), now_ns()).is_ok() {
            i += 1;
            while s.take().unwrap().is_some() {}
            assert!(i < 100);
        }
        while s.take().unwrap().is_some() {}
        p.set_max_blocking(scaled(Duration::from_secs(20)));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        p.publish_bytes(&pat(len, i), now_ns()).unwrap();
        t.join().unwrap();
        assert!(p.stats().blocked > 0);
    }
    assert_clean(dom);
}

fn env_u64(k: &str) -> u64 {
    std::env::var(k).unwrap().parse().unwrap()
}

/// Child subscriber: take `T_EXPECT` samples, verify each against its
/// sequence; `T_HOLD=1`: take one, say HOLD, then sleep (to be killed).
fn run_sub() {
    let d = Domain::join(env_u64("T_DOMAIN") as u32).unwrap();
    let n = d.add_node("listener", "/", "").unwrap();
    let topic = std::env::var("T_TOPIC").unwrap();
    let hold = std::env::var("T_HOLD").is_ok();
    let qos = if hold {
        Qos::best_effort(3)
    } else {
        Qos::keep_all_reliable()
    };
    let s = d
        .create_subscriber(&n, TopicSpec::new(topic, "t/T", qos))
        .unwrap();
    println!("READY");
    let expect = env_u64("T_EXPECT");
    let (mut got, mut bad, mut chunked) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + scaled(Duration::from_secs(30));
    let mut kept = Vec::new();
    while got < expect && Instant::now() < deadline {
        let seen = d.doorbell_seq();
        match s.take() {
            Ok(Some(x)) => {
                got += 1;
                chunked += x.is_chunked() as u64;
                let want = pat(x.len(), x.info().sequence);
                let mut out = vec![0u8; x.len()];
                x.copy_to(&mut out).unwrap();
                if x[..] != want[..] || out != want {
                    bad += 1;
                }
                if hold {
                    kept.push(x);
                    println!("HOLD");
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
            Ok(None) => {
                d.wait(seen, Some(Duration::from_millis(100)));
            }
            Err(e) => panic!("take: {e}"),
        }
    }
    println!("RESULT got={got} bad={bad} chunked={chunked}");
}

/// Child publisher: chunked samples forever (killed by the parent).
fn run_pub() {
    let d = Domain::join(env_u64("T_DOMAIN") as u32).unwrap();
    let n = d.add_node("talker", "/", "").unwrap();
    // Configuration from RENOIR_MAX_SLOT_SIZE / RENOIR_CHUNK_SIZE (env).
    let p = d
        .create_publisher(&n, TopicSpec::new("/crash", "t/T", Qos::best_effort(4)))
        .unwrap();
    println!("READY");
    let mut i = 1u64;
    loop {
        let len = 3000 + (i as usize % 7) * 1000;
        if p.publish_bytes(&pat(len, i), now_ns()).is_ok() {
            i += 1;
        }
    }
}

#[test]
fn child() {
    match role().as_deref() {
        Some("sub") => run_sub(),
        Some("pub") => run_pub(),
        Some(r) => panic!("unknown role {r}"),
        None => {}
    }
}

fn parse(out: &str, key: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or_else(|| panic!("no RESULT in {out:?}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

fn wait_matched(p: &Publisher, n: usize) {
    let t = Instant::now();
    while p.matched_subscribers() < n {
        assert!(t.elapsed() < scaled(Duration::from_secs(20)), "no match");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_line(c: &mut std::process::Child, what: &str) -> BufReader<std::process::ChildStdout> {
    let mut r = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "child ended before {what}"
        );
        // libtest prints "test child ... " before the child's first line.
        if line.trim().ends_with(what) {
            return r;
        }
    }
}

#[test]
fn chunked_samples_cross_process() {
    if role().is_some() || no_spawn("chunked_samples_cross_process") {
        return;
    }
    init();
    let dom = 235;
    let sizes: Vec<usize> = vec![1, 255, 256, 257, 700, 4096, 40 * 256 + 3, 0, 65, 100_000];
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let spec = TopicSpec::new("/x", "t/T", Qos::keep_all_reliable());
        let p = d
            .create_publisher_with(&n, spec, cfg(64, 64 << 10, "fixed"))
            .unwrap();
        p.set_max_blocking(scaled(Duration::from_secs(10)));
        let mut env = vec![
            ("T_DOMAIN", dom.to_string()),
            ("T_TOPIC", "/x".to_string()),
            ("T_EXPECT", (sizes.len() * 3).to_string()),
        ];
        env.push(("RENOIR_CHECKSUM", "1".into()));
        let c = spawn_child("child", "sub", &env);
        wait_matched(&p, 1);
        let mut seq = 1u64;
        for _ in 0..3 {
            for &len in &sizes {
                assert_eq!(p.publish_bytes(&pat(len, seq), now_ns()).unwrap(), seq);
                seq += 1;
            }
        }
        let (ok, out) = wait_child(c, Duration::from_secs(30));
        assert!(ok, "{out}");
        assert_eq!(parse(&out, "got"), sizes.len() as u64 * 3, "{out}");
        assert_eq!(parse(&out, "bad"), 0, "{out}");
        // Everything above 64 bytes went in chunks.
        let big = sizes.iter().filter(|&&l| l > 64).count() as u64 * 3;
        assert_eq!(parse(&out, "chunked"), big, "{out}");
    }
    assert_clean(dom);
}

/// A subscriber SIGKILLed while holding a chunked sample: the publisher
/// runs its store full (never overwriting the held chunks), detects the
/// dead reader after max_age, releases its watermark and continues.
#[test]
fn subscriber_killed_holding_chunked_sample() {
    if role().is_some() || no_spawn("subscriber_killed_holding_chunked_sample") {
        return;
    }
    init();
    let dom = 236;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("talker", "/", "").unwrap();
        let spec = TopicSpec::new("/k", "t/T", Qos::best_effort(3));
        let p = d
            .create_publisher_with(&n, spec, cfg(64, 12 * CHUNK, "fixed"))
            .unwrap();
        let env = vec![
            ("T_DOMAIN", dom.to_string()),
            ("T_TOPIC", "/k".to_string()),
            ("T_EXPECT", "1".to_string()),
            ("T_HOLD", "1".to_string()),
        ];
        let mut c = spawn_child("child", "sub", &env);
        wait_matched(&p, 1);
        let len = 4 * CHUNK as usize;
        p.publish_bytes(&pat(len, 1), now_ns()).unwrap();
        let _out = wait_line(&mut c, "HOLD");
        // Alive and holding: the store runs full instead of overwriting.
        let mut full = false;
        for i in 2..40 {
            if let Err(e) = p.publish_bytes(&pat(len, i), now_ns()) {
                assert!(matches!(e, PublishError::ChunksExhausted { .. }), "{e}");
                full = true;
            }
        }
        assert!(full, "store never ran full while a reader held a sample");
        c.kill().unwrap();
        c.wait().unwrap();
        // Dead: released after max_age (100 ms) by the liveness check.
        let t = Instant::now();
        while p.publish_bytes(&pat(len, 100), now_ns()).is_err() {
            assert!(
                t.elapsed() < scaled(Duration::from_secs(10)),
                "publisher never recovered: {:?}",
                p.chunk_stats()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let st = p.chunk_stats().unwrap();
        assert!(st.reclaim.dead_readers_released >= 1, "{st:?}");
        for i in 101..120 {
            p.publish_bytes(&pat(len, i), now_ns()).unwrap();
        }
    }
    assert_clean(dom);
}

/// A publisher SIGKILLed while publishing chunked samples: the subscriber
/// sees only intact samples (or a take error), never crashes, and the
/// publisher's segments (chunk store included) are reclaimed.
#[test]
fn publisher_killed_mid_chunk() {
    if role().is_some() || no_spawn("publisher_killed_mid_chunk") {
        return;
    }
    init();
    let dom = 237;
    for round in 0..4u64 {
        {
            let d = Domain::join(dom).unwrap();
            let n = d.add_node("listener", "/", "").unwrap();
            let s = d
                .create_subscriber(&n, TopicSpec::new("/crash", "t/T", Qos::best_effort(4)))
                .unwrap();
            let env = vec![
                ("T_DOMAIN", dom.to_string()),
                ("RENOIR_MAX_SLOT_SIZE", "1024".to_string()),
                ("RENOIR_CHUNK_SIZE", "512".to_string()),
                ("RENOIR_POOL_SIZE", "64KiB".to_string()),
            ];
            let mut c = spawn_child("child", "pub", &env);
            let _r = wait_line(&mut c, "READY");
            let (mut good, mut errors) = (0u64, 0u64);
            let t = Instant::now();
            let kill_after = 20 + round * 15;
            let mut killed = false;
            while t.elapsed() < scaled(Duration::from_secs(20)) {
                match s.take() {
                    Ok(Some(x)) => {
                        assert!(x.is_chunked());
                        assert_eq!(&x[..], &pat(x.len(), x.info().sequence)[..]);
                        good += 1;
                    }
                    Ok(None) if killed => break,
                    Ok(None) => std::thread::sleep(Duration::from_micros(200)),
                    Err(_) => errors += 1,
                }
                if !killed && good >= kill_after {
                    c.kill().unwrap();
                    c.wait().unwrap();
                    killed = true;
                }
            }
            assert!(killed, "round {round}: only {good} samples");
            eprintln!("round {round}: {good} intact samples, {errors} take errors");
            // Reap the dead publisher (its segments go with its record).
            let t = Instant::now();
            while d
                .graph()
                .endpoints
                .iter()
                .any(|e| e.kind == renoir_core::topic::EndpointKind::Publisher)
            {
                assert!(t.elapsed() < scaled(Duration::from_secs(10)));
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(s);
        }
        assert_clean(dom);
    }
}

/// Share rule: one subscriber holds at most half of a publisher's chunk
/// store zero-copy; a chunked sample taken beyond that arrives as an owned
/// copy (its pin released at once), with the same bytes.
#[test]
fn subscriber_share_is_bounded() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 238;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let spec = TopicSpec::new("/share", "t/T", Qos::reliable(8));
        // 40 chunks: share = 20 chunks = four 5-chunk samples.
        let p = d
            .create_publisher_with(&n, spec.clone(), cfg(64, 40 * CHUNK, "fixed"))
            .unwrap();
        let s = d.create_subscriber(&n, spec).unwrap();
        let len = 5 * CHUNK as usize;
        let mut held = Vec::new();
        for i in 1..=6u64 {
            p.publish_bytes(&pat(len, i), now_ns()).unwrap();
            let x = take_now(&s);
            assert!(x.is_chunked());
            let zero_copy = x.chunks().count() == 5;
            assert_eq!(zero_copy, i <= 4, "sample {i}");
            // Beyond the share: already an owned, contiguous copy.
            assert_eq!(x.contiguous().is_some(), i > 4, "sample {i}");
            verify(&x, &pat(len, i));
            held.push(x);
        }
        drop(held);
        // Room again: the next sample is zero-copy.
        p.publish_bytes(&pat(len, 7), now_ns()).unwrap();
        let x = take_now(&s);
        assert_eq!(x.chunks().count(), 5);
    }
    assert_clean(dom);
}

/// `large_threshold` caps the inline slots: a 100 KiB hint gets 100 KiB
/// inline slots by default (the sample lands in the data segment), but
/// 4 KiB inline slots under a 64 KiB threshold, where the sample goes to its
/// own contiguous large-sample segment (`_b<slot>g<gen>`).
#[test]
fn large_threshold_caps_inline_slots() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 239;
    let big = pat(100 << 10, 1);
    let large_segments = || {
        leftovers(dom)
            .into_iter()
            .filter(|f| {
                f.rsplit('_')
                    .next()
                    .is_some_and(|t| t.starts_with('b') && !t.starts_with("bstore"))
            })
            .count()
    };
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let spec = |t: &str| TopicSpec::new(t, "t/T", Qos::reliable(2)).hint(big.len());
        let s_inline = d.create_subscriber(&n, spec("/inline")).unwrap();
        let p_inline = d
            .create_publisher_with(&n, spec("/inline"), BlobConfig::default())
            .unwrap();
        p_inline.publish_bytes(&big, now_ns()).unwrap();
        verify(&take_now(&s_inline), &big);
        assert_eq!(large_segments(), 0, "{:?}", leftovers(dom));

        let s_large = d.create_subscriber(&n, spec("/large")).unwrap();
        let low = BlobConfig {
            large_threshold: 64 << 10,
            ..BlobConfig::default()
        };
        let p_large = d.create_publisher_with(&n, spec("/large"), low).unwrap();
        p_large.publish_bytes(&big, now_ns()).unwrap();
        verify(&take_now(&s_large), &big);
        assert_eq!(large_segments(), 1, "{:?}", leftovers(dom));
    }
    assert_clean(dom);
}
