//! Streamed publish (`Publisher::publish_streaming`): the descriptor is
//! published before the bytes, readers copy behind the progress mark.
//! Real shared memory; the writer-death case kills a real child process.
mod topic_common;

use renoir_core::registry::Domain;
use renoir_core::topic::{Qos, StreamError, TakeError, TopicSpec, STREAM_STALL_TIMEOUT};
use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use topic_common::*;

const LEN: usize = 4 << 20;
const PIECE: usize = 256 << 10;

fn spec(topic: &str) -> TopicSpec {
    TopicSpec::new(topic, "test/Frame", Qos::reliable(4))
}

fn byte(i: usize, seed: u8) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(seed)
}

fn fill(buf: &mut [u8], from: usize, seed: u8) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = byte(from + k, seed);
    }
}

fn intact(buf: &[u8], from: usize, seed: u8) -> bool {
    buf.iter()
        .enumerate()
        .all(|(k, b)| *b == byte(from + k, seed))
}

fn take_one(
    s: &renoir_core::topic::Subscriber,
    streaming: bool,
) -> Result<renoir_core::topic::Sample, TakeError> {
    let t = Instant::now();
    loop {
        let got = if streaming {
            s.take_streaming()
        } else {
            s.take()
        };
        if let Some(x) = got? {
            return Ok(x);
        }
        assert!(t.elapsed() < scaled(Duration::from_secs(10)), "no sample");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn matched(p: &renoir_core::topic::Publisher) {
    let t = Instant::now();
    while p.matched_subscribers() < 1 {
        assert!(t.elapsed() < scaled(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The reader sees the sample before it is written, and each piece exactly
/// when the writer marks it: the writer waits for the reader's ack before
/// writing the next piece, so the reader can never be ahead by chance.
#[test]
fn reader_follows_the_progress_mark() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 451;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d.create_publisher(&n, spec("/follow")).unwrap();
        let s = d.create_subscriber(&n, spec("/follow")).unwrap();
        matched(&p);
        let loan = p.loan(LEN).unwrap();
        let mut w = p.publish_streaming(loan, now_ns()).unwrap();
        let (to_reader, marks) = mpsc::channel::<usize>();
        let (ack, acks) = mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            for k in 0..LEN / PIECE {
                {
                    let (bytes, mut mark) = w.split();
                    fill(&mut bytes[k * PIECE..(k + 1) * PIECE], k * PIECE, 7);
                    mark.advance((k + 1) * PIECE);
                }
                to_reader.send((k + 1) * PIECE).unwrap();
                acks.recv().unwrap();
            }
            w.finish();
            to_reader.send(usize::MAX).unwrap();
        });
        let x = take_one(&s, true).unwrap();
        assert_eq!(x.len(), LEN);
        let mut saw_partial = false;
        loop {
            let m = marks.recv().unwrap();
            if m == usize::MAX {
                break;
            }
            if m < LEN {
                // The writer is parked until we ack: exactly `m` is written.
                assert!(!x.is_complete());
                assert_eq!(x.wait_written(m).unwrap(), m);
                saw_partial = true;
            }
            assert!(intact(&x.raw_bytes()[m - PIECE..m], m - PIECE, 7));
            ack.send(()).unwrap();
        }
        writer.join().unwrap();
        assert!(saw_partial);
        x.wait_complete().unwrap();
        assert!(x.is_complete());
        assert!(intact(&x, 0, 7));
        assert_eq!(s.lost(), 0);
    }
    assert_clean(dom);
}

/// `take` (whole samples only) returns a streamed sample once it is
/// complete, with every byte.
#[test]
fn take_waits_for_the_whole_sample() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 452;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d.create_publisher(&n, spec("/whole")).unwrap();
        let s = d.create_subscriber(&n, spec("/whole")).unwrap();
        matched(&p);
        let loan = p.loan(LEN).unwrap();
        let mut w = p.publish_streaming(loan, now_ns()).unwrap();
        let (started, go) = mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            go.recv().unwrap();
            for k in 0..LEN / PIECE {
                let (bytes, mut mark) = w.split();
                fill(&mut bytes[k * PIECE..(k + 1) * PIECE], k * PIECE, 3);
                mark.advance((k + 1) * PIECE);
                std::thread::sleep(Duration::from_millis(1));
            }
            w.finish();
        });
        // The descriptor is already there; the bytes are not.
        assert!(s.has_data());
        started.send(()).unwrap();
        let x = take_one(&s, false).unwrap();
        assert!(x.is_complete());
        assert!(intact(&x, 0, 3));
        writer.join().unwrap();
        // An ordinary publish after it still works and is complete at once.
        p.publish_bytes(&[9u8; 100], now_ns()).unwrap();
        let y = take_one(&s, true).unwrap();
        assert!(y.is_complete());
        assert_eq!(&*y, &[9u8; 100][..]);
    }
    assert_clean(dom);
}

/// A writer that gives up (drops its StreamingSample): a reader already
/// holding the sample gets `Aborted` (and never an unwritten byte through
/// Deref); a later reader skips it as lost; the next sample is fine.
#[test]
fn aborted_sample_is_lost_not_read() {
    if role().is_some() {
        return;
    }
    init();
    let dom = 453;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("n", "/", "").unwrap();
        let p = d.create_publisher(&n, spec("/abort")).unwrap();
        let early = d.create_subscriber(&n, spec("/abort")).unwrap();
        let late = d.create_subscriber(&n, spec("/abort")).unwrap();
        let t = Instant::now();
        while p.matched_subscribers() < 2 {
            assert!(t.elapsed() < scaled(Duration::from_secs(10)));
            std::thread::sleep(Duration::from_millis(2));
        }
        let loan = p.loan(LEN).unwrap();
        let mut w = p.publish_streaming(loan, now_ns()).unwrap();
        {
            let (bytes, mut mark) = w.split();
            fill(&mut bytes[..LEN / 2], 0, 5);
            mark.advance(LEN / 2);
        }
        let x = take_one(&early, true).unwrap();
        assert_eq!(x.wait_written(LEN / 2).unwrap(), LEN / 2);
        assert!(intact(&x.raw_bytes()[..LEN / 2], 0, 5));
        drop(w); // gives up
        assert!(matches!(
            x.wait_complete(),
            Err(StreamError::Aborted { .. })
        ));
        assert_eq!(&*x, &[] as &[u8], "an aborted sample must not expose bytes");
        drop(x);
        // The late reader never sees it.
        p.publish_bytes(&[1u8; 64], now_ns()).unwrap();
        let y = take_one(&late, false).unwrap();
        assert_eq!(&*y, &[1u8; 64][..]);
        assert_eq!(late.lost(), 1);
        // And the slot of the aborted sample is reusable.
        for i in 0..20u8 {
            let mut m = p.loan(LEN).unwrap();
            m.fill(i);
            p.publish(m, now_ns()).unwrap();
            let z = take_one(&late, false).unwrap();
            assert!(z.iter().all(|b| *b == i));
        }
    }
    assert_clean(dom);
}

/// Child role: publish one sample streaming, write half of it, say so, and
/// wait to be killed.
fn run_half_writer() {
    let dom: u32 = std::env::var("T_DOMAIN").unwrap().parse().unwrap();
    let d = Domain::join(dom).unwrap();
    let n = d.add_node("dying", "/", "").unwrap();
    let p = d.create_publisher(&n, spec("/dies")).unwrap();
    let t = Instant::now();
    while p.matched_subscribers() < 1 {
        assert!(t.elapsed() < scaled(Duration::from_secs(20)));
        std::thread::sleep(Duration::from_millis(2));
    }
    let loan = p.loan(LEN).unwrap();
    let mut w = p.publish_streaming(loan, now_ns()).unwrap();
    {
        let (bytes, mut mark) = w.split();
        fill(&mut bytes[..LEN / 2], 0, 11);
        mark.advance(LEN / 2);
    }
    println!("HALF");
    std::thread::sleep(Duration::from_secs(600));
    drop(w);
}

#[test]
fn child() {
    if role().as_deref() == Some("half") {
        run_half_writer();
    }
}

/// The writer's process is SIGKILLed mid-sample: the reader learns that
/// the writer died (not a stall timeout), loses that sample only, and the
/// segments of the dead publisher are cleaned up.
#[test]
fn writer_death_mid_sample_is_detected() {
    if role().is_some() || no_spawn("writer_death_mid_sample_is_detected") {
        return;
    }
    init();
    let dom = 454;
    {
        let d = Domain::join(dom).unwrap();
        let n = d.add_node("survivor", "/", "").unwrap();
        let s = d.create_subscriber(&n, spec("/dies")).unwrap();
        let mut c = spawn_child("child", "half", &[("T_DOMAIN", dom.to_string())]);
        let out = std::io::BufReader::new(c.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        // Polling the subscriber attaches it to the child's publisher.
        let t = Instant::now();
        loop {
            let _ = s.has_data();
            match lines.recv_timeout(Duration::from_millis(5)) {
                Ok(l) if l.contains("HALF") => break,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("child ended early: {e}"),
            }
            assert!(t.elapsed() < scaled(Duration::from_secs(30)), "no HALF");
        }
        let x = take_one(&s, true).unwrap();
        assert_eq!(x.wait_written(LEN / 2).unwrap(), LEN / 2);
        assert!(intact(&x.raw_bytes()[..LEN / 2], 0, 11));
        c.kill().unwrap();
        c.wait().unwrap();
        let t = Instant::now();
        let err = x.wait_complete().unwrap_err();
        assert!(
            matches!(err, StreamError::WriterDied { written, .. } if written == (LEN / 2) as u64),
            "{err:?}"
        );
        // Found by the liveness check, not by the stall timeout.
        assert!(t.elapsed() < STREAM_STALL_TIMEOUT, "{:?}", t.elapsed());
        drop(x);
        assert!(s.take().unwrap().is_none());
        drop(s);
        renoir_core::cleanup::clean(Some(dom));
    }
    assert_clean(dom);
}
