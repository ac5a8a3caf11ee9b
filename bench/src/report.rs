//! Aggregation over repeats, the terminal table, CSV and JSON.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::runner::{RunOutcome, Status};

pub const PEER: &str = "rmw_fastrtps_cpp";
pub const RENOIR: &str = "rmw_renoir";

/// Percentile of sorted data (nearest rank), or None when empty.
pub fn percentile(sorted: &[u64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
    Some(sorted[i] as f64)
}

/// Geometric mean (the right mean for ratios), None when empty.
pub fn geomean(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    Some((v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One repeat, reduced to numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepeatStats {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub samples: usize,
    /// Per subscriber (mean over subscribers).
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    pub lost: u64,
    pub sent: u64,
    pub cpu_pub_pct: f64,
    /// Mean over subscribers.
    pub cpu_sub_pct: f64,
    /// Publisher + all subscribers CPU time per published message, less the
    /// harness's own payload fill and check: what the rmw (and rcl) cost.
    pub cpu_per_msg_us: f64,
    pub rss_pub_mb: f64,
    /// Largest subscriber.
    pub rss_sub_mb: f64,
    pub publish_call_p50_us: f64,
    /// Duration of the take call (copy or loan), p50, mean over subscribers.
    #[serde(default)]
    pub take_call_p50_us: f64,
}

pub fn repeat_stats(o: &RunOutcome) -> Option<RepeatStats> {
    if o.status != Status::Ok {
        return None;
    }
    let mut lat = o.lat_ns.clone();
    lat.sort_unstable();
    let us = |q| percentile(&lat, q).map(|v| v / 1000.0).unwrap_or(f64::NAN);
    let subs = &o.subscribers;
    let n = subs.len().max(1) as f64;
    let publ = o.publisher.clone().unwrap_or_default();
    let sub_cpu: f64 = subs.iter().map(|s| s.cpu_s - s.harness_s).sum();
    let sent = publ.sent.max(1);
    Some(RepeatStats {
        p50_us: us(0.50),
        p90_us: us(0.90),
        p99_us: us(0.99),
        max_us: lat.last().map(|v| *v as f64 / 1000.0).unwrap_or(f64::NAN),
        samples: lat.len(),
        msgs_per_s: subs.iter().map(|s| s.msgs_per_s).sum::<f64>() / n,
        mb_per_s: subs.iter().map(|s| s.mb_per_s).sum::<f64>() / n,
        lost: subs.iter().map(|s| s.lost).sum(),
        sent: publ.sent,
        cpu_pub_pct: publ.cpu_pct,
        cpu_sub_pct: subs.iter().map(|s| s.cpu_pct).sum::<f64>() / n,
        cpu_per_msg_us: ((publ.cpu_s - publ.harness_s) + sub_cpu).max(0.0) / sent as f64 * 1e6,
        rss_pub_mb: publ.rss_kb as f64 / 1024.0,
        rss_sub_mb: subs.iter().map(|s| s.rss_kb).max().unwrap_or(0) as f64 / 1024.0,
        publish_call_p50_us: publ.lat_us.p50,
        take_call_p50_us: subs.iter().map(|s| s.take_call_us.p50).sum::<f64>() / n,
    })
}

/// One table row: one configuration on one rmw, over its repeats.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub config: String,
    pub label: String,
    pub msg: String,
    pub payload_bytes: usize,
    pub rate: String,
    pub subs: usize,
    pub take: String,
    pub rmw: String,
    /// ok | n/a | fail | partial
    pub status: String,
    pub repeats: usize,
    pub repeats_ok: usize,
    /// Medians over the successful repeats.
    pub median: Option<RepeatStats>,
    pub p50_min_us: Option<f64>,
    pub p50_max_us: Option<f64>,
    /// This row's p50 divided by the peer's (rmw_fastrtps_cpp) p50, same config.
    pub ratio_p50_vs_peer: Option<f64>,
    pub ratio_cpu_vs_peer: Option<f64>,
    /// The peer cannot loan: the ratios compare against its copy take.
    pub ratio_vs_peer_copy: bool,
    pub error: String,
    /// Each successful repeat's numbers (the spread behind the medians).
    pub per_repeat: Vec<RepeatStats>,
    pub runs: Vec<RunOutcome>,
}

pub fn make_row(cfg: &Config, rmw: &str, runs: Vec<RunOutcome>) -> Row {
    let stats: Vec<RepeatStats> = runs.iter().filter_map(repeat_stats).collect();
    let ok = stats.len();
    let na = runs.iter().any(|r| r.status == Status::NotApplicable);
    let status = if ok == runs.len() && ok > 0 {
        "ok"
    } else if na && ok == 0 {
        "n/a"
    } else if ok == 0 {
        "fail"
    } else {
        "partial"
    };
    let mut errors: Vec<String> = runs
        .iter()
        .filter(|r| r.status != Status::Ok)
        .map(|r| r.reason.clone())
        .collect();
    errors.dedup();
    let med = |f: &dyn Fn(&RepeatStats) -> f64| {
        let mut v: Vec<f64> = stats.iter().map(f).collect();
        median(&mut v).unwrap_or(f64::NAN)
    };
    let median_stats = (ok > 0).then(|| RepeatStats {
        p50_us: med(&|s| s.p50_us),
        p90_us: med(&|s| s.p90_us),
        p99_us: med(&|s| s.p99_us),
        max_us: med(&|s| s.max_us),
        samples: stats.iter().map(|s| s.samples).sum(),
        msgs_per_s: med(&|s| s.msgs_per_s),
        mb_per_s: med(&|s| s.mb_per_s),
        lost: stats.iter().map(|s| s.lost).sum(),
        sent: stats.iter().map(|s| s.sent).sum(),
        cpu_pub_pct: med(&|s| s.cpu_pub_pct),
        cpu_sub_pct: med(&|s| s.cpu_sub_pct),
        cpu_per_msg_us: med(&|s| s.cpu_per_msg_us),
        rss_pub_mb: med(&|s| s.rss_pub_mb),
        rss_sub_mb: med(&|s| s.rss_sub_mb),
        publish_call_p50_us: med(&|s| s.publish_call_p50_us),
        take_call_p50_us: med(&|s| s.take_call_p50_us),
    });
    let p50s = stats.iter().map(|s| s.p50_us);
    Row {
        config: cfg.key(),
        label: cfg.label(),
        msg: cfg.msg.label.to_owned(),
        payload_bytes: cfg.msg.bytes,
        rate: cfg.rate_label(),
        subs: cfg.subs,
        take: cfg.take.as_str().to_owned(),
        rmw: rmw.to_owned(),
        status: status.to_owned(),
        repeats: runs.len(),
        repeats_ok: ok,
        median: median_stats,
        p50_min_us: p50s.clone().reduce(f64::min),
        p50_max_us: p50s.reduce(f64::max),
        ratio_p50_vs_peer: None,
        ratio_cpu_vs_peer: None,
        ratio_vs_peer_copy: false,
        error: errors.join(" | "),
        per_repeat: stats,
        runs,
    }
}

/// Fill the ratio columns: each row against the peer's row of the same config.
pub fn fill_ratios(rows: &mut [Row]) {
    let peers: Vec<(String, RepeatStats)> = rows
        .iter()
        .filter(|r| r.rmw == PEER)
        .filter_map(|r| r.median.clone().map(|m| (r.config.clone(), m)))
        .collect();
    for r in rows.iter_mut() {
        if r.rmw == PEER {
            continue;
        }
        let Some(m) = &r.median else { continue };
        let same = peers.iter().find(|(c, _)| *c == r.config);
        // A loaned take the peer cannot do is compared with its copy take.
        let copy_key = r.config.replace("_loan", "_copy");
        let copy = (r.take == "loan")
            .then(|| peers.iter().find(|(c, _)| *c == copy_key))
            .flatten();
        if let Some((_, p)) = same.or(copy) {
            r.ratio_p50_vs_peer = Some(m.p50_us / p.p50_us);
            r.ratio_cpu_vs_peer = Some(m.cpu_per_msg_us / p.cpu_per_msg_us);
            r.ratio_vs_peer_copy = same.is_none();
        }
    }
}

pub fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        "-".into()
    } else if us < 1.0 {
        format!("{:.0}ns", us * 1000.0)
    } else if us < 10.0 {
        format!("{us:.1}us")
    } else if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn fmt_bytes(b: usize) -> String {
    let b = b as f64;
    if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} KB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

/// Core-level reference: one memcpy of the payload size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemcpyRow {
    pub payload_bytes: usize,
    pub p50_us: f64,
    pub gb_per_s: f64,
}

const HEADERS: [&str; 17] = [
    "config",
    "rmw",
    "status",
    "p50",
    "p90",
    "p99",
    "max",
    "p50 range",
    "msg/s",
    "MB/s",
    "lost",
    "CPU pub",
    "CPU sub",
    "rmw CPU/msg",
    "RSS pub",
    "RSS sub",
    "p50 vs peer",
];

pub fn table(rows: &[Row], mem: &[MemcpyRow]) -> String {
    let mut cells: Vec<Vec<String>> = vec![HEADERS.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        let mut c = vec![r.label.clone(), r.rmw.clone()];
        let status = if r.status == "partial" {
            format!("{}/{} ok", r.repeats_ok, r.repeats)
        } else {
            r.status.clone()
        };
        c.push(status);
        match &r.median {
            Some(m) => {
                c.extend([
                    fmt_us(m.p50_us),
                    fmt_us(m.p90_us),
                    fmt_us(m.p99_us),
                    fmt_us(m.max_us),
                    match (r.p50_min_us, r.p50_max_us) {
                        (Some(a), Some(b)) if r.repeats_ok > 1 => {
                            format!("{}-{}", fmt_us(a), fmt_us(b))
                        }
                        _ => "-".into(),
                    },
                    fmt_num(m.msgs_per_s),
                    fmt_num(m.mb_per_s),
                    m.lost.to_string(),
                    format!("{:.0}%", m.cpu_pub_pct),
                    format!("{:.0}%", m.cpu_sub_pct),
                    fmt_us(m.cpu_per_msg_us),
                    format!("{:.0}M", m.rss_pub_mb),
                    format!("{:.0}M", m.rss_sub_mb),
                    r.ratio_p50_vs_peer
                        .map(|x| {
                            let star = if r.ratio_vs_peer_copy { "*" } else { "" };
                            format!("{x:.2}x{star}")
                        })
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
            None => {
                let mut e = r.error.clone();
                if e.len() > 90 {
                    let mut cut = 90;
                    while !e.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    e.truncate(cut);
                    e.push_str("...");
                }
                c.push(e);
            }
        }
        cells.push(c);
    }
    let ncol = HEADERS.len();
    let mut width = vec![0usize; ncol];
    for row in &cells {
        if row.len() == ncol {
            for (i, c) in row.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
    }
    let mut s = String::new();
    for (k, row) in cells.iter().enumerate() {
        for (i, c) in row.iter().enumerate() {
            if row.len() == ncol {
                if i < 3 {
                    let _ = write!(s, "{c:<w$}  ", w = width[i]);
                } else {
                    let _ = write!(s, "{c:>w$}  ", w = width[i]);
                }
            } else if i < 3 {
                let _ = write!(s, "{c:<w$}  ", w = width[i]);
            } else {
                let _ = write!(s, "{c}");
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        if k == 0 {
            let total: usize = width.iter().sum::<usize>() + 2 * (ncol - 1);
            s.push_str(&"-".repeat(total));
            s.push('\n');
        }
    }
    for rmw in rows
        .iter()
        .filter(|r| r.ratio_p50_vs_peer.is_some())
        .map(|r| r.rmw.as_str())
        .fold(Vec::<&str>::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        })
    {
        let ratios: Vec<f64> = rows
            .iter()
            .filter(|r| r.rmw == rmw)
            .filter_map(|r| r.ratio_p50_vs_peer)
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        if let Some(g) = geomean(&ratios) {
            let _ = writeln!(
                s,
                "{rmw}: p50 vs {PEER}, geometric mean over {} configurations: {g:.2}x",
                ratios.len()
            );
        }
    }
    if rows.iter().any(|r| r.ratio_vs_peer_copy) {
        s.push_str("* the peer cannot loan: compared with its copy take of the same message\n");
    }
    if !mem.is_empty() {
        s.push_str("\nmemcpy (same run, one copy of the payload, the physical reference):\n");
        for m in mem {
            let _ = writeln!(
                s,
                "  {:>9}  {:>9}  {:>6.1} GB/s",
                fmt_bytes(m.payload_bytes),
                fmt_us(m.p50_us),
                m.gb_per_s
            );
        }
    }
    s
}

/// Config-key tail of the native publisher + loaned take series.
pub const NATIVE_LOAN: &str = "loan_native";
/// Config-key tail of the native publisher + copy take series.
pub const NATIVE_COPY: &str = "copy_native";

/// The series of the 30 Hz, 1-subscriber size sweep: (label, rmw, config-key
/// tail: the take, plus `_native` for the native publisher). Without
/// "native" the publisher is rcl_bench's rcl_publish.
pub const SERIES: [(&str, &str, &str); 5] = [
    ("rmw_renoir copy take", RENOIR, "copy"),
    ("rmw_renoir loaned take", RENOIR, "loan"),
    (
        "native zero-copy publish + rmw_renoir loaned take",
        RENOIR,
        NATIVE_LOAN,
    ),
    ("native publish + rmw_renoir copy take", RENOIR, NATIVE_COPY),
    ("rmw_fastrtps_cpp copy take", PEER, "copy"),
];

/// The sweep row of message `key` for one series, if it was in the plan
/// (`take` is a config-key tail of [`SERIES`]: "copy", "loan", "loan_native"...).
pub fn sweep_row<'a>(rows: &'a [Row], key: &str, rmw: &str, take: &str) -> Option<&'a Row> {
    let config = format!("{key}_30hz_1sub_{take}");
    rows.iter().find(|r| r.config == config && r.rmw == rmw)
}

/// A ratio with three decimals, more below 0.01 so it never reads 0.000x.
pub fn fmt_ratio(x: f64) -> String {
    if !x.is_finite() || x <= 0.0 {
        return "-".into();
    }
    let prec = (2 - x.log10().floor() as i64).max(3) as usize;
    format!("{x:.prec$}x")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The size sweep as a markdown table: one line per message and series.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| message | payload | rmw, take | p50 | p99 | max | publish call p50 | take call p50 | CPU/msg (pub+sub) | RSS pub / sub | p50 vs fastrtps copy |\n\
         | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for m in crate::config::SWEEP {
        let spec = crate::config::msg(m);
        for (label, rmw, take) in SERIES {
            let Some(r) = sweep_row(rows, m, rmw, take) else {
                continue;
            };
            let head = format!("| {} | {} | {label} |", spec.label, fmt_bytes(spec.bytes));
            match &r.median {
                Some(x) => {
                    let peer = sweep_row(rows, m, PEER, "copy").and_then(|p| p.median.as_ref());
                    let ratio = match peer {
                        Some(p) if rmw != PEER => fmt_ratio(x.p50_us / p.p50_us),
                        _ => "-".into(),
                    };
                    let partial = if r.status == "partial" {
                        format!(" ({}/{} repeats ok)", r.repeats_ok, r.repeats)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        s,
                        "{head} {}{partial} | {} | {} | {} | {} | {} | {:.0} / {:.0} MB | {ratio} |",
                        fmt_us(x.p50_us),
                        fmt_us(x.p99_us),
                        fmt_us(x.max_us),
                        fmt_us(x.publish_call_p50_us),
                        fmt_us(x.take_call_p50_us),
                        fmt_us(x.cpu_per_msg_us),
                        x.rss_pub_mb,
                        x.rss_sub_mb,
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "{head} {}: {} | | | | | | | |",
                        r.status,
                        md_cell(&r.error)
                    );
                }
            }
        }
    }
    s
}

/// One target the project reports against, evaluated on this run.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    /// None when the run lacks the rows to decide.
    pub met: Option<bool>,
    pub detail: String,
}

impl Target {
    pub fn line(&self) -> String {
        let verdict = match self.met {
            Some(true) => "MET",
            Some(false) => "NOT MET",
            None => "NOT MEASURED",
        };
        format!("{verdict}: {} ({})", self.name, self.detail)
    }
}

/// The sizes over which the loaned take must stay flat: 1 KB to 25 MB.
const FLAT_SIZES: &[&str] = &[
    "img1k", "scan1440", "img64k", "img1m", "pcl100k", "pcl1m", "img1080", "img4k",
];

pub fn targets(rows: &[Row]) -> Vec<Target> {
    let p50 = |key: &str, rmw: &str, take: &str| {
        sweep_row(rows, key, rmw, take)
            .and_then(|r| r.median.as_ref())
            .map(|m| m.p50_us)
    };
    let mut v = Vec::new();
    let name =
        "1080p p50: rmw_renoir copy take at least 20x lower than rmw_fastrtps_cpp".to_owned();
    v.push(
        match (p50("img1080", RENOIR, "copy"), p50("img1080", PEER, "copy")) {
            (Some(a), Some(b)) => Target {
                name,
                met: Some(b / a >= 20.0),
                detail: format!("{} against {}: {:.1}x lower", fmt_us(a), fmt_us(b), b / a),
            },
            _ => Target {
                name,
                met: None,
                detail: "a 1080p copy-take row is missing or failed".into(),
            },
        },
    );
    // The target is judged on the path it is about: a producer that writes
    // the frame in shared memory (native publisher) and an rcl loaned take.
    // The rcl publisher + loaned take is kept next to it: rcl_publish
    // serializes (copies) the message into shared memory, so it grows.
    v.push(flat_target(
        rows,
        NATIVE_LOAN,
        "loaned take p50 flat in payload size (max/min within 2x, 1 KB to 25 MB), \
         native zero-copy publish + rcl loaned take",
    ));
    let mut next = flat_target(
        rows,
        "loan",
        "(next to it, for comparison) the same with rcl_publish + rcl loaned take",
    );
    next.detail
        .push_str("; rcl_publish serializes the message into shared memory: one copy");
    v.push(next);
    // Not a target of its own: where the loaned take's latency goes. The
    // take call alone (rcl_take_loaned_message) against its 1 KB value, for
    // samples complete when announced (native publisher). After
    // rcl_publish, messages of 1 MiB or more are streamed (announced before
    // they are serialized), so that take call also waits for the last byte.
    let calls = |take: &str| -> Vec<f64> {
        FLAT_SIZES
            .iter()
            .filter_map(|k| sweep_row(rows, k, RENOIR, take))
            .filter_map(|r| r.median.as_ref())
            .map(|m| m.take_call_p50_us)
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect()
    };
    let call = calls(NATIVE_LOAN);
    if call.len() == FLAT_SIZES.len() {
        let lo = call.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = call.iter().copied().fold(0.0f64, f64::max);
        let mut detail = format!(
            "rcl_take_loaned_message p50 {} to {}, max/min {:.2}x (native publisher)",
            fmt_us(lo),
            fmt_us(hi),
            hi / lo
        );
        let after_rcl = calls("loan");
        if let Some(h) = after_rcl.iter().copied().reduce(f64::max) {
            detail.push_str(&format!(
                "; after rcl_publish up to {} (streamed samples: the call waits for the last byte)",
                fmt_us(h)
            ));
        }
        v.push(Target {
            name: "(for reference) the loaned take call alone flat within 2x, 1 KB to 25 MB".into(),
            met: Some(hi / lo <= 2.0),
            detail,
        });
    }
    v
}

/// "p50 flat within 2x over FLAT_SIZES" for one sweep series (config-key
/// tail `take` on rmw_renoir).
fn flat_target(rows: &[Row], take: &str, name: &str) -> Target {
    let p50 = |key: &str| {
        sweep_row(rows, key, RENOIR, take)
            .and_then(|r| r.median.as_ref())
            .map(|m| m.p50_us)
    };
    let name = name.to_owned();
    let vals: Vec<(&str, Option<f64>)> = FLAT_SIZES.iter().map(|k| (*k, p50(k))).collect();
    let missing: Vec<&str> = vals
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(k, _)| *k)
        .collect();
    if missing.is_empty() {
        let vals: Vec<f64> = vals.iter().filter_map(|(_, p)| *p).collect();
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(0.0f64, f64::max);
        let first = vals[0];
        let last = vals[vals.len() - 1];
        Target {
            name,
            met: Some(hi / lo <= 2.0),
            detail: format!(
                "p50 {} to {} over {} sizes, max/min {:.2}x; 1 KB {} -> 25 MB {} ({:.2}x)",
                fmt_us(lo),
                fmt_us(hi),
                vals.len(),
                hi / lo,
                fmt_us(first),
                fmt_us(last),
                last / first
            ),
        }
    } else {
        let why = FLAT_SIZES
            .iter()
            .find_map(|k| {
                sweep_row(rows, k, RENOIR, take)
                    .filter(|r| r.median.is_none())
                    .map(|r| format!("{}: {}", r.status, r.error))
            })
            .unwrap_or_else(|| "not in the plan".into());
        Target {
            name,
            met: None,
            detail: format!("no {take} p50 for {}; {why}", missing.join(", ")),
        }
    }
}

const CSV_HEADER: &str = "config,msg,payload_bytes,rate,subs,take,rmw,status,repeats_ok,repeats,\
p50_us,p90_us,p99_us,max_us,p50_min_us,p50_max_us,samples,msgs_per_s,mb_per_s,sent,lost,\
cpu_pub_pct,cpu_sub_pct,cpu_per_msg_us,rss_pub_mb,rss_sub_mb,publish_call_p50_us,\
take_call_p50_us,ratio_p50_vs_peer,ratio_cpu_vs_peer,ratio_vs_peer_copy,error";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn opt(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.3}"))
        .unwrap_or_default()
}

pub fn csv(rows: &[Row], mem: &[MemcpyRow]) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for r in rows {
        let m = r.median.as_ref();
        let f = |g: &dyn Fn(&RepeatStats) -> f64| opt(m.map(g));
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.config,
            csv_field(&r.msg),
            r.payload_bytes,
            r.rate,
            r.subs,
            r.take,
            r.rmw,
            r.status,
            r.repeats_ok,
            r.repeats,
            f(&|m| m.p50_us),
            f(&|m| m.p90_us),
            f(&|m| m.p99_us),
            f(&|m| m.max_us),
            opt(r.p50_min_us),
            opt(r.p50_max_us),
            m.map(|m| m.samples.to_string()).unwrap_or_default(),
            f(&|m| m.msgs_per_s),
            f(&|m| m.mb_per_s),
            m.map(|m| m.sent.to_string()).unwrap_or_default(),
            m.map(|m| m.lost.to_string()).unwrap_or_default(),
            f(&|m| m.cpu_pub_pct),
            f(&|m| m.cpu_sub_pct),
            f(&|m| m.cpu_per_msg_us),
            f(&|m| m.rss_pub_mb),
            f(&|m| m.rss_sub_mb),
            f(&|m| m.publish_call_p50_us),
            f(&|m| m.take_call_p50_us),
            opt(r.ratio_p50_vs_peer),
            opt(r.ratio_cpu_vs_peer),
            r.ratio_vs_peer_copy,
            csv_field(&r.error),
        );
    }
    for m in mem {
        let _ = writeln!(
            s,
            "memcpy_{b},memcpy,{b},max,1,copy,memcpy,ok,1,1,{p:.3},,,,,,,,{g:.3},,,,,,,,,,,,,",
            b = m.payload_bytes,
            p = m.p50_us,
            g = m.gb_per_s * 1000.0,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&v, 0.5), Some(51.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn median_even_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn geometric_mean() {
        assert!((geomean(&[0.1, 10.0]).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(geomean(&[]), None);
    }

    #[test]
    fn ratios_keep_three_significant_digits_when_small() {
        assert_eq!(fmt_ratio(0.1), "0.100x");
        assert_eq!(fmt_ratio(1.5), "1.500x");
        assert_eq!(fmt_ratio(0.0177), "0.0177x");
        assert_eq!(fmt_ratio(0.000314), "0.000314x");
        assert_eq!(fmt_ratio(f64::NAN), "-");
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("x\"y"), "\"x\"\"y\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    fn ok_run(p50_ns: u64, cpu_s: f64) -> RunOutcome {
        let publ = crate::runner::ProcResult {
            status: "ok".into(),
            sent: 100,
            cpu_s,
            ..Default::default()
        };
        RunOutcome {
            status: Status::Ok,
            reason: String::new(),
            domain_id: 1,
            wall_s: 1.0,
            publisher: Some(publ),
            subscribers: vec![],
            lat_ns: vec![p50_ns; 10],
            shm_left: 0,
            notes: vec![],
        }
    }

    #[test]
    fn ratios_against_the_peer_and_its_copy_take() {
        let plan = crate::config::plan(crate::config::Mode::Quick);
        let copy = plan
            .iter()
            .find(|c| c.key() == "img1080_30hz_1sub_copy")
            .unwrap();
        let loan = plan
            .iter()
            .find(|c| c.key() == "img1080_30hz_1sub_loan")
            .unwrap();
        let mut rows = vec![
            make_row(copy, RENOIR, vec![ok_run(1_000, 0.1)]),
            make_row(copy, PEER, vec![ok_run(10_000, 0.4)]),
            make_row(loan, RENOIR, vec![ok_run(500, 0.1)]),
        ];
        fill_ratios(&mut rows);
        assert!((rows[0].ratio_p50_vs_peer.unwrap() - 0.1).abs() < 1e-9);
        assert!((rows[0].ratio_cpu_vs_peer.unwrap() - 0.25).abs() < 1e-9);
        assert!(!rows[0].ratio_vs_peer_copy);
        assert_eq!(rows[1].ratio_p50_vs_peer, None);
        assert!((rows[2].ratio_p50_vs_peer.unwrap() - 0.05).abs() < 1e-9);
        assert!(rows[2].ratio_vs_peer_copy);
        let t = table(&rows, &[]);
        assert!(t.contains("0.05x*"), "{t}");
        assert!(t.contains("over 2 configurations"), "{t}");
        let mem = [MemcpyRow {
            payload_bytes: 64,
            p50_us: 0.01,
            gb_per_s: 6.4,
        }];
        let c = csv(&rows, &mem);
        let cols = CSV_HEADER.split(',').count();
        for line in c.lines() {
            assert_eq!(line.split(',').count(), cols, "{line}");
        }
    }

    #[test]
    fn failed_runs_make_a_fail_row() {
        let cfg = crate::config::plan(crate::config::Mode::Quick)[0].clone();
        let run = RunOutcome {
            status: Status::Failed,
            reason: "pub: discovery timeout".into(),
            domain_id: 1,
            wall_s: 1.0,
            publisher: None,
            subscribers: vec![],
            lat_ns: vec![],
            shm_left: 0,
            notes: vec![],
        };
        let row = make_row(&cfg, RENOIR, vec![run]);
        assert_eq!(row.status, "fail");
        assert!(row.median.is_none());
        let t = table(&[row], &[]);
        assert!(t.contains("discovery timeout"), "{t}");
    }

    fn sweep_cfg(key: &str, take: crate::config::Take) -> Config {
        Config {
            msg: *crate::config::msg(key),
            rate_hz: Some(30.0),
            subs: 1,
            take,
            count: 10,
            warmup: 1,
            duration_s: 1.0,
            publisher: crate::config::Pub::Rcl,
        }
    }

    #[test]
    fn targets_are_judged_from_the_sweep_rows() {
        use crate::config::Take;
        let mut rows = vec![
            make_row(
                &sweep_cfg("img1080", Take::Copy),
                RENOIR,
                vec![ok_run(1_000_000, 0.1)],
            ),
            make_row(
                &sweep_cfg("img1080", Take::Copy),
                PEER,
                vec![ok_run(25_000_000, 0.1)],
            ),
        ];
        // No loan rows yet: the flat targets cannot be decided.
        let t = targets(&rows);
        assert_eq!(t[0].met, Some(true), "{}", t[0].line());
        assert!(t[0].detail.contains("25.0x"), "{}", t[0].detail);
        assert_eq!(t[1].met, None);
        assert_eq!(t[2].met, None);
        // Loaned take 10 us everywhere but 25 us at 4K: 2.5x, not flat.
        for k in FLAT_SIZES {
            let p50 = if *k == "img4k" { 25_000 } else { 10_000 };
            rows.push(make_row(
                &sweep_cfg(k, Take::Loan),
                RENOIR,
                vec![ok_run(p50, 0.1)],
            ));
        }
        // The rcl-publish series is judged next to the target, not as it.
        let t = targets(&rows);
        assert_eq!(t[1].met, None, "{}", t[1].line());
        assert!(t[1].name.contains("native"), "{}", t[1].name);
        assert_eq!(t[2].met, Some(false), "{}", t[2].line());
        assert!(t[2].detail.contains("2.50x"), "{}", t[2].detail);
        // Native publisher + loaned take: 40 us, 70 us at 16 MB (1.75x): met.
        for k in FLAT_SIZES {
            let p50 = if *k == "pcl1m" { 70_000 } else { 40_000 };
            let mut c = sweep_cfg(k, Take::Loan);
            c.publisher = crate::config::Pub::Native;
            rows.push(make_row(&c, RENOIR, vec![ok_run(p50, 0.1)]));
        }
        let t = targets(&rows);
        assert_eq!(t[1].met, Some(true), "{}", t[1].line());
        assert!(t[1].detail.contains("1.75x"), "{}", t[1].detail);
        assert_eq!(t[2].met, Some(false), "{}", t[2].line());
        // Peer only 10x slower at 1080p: not met.
        rows[1] = make_row(
            &sweep_cfg("img1080", Take::Copy),
            PEER,
            vec![ok_run(10_000_000, 0.1)],
        );
        assert_eq!(targets(&rows)[0].met, Some(false));
        let md = markdown(&rows);
        assert!(
            md.contains("| Image 1080p rgb8 | 6.2 MB | rmw_renoir copy take | 1.00ms |"),
            "{md}"
        );
        assert!(md.contains("| 0.100x |"), "{md}");
        for l in md.lines() {
            assert_eq!(l.matches('|').count(), 12, "{l}");
        }
        // --replot reads the rows back from results.json: same table, same verdicts.
        let back: Vec<Row> = serde_json::from_value(serde_json::to_value(&rows).unwrap()).unwrap();
        assert_eq!(markdown(&back), md);
        let verdicts = |r: &[Row]| targets(r).iter().map(Target::line).collect::<Vec<_>>();
        assert_eq!(verdicts(&back), verdicts(&rows));
        assert!(md.contains("rmw_renoir loaned take | 25us"), "{md}");
        // The native row sits next to the rcl loaned take of its message.
        let lines: Vec<&str> = md.lines().collect();
        let rcl = lines
            .iter()
            .position(|l| {
                l.starts_with("| PointCloud2 1M |") && l.contains("| rmw_renoir loaned take |")
            })
            .expect("rcl loan row");
        assert!(
            lines[rcl + 1].contains("| native zero-copy publish + rmw_renoir loaned take | 70us |"),
            "{md}"
        );
    }

    #[test]
    fn a_loan_the_rmw_refuses_is_na_in_the_markdown_and_undecided_target() {
        let cfg = sweep_cfg("img1k", crate::config::Take::Loan);
        let run = RunOutcome {
            status: Status::NotApplicable,
            reason: "rcl_subscription_can_loan_messages is false".into(),
            domain_id: 1,
            wall_s: 1.0,
            publisher: None,
            subscribers: vec![],
            lat_ns: vec![],
            shm_left: 0,
            notes: vec![],
        };
        let rows = vec![make_row(&cfg, RENOIR, vec![run])];
        assert_eq!(rows[0].status, "n/a");
        assert!(markdown(&rows).contains("| n/a: rcl_subscription_can_loan_messages is false |"));
        let t = targets(&rows);
        assert_eq!(t[2].met, None);
        assert!(t[2].detail.contains("n/a"), "{}", t[2].detail);
    }
}
