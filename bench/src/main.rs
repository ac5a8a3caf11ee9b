//! `renoir-bench`: rcl-level benchmark of rmw_renoir against
//! rmw_fastrtps_cpp (and memcpy as the physical reference), in one run.
//!
//! Each configuration (message type and size, rate, 1 or 4 subscribers, copy
//! or loaned take) runs as separate processes of the C program `rcl_bench`
//! (built by build.rs against the ROS 2 rcl): one publisher, N subscribers,
//! a fresh ROS_DOMAIN_ID per run. See docs/benchmarks.md.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use renoir_bench::config::{self, Config, Mode};
use renoir_bench::report::{self, MemcpyRow, Row, PEER, RENOIR};
use renoir_bench::runner::{self, Env, Rmw, RunOutcome, Status};
use renoir_bench::{machine, plot, RCL_EXE, ROS_LIBS, ROS_PREFIX};

#[derive(Parser, Debug)]
#[command(
    name = "renoir-bench",
    about = "rcl-level publish->take benchmark: rmw_renoir vs rmw_fastrtps_cpp (+ memcpy)",
    after_help = "Results go to bench/results/<UTC time>/ (table.txt, results.csv, results.json, \
                  *.png, raw/). Keep other heavy jobs off the machine while it runs."
)]
struct Cli {
    /// Short plan: 30 Hz sweep of every size, a few flat-out sizes, fan-out
    /// and loaned take (the default; under 5 minutes on 2 cores).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Every size x {30 Hz, max} x {1, 4} subscribers x {copy, loan}.
    #[arg(long)]
    full: bool,
    /// Repeats per configuration and rmw (default: 2 quick, 3 full).
    #[arg(long)]
    repeats: Option<usize>,
    /// Only these rmw implementations (rmw_renoir, rmw_fastrtps_cpp).
    #[arg(long = "rmw")]
    rmws: Vec<String>,
    /// Only configurations whose key contains one of these (e.g. img1080, max, loan).
    #[arg(long)]
    only: Vec<String>,
    /// librmw_renoir.so to preload (default: $RENOIR_RMW_LIB, then
    /// $CARGO_TARGET_DIR/release/, then target/release/ of the workspace).
    #[arg(long)]
    renoir_lib: Option<PathBuf>,
    /// Output folder (default: bench/results).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the PNG plots.
    #[arg(long)]
    no_plot: bool,
    /// Extra environment for every benchmark process, KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = parse_kv)]
    extra_env: Vec<(String, String)>,
    /// Keep idle CPUs awake with SCHED_IDLE spinners while measuring (the
    /// unprivileged equivalent of `idle=poll`; see bench/src/awake.rs and
    /// docs/benchmarks.md). Applies to every rmw of the run alike.
    #[arg(long)]
    keep_cpus_awake: bool,
    /// Print the plan and exit.
    #[arg(long)]
    list: bool,
    /// Redo table.md, the targets and the plots of an earlier run from its
    /// results.json (nothing is measured).
    #[arg(long, value_name = "RESULTS_DIR")]
    replot: Option<PathBuf>,
    /// Give up on an rmw after this many consecutive failed runs (its
    /// remaining runs become failure rows without running).
    #[arg(long, default_value_t = 3)]
    max_consecutive_failures: usize,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

fn find_renoir(cli: &Cli) -> Option<PathBuf> {
    if let Some(p) = &cli.renoir_lib {
        return Some(p.clone());
    }
    if let Some(p) = std::env::var_os("RENOIR_RMW_LIB") {
        return Some(PathBuf::from(p));
    }
    let mut candidates = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("release/librmw_renoir.so"));
    }
    candidates.push(workspace_root().join("target/release/librmw_renoir.so"));
    candidates.into_iter().find(|p| p.is_file())
}

/// The native publisher: built by cargo next to this driver.
fn native_pub_exe() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let p = me.with_file_name("native_pub");
    p.is_file().then_some(p)
}

fn rmws(cli: &Cli) -> Vec<Rmw> {
    let mut v = Vec::new();
    let want = |n: &str| cli.rmws.is_empty() || cli.rmws.iter().any(|r| r == n);
    if want(RENOIR) {
        match find_renoir(cli) {
            Some(p) if p.is_file() => v.push(Rmw {
                name: RENOIR.into(),
                preload: Some(p.canonicalize().unwrap_or(p)),
            }),
            Some(p) => eprintln!("renoir-bench: {} does not exist; skipping rmw_renoir", p.display()),
            None => eprintln!(
                "renoir-bench: no librmw_renoir.so (build it with `cargo build --release -p rmw_renoir` \
                 or set RENOIR_RMW_LIB); measuring without rmw_renoir"
            ),
        }
    }
    if want(PEER) {
        v.push(Rmw {
            name: PEER.into(),
            preload: None,
        });
    }
    v
}

/// The workspace's commit, with "+dirty" when the work tree has changes.
fn git_describe() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(h) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!("{h}{}", if dirty { "+dirty" } else { "" })
        }
        None => "unknown".into(),
    }
}

/// UTC time as 20261123T184500Z, without a date library.
fn utc_stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil from days (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    mode: Mode,
    started_utc: String,
    wall_s: f64,
    machine: &'a machine::Machine,
    ros_prefix: &'static str,
    git: String,
    extra_env: &'a [(String, String)],
    rmws: &'a [Rmw],
    repeats: usize,
    note: &'static str,
    targets: &'a [report::Target],
    rows: &'a [Row],
    memcpy: &'a [MemcpyRow],
}

/// A line above the progress bar (or on stderr when the bar is hidden).
fn note(pb: &ProgressBar, line: String) {
    if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}

/// The markdown summary (size sweep table and targets) and the targets.
fn summary(title: &str, machine_line: &str, rows: &[Row]) -> (Vec<report::Target>, String) {
    let targets = report::targets(rows);
    let target_text: String = targets
        .iter()
        .map(|t| format!("- {}\n", t.line()))
        .collect();
    let md = format!(
        "{title}\n\nmachine: {machine_line}\n\n{}\nTargets:\n\n{target_text}",
        report::markdown(rows)
    );
    (targets, md)
}

fn replot(dir: &Path, no_plot: bool) -> Result<(), String> {
    let path = dir.join("results.json");
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |e: serde_json::Error| format!("{}: {e}", path.display());
    let rows: Vec<Row> = serde_json::from_value(v["rows"].clone()).map_err(bad)?;
    let mem: Vec<MemcpyRow> = serde_json::from_value(v["memcpy"].clone()).map_err(bad)?;
    let machine: machine::Machine = serde_json::from_value(v["machine"].clone()).map_err(bad)?;
    let title = format!(
        "renoir-bench {}, {}, {} repeats; 30 Hz, 1 subscriber; latency publish -> take",
        v["mode"].as_str().unwrap_or("?"),
        v["started_utc"].as_str().unwrap_or("?"),
        v["repeats"]
    );
    let (targets, md) = summary(&title, &machine.line(), &rows);
    println!("{md}");
    fs::write(dir.join("table.md"), &md).map_err(|e| e.to_string())?;
    v["targets"] = serde_json::to_value(&targets).map_err(bad)?;
    let json = serde_json::to_string_pretty(&v).map_err(bad)?;
    fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    if !no_plot {
        for f in plot::plots(&rows, &mem, dir, &machine.line())? {
            println!("plot: {}", f.display());
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Some(dir) = &cli.replot {
        if let Err(e) = replot(dir, cli.no_plot) {
            eprintln!("renoir-bench: --replot: {e}");
            std::process::exit(2);
        }
        return;
    }
    let mode = if cli.full { Mode::Full } else { Mode::Quick };
    let repeats = cli
        .repeats
        .unwrap_or(if mode == Mode::Full { 3 } else { 2 })
        .max(1);
    let mut plan: Vec<Config> = config::plan(mode);
    if !cli.only.is_empty() {
        plan.retain(|c| cli.only.iter().any(|o| c.key().contains(o.as_str())));
    }
    if cli.list {
        for c in &plan {
            println!(
                "{:28} {:36} timeout {:>4.0} s",
                c.key(),
                c.label(),
                c.timeout_s()
            );
        }
        return;
    }
    let rmws = rmws(&cli);
    if rmws.is_empty() || plan.is_empty() {
        eprintln!("renoir-bench: nothing to run (no rmw or no configuration selected)");
        std::process::exit(2);
    }

    let started = utc_stamp();
    let out_root = cli
        .out
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("results"));
    let out_dir = out_root.join(&started);
    let raw = out_dir.join("raw");
    fs::create_dir_all(&raw).unwrap_or_else(|e| {
        eprintln!("renoir-bench: cannot create {}: {e}", raw.display());
        std::process::exit(2);
    });
    let log_dir = out_dir.join("ros-logs");
    let _ = fs::create_dir_all(&log_dir);
    let mut machine = machine::machine();
    let _awake = if cli.keep_cpus_awake {
        let k = renoir_bench::awake::KeepAwake::start();
        if k.is_none() {
            eprintln!("renoir-bench: cannot start SCHED_IDLE spinners; CPUs not kept awake");
        }
        k
    } else {
        None
    };
    machine.cpus_kept_awake = if _awake.is_some() { "yes" } else { "no" }.into();
    println!("machine: {}", machine.line());
    for r in &rmws {
        match &r.preload {
            Some(p) => println!("rmw: {} (LD_PRELOAD={})", r.name, p.display()),
            None => println!("rmw: {}", r.name),
        }
    }
    println!(
        "plan: {} configurations ({} rmw, native publisher on rmw_renoir only) x {} repeats \
         = {} runs; results in {}",
        plan.len(),
        rmws.len(),
        repeats,
        plan.iter()
            .map(|c| rmws.iter().filter(|r| c.runs_on(&r.name)).count())
            .sum::<usize>()
            * repeats,
        out_dir.display()
    );

    // Under the caller's RENOIR_SHM_PREFIX when set (parallel users of one
    // machine keep apart), made unique per driver run by the pid.
    let shm_base = std::env::var("RENOIR_SHM_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "renoirbench".into());
    let shm_prefix = format!("{shm_base}{}", std::process::id());
    let native_exe = native_pub_exe();
    if native_exe.is_none() && plan.iter().any(|c| c.publisher == config::Pub::Native) {
        eprintln!(
            "renoir-bench: no native_pub next to {} (cargo build --release -p renoir_bench \
             builds it); the native series will fail",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    let env = Env {
        exe: Path::new(RCL_EXE),
        native_exe: native_exe.as_deref(),
        ros_libs: ROS_LIBS,
        shm_prefix: &shm_prefix,
        log_dir: &log_dir,
        extra_env: &cli.extra_env,
    };
    let t_all = Instant::now();
    let runs_of = |c: &Config| rmws.iter().filter(|r| c.runs_on(&r.name)).count();
    let total = (plan.iter().map(runs_of).sum::<usize>() * repeats) as u64;
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} eta {eta} {msg}")
            .expect("progress template")
            .progress_chars("=> "),
    );

    // results[config][rmw] = runs; rmws interleaved within each repeat so a
    // burst of noise from other jobs hits both alike.
    let mut results: Vec<Vec<Vec<RunOutcome>>> = vec![vec![Vec::new(); rmws.len()]; plan.len()];
    let mut consecutive_fail = vec![0usize; rmws.len()];
    let mut domain = 1 + std::process::id() % 100;
    for (ci, cfg) in plan.iter().enumerate() {
        for rep in 0..repeats {
            for (ri, rmw) in rmws.iter().enumerate() {
                if !cfg.runs_on(&rmw.name) {
                    continue;
                }
                pb.set_message(format!("{} {} #{}", cfg.key(), rmw.name, rep + 1));
                let outcome = if consecutive_fail[ri] >= cli.max_consecutive_failures {
                    RunOutcome {
                        status: Status::Failed,
                        reason: format!(
                            "not run: {} consecutive failures of {} before",
                            consecutive_fail[ri], rmw.name
                        ),
                        domain_id: 0,
                        wall_s: 0.0,
                        publisher: None,
                        subscribers: vec![],
                        lat_ns: vec![],
                        shm_left: 0,
                        notes: vec![],
                    }
                } else {
                    domain = domain % 200 + 1;
                    let dir = raw.join(format!("{}__{}__{}", cfg.key(), rmw.name, rep + 1));
                    let o = runner::run(cfg, rmw, domain, &dir, &env);
                    match o.status {
                        Status::Failed => {
                            consecutive_fail[ri] += 1;
                            note(
                                &pb,
                                format!(
                                    "FAIL {} {} #{}: {}",
                                    cfg.key(),
                                    rmw.name,
                                    rep + 1,
                                    o.reason
                                ),
                            );
                        }
                        _ => consecutive_fail[ri] = 0,
                    }
                    for n in &o.notes {
                        note(
                            &pb,
                            format!("note: {} {} #{}: {n}", cfg.key(), rmw.name, rep + 1),
                        );
                    }
                    if o.shm_left > 0 {
                        note(
                            &pb,
                            format!(
                                "note: {} {} left {} shared-memory segments (removed)",
                                cfg.key(),
                                rmw.name,
                                o.shm_left
                            ),
                        );
                    }
                    o
                };
                results[ci][ri].push(outcome);
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();

    // memcpy reference for every payload size in the plan.
    let mut sizes: Vec<usize> = plan.iter().map(|c| c.msg.bytes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mem: Vec<MemcpyRow> = sizes.iter().map(|&b| machine::memcpy_ref(b, 0.3)).collect();

    let mut rows: Vec<Row> = Vec::new();
    for (ci, cfg) in plan.iter().enumerate() {
        for (ri, rmw) in rmws.iter().enumerate() {
            if !cfg.runs_on(&rmw.name) {
                continue;
            }
            let runs = std::mem::take(&mut results[ci][ri]);
            rows.push(report::make_row(cfg, &rmw.name, runs));
        }
    }
    report::fill_ratios(&mut rows);

    let wall = t_all.elapsed().as_secs_f64();
    let table = report::table(&rows, &mem);
    let header = format!(
        "renoir-bench {mode:?}, {started}, {repeats} repeats, {wall:.0} s\nmachine: {}\n\
         latency = publish -> take (CLOCK_MONOTONIC, same host), medians over repeats; \
         CPU % of one core; 'p50 vs peer' = p50 / {PEER} p50 (< 1 is faster)\n",
        machine.line()
    );
    let (targets, md) = summary(
        &format!(
            "renoir-bench {}, {started}, {repeats} repeats; 30 Hz, 1 subscriber; \
             latency publish -> take",
            if mode == Mode::Full { "full" } else { "quick" }
        ),
        &machine.line(),
        &rows,
    );
    println!("\n{header}\n{table}\n{md}");
    let report = Report {
        tool: "renoir-bench",
        mode,
        started_utc: started.clone(),
        wall_s: wall,
        machine: &machine,
        ros_prefix: ROS_PREFIX,
        git: git_describe(),
        extra_env: &cli.extra_env,
        rmws: &rmws,
        repeats,
        note: "latency publish->take in microseconds; rates per subscriber; CPU % of one core",
        targets: &targets,
        rows: &rows,
        memcpy: &mem,
    };
    let write = |name: &str, data: &[u8]| {
        let p = out_dir.join(name);
        if let Err(e) = fs::write(&p, data) {
            eprintln!("renoir-bench: cannot write {}: {e}", p.display());
        }
    };
    write("table.txt", format!("{header}\n{table}").as_bytes());
    write("results.csv", report::csv(&rows, &mem).as_bytes());
    write("table.md", md.as_bytes());
    write(
        "results.json",
        serde_json::to_string_pretty(&report)
            .expect("serializable report")
            .as_bytes(),
    );
    if !cli.no_plot {
        match plot::plots(&rows, &mem, &out_dir, &machine.line()) {
            Ok(files) => {
                for f in files {
                    println!("plot: {}", f.display());
                }
            }
            Err(e) => eprintln!("renoir-bench: no plots: {e}"),
        }
    }
    let latest = out_root.join("latest");
    let _ = fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(&started, &latest);
    println!("results: {}", out_dir.display());
    let failed = rows.iter().filter(|r| r.status == "fail").count();
    if failed > 0 {
        println!("{failed} configuration(s) failed (see the error column and raw/*/ *.stderr)");
    }
}
