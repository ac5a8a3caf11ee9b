//! `renoir bench ring` and `renoir bench pool` run and print one row per
//! measurement with a number in it.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_renoir"))
        .args(args)
        .output()
        .expect("run renoir");
    assert!(
        out.status.success(),
        "renoir {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn number_after(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{text}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in row {line:?}"))
}

#[test]
fn bench_ring_prints_every_ring() {
    let out = run(&["bench", "ring", "--count", "2000"]);
    for row in [
        "spsc push+pop",
        "mpmc push+pop",
        "sequenced push+pop",
        "spsc two threads",
    ] {
        let ns = number_after(&out, row);
        assert!(ns > 0.0 && ns.is_finite(), "{row}: {ns}");
    }
}

#[test]
fn bench_pool_compares_with_malloc() {
    let out = run(&["bench", "pool", "--count", "2000"]);
    for row in ["64 B", "4.0 KiB"] {
        let ns = number_after(&out, row);
        assert!(ns > 0.0 && ns.is_finite(), "{row}: {ns}");
    }
}
