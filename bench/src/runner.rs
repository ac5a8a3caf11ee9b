//! Runs one configuration once: spawns the subscriber processes (`rcl_bench`)
//! and the publisher (`rcl_bench`, or `native_pub` for the native series),
//! enforces every timeout, and collects what they
//! wrote. A run that times out, crashes or receives nothing comes back as a
//! failure with its reason; nothing here waits without a bound.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Pub};

/// An rmw implementation to measure, and how to switch to it.
#[derive(Debug, Clone, Serialize)]
pub struct Rmw {
    pub name: String,
    /// Preloaded over the rmw that the PyPI librcl is linked to.
    pub preload: Option<PathBuf>,
}

/// Lat/size summary one process wrote (one JSON line).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LatUs {
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ProcResult {
    pub role: String,
    pub id: i64,
    pub status: String,
    pub error: String,
    pub rmw: String,
    pub take: String,
    pub sent: u64,
    pub received: u64,
    pub expected: u64,
    pub lost: u64,
    pub bad: u64,
    pub dup: u64,
    pub end_seen: bool,
    pub window_s: f64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    pub cpu_s: f64,
    /// Part of cpu_s spent by the harness itself (pattern fill, payload check).
    #[serde(default)]
    pub harness_s: f64,
    pub cpu_pct: f64,
    pub rss_kb: i64,
    pub lat_n: u64,
    pub lat_us: LatUs,
    /// Subscriber: how long the take call itself took (rcl_take or
    /// rcl_take_loaned_message), per measured message.
    #[serde(default)]
    pub take_call_us: TakeCallUs,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct TakeCallUs {
    pub n: u64,
    pub p50: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Loaned take requested but the rmw cannot loan.
    NotApplicable,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOutcome {
    pub status: Status,
    pub reason: String,
    pub domain_id: u32,
    pub wall_s: f64,
    pub publisher: Option<ProcResult>,
    pub subscribers: Vec<ProcResult>,
    /// Measured latencies of all subscribers, nanoseconds (not serialized).
    #[serde(skip, default)]
    pub lat_ns: Vec<u64>,
    pub shm_left: usize,
    /// Oddities that did not spoil the numbers (e.g. a process that wrote
    /// its result and then hung in the middleware's shutdown).
    pub notes: Vec<String>,
}

pub struct Env<'a> {
    pub exe: &'a Path,
    /// The `native_pub` program (built with the driver), for `Pub::Native`.
    pub native_exe: Option<&'a Path>,
    pub ros_libs: &'a str,
    pub shm_prefix: &'a str,
    pub log_dir: &'a Path,
    /// Extra KEY=VALUE variables for every process (e.g. rmw tuning).
    pub extra_env: &'a [(String, String)],
}

struct Proc {
    name: String,
    child: Child,
    out: PathBuf,
    lat: Option<PathBuf>,
    exit: Option<ExitStatus>,
    term_sent: Option<Instant>,
    killed: bool,
}

impl Proc {
    fn poll(&mut self) {
        if self.exit.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exit = Some(st);
            }
        }
    }

    fn signal(&mut self, sig: libc::c_int) {
        if self.exit.is_none() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not
            // reaped yet (exit is None), so the pid cannot have been recycled.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, sig);
            }
        }
    }

    /// SIGTERM now, SIGKILL if still alive 2 s later.
    fn stop(&mut self) {
        self.poll();
        if self.exit.is_some() {
            return;
        }
        match self.term_sent {
            None => {
                self.signal(libc::SIGTERM);
                self.term_sent = Some(Instant::now());
            }
            Some(t) if t.elapsed() > Duration::from_secs(2) && !self.killed => {
                self.signal(libc::SIGKILL);
                self.killed = true;
            }
            _ => {}
        }
    }

    fn result(&self) -> Option<ProcResult> {
        let text = fs::read_to_string(&self.out).ok()?;
        let line = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))?;
        serde_json::from_str(line).ok()
    }

    fn describe_exit(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self.exit {
            None => format!("{} did not exit", self.name),
            Some(st) => match (st.code(), st.signal()) {
                (_, Some(sig)) if self.killed || self.term_sent.is_some() => {
                    format!("{} timed out (stopped with signal {sig})", self.name)
                }
                (_, Some(sig)) => format!("{} crashed (signal {sig})", self.name),
                (Some(c), _) => format!("{} exited with {c}", self.name),
                _ => format!("{} ended oddly", self.name),
            },
        }
    }
}

/// What to start: the program and, for rcl programs, the rmw to preload.
#[derive(Clone, Copy)]
struct Exe<'a> {
    path: &'a Path,
    preload: Option<&'a Path>,
}

fn spawn(
    name: &str,
    env: &Env,
    exe: &Exe,
    rmw: &Rmw,
    domain: u32,
    args: &[String],
    dir: &Path,
) -> std::io::Result<Proc> {
    let out = dir.join(format!("{name}.json"));
    let lat = args
        .iter()
        .position(|a| a == "--lat-out")
        .map(|i| PathBuf::from(&args[i + 1]));
    let stderr = fs::File::create(dir.join(format!("{name}.stderr")))?;
    let stdout = fs::File::create(dir.join(format!("{name}.stdout")))?;
    let mut ld = env.ros_libs.to_owned();
    if let Ok(old) = std::env::var("LD_LIBRARY_PATH") {
        if !old.is_empty() {
            ld = format!("{ld}:{old}");
        }
    }
    let mut cmd = Command::new(exe.path);
    cmd.args(args)
        .arg("--out")
        .arg(&out)
        .env("LD_LIBRARY_PATH", ld)
        .env("RMW_IMPLEMENTATION", &rmw.name)
        .env("ROS_DOMAIN_ID", domain.to_string())
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env("ROS_LOG_DIR", env.log_dir)
        .env("RCUTILS_LOGGING_USE_STDOUT", "0")
        .env("RENOIR_SHM_PREFIX", env.shm_prefix)
        // Jazzy's rcl refuses loaned takes (rcl_subscription_can_loan_messages
        // false) unless this is 0, whatever the rmw offers; it changes nothing
        // for copy takes. --env can override it.
        .env("ROS_DISABLE_LOANED_MESSAGES", "0")
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    if let Some(p) = exe.preload {
        cmd.env("LD_PRELOAD", p);
    }
    for (k, v) in env.extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn()?;
    Ok(Proc {
        name: name.to_owned(),
        child,
        out,
        lat,
        exit: None,
        term_sent: None,
        killed: false,
    })
}

fn common_args(cfg: &Config, topic: &str) -> Vec<String> {
    let mut a: Vec<String> = cfg.msg.args.iter().map(|s| s.to_string()).collect();
    let rate = cfg.rate_hz.unwrap_or(0.0);
    a.extend([
        "--rate".into(),
        rate.to_string(),
        "--count".into(),
        cfg.count.to_string(),
        "--warmup".into(),
        cfg.warmup.to_string(),
        "--duration".into(),
        cfg.duration_s.to_string(),
        "--topic".into(),
        topic.into(),
        "--timeout".into(),
        cfg.timeout_s().to_string(),
    ]);
    a
}

/// The last non-empty line a process wrote to stderr, as ": <line>".
fn stderr_tail(dir: &Path, name: &str) -> String {
    let text = fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap_or_default();
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => {
            // rcutils log lines: "[ERROR] [time] [logger]: message"
            let l = l.rsplit_once("]: ").map_or(l, |(_, m)| m);
            let l: String = l.trim().chars().take(160).collect();
            format!(": {l}")
        }
        None => String::new(),
    }
}

fn read_lat(path: &Path) -> Vec<u64> {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Segments under /dev/shm whose names start with `prefix`; removed after
/// being counted, so a leaking run cannot fill /dev/shm for the next one.
pub fn sweep_shm(prefix: &str) -> usize {
    let Ok(rd) = fs::read_dir("/dev/shm") else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            n += 1;
            let _ = fs::remove_file(e.path());
        }
    }
    n
}

/// Run `cfg` once on `rmw` in ROS domain `domain`; raw files go to `dir`.
pub fn run(cfg: &Config, rmw: &Rmw, domain: u32, dir: &Path, env: &Env) -> RunOutcome {
    let t0 = Instant::now();
    let mut out = RunOutcome {
        status: Status::Failed,
        reason: String::new(),
        domain_id: domain,
        wall_s: 0.0,
        publisher: None,
        subscribers: Vec::new(),
        lat_ns: Vec::new(),
        shm_left: 0,
        notes: Vec::new(),
    };
    if let Err(e) = fs::create_dir_all(dir) {
        out.reason = format!("cannot create {}: {e}", dir.display());
        return out;
    }
    let topic = format!("renoir_bench_{}", cfg.msg.key);
    let base = common_args(cfg, &topic);
    let timeout = Duration::from_secs_f64(cfg.timeout_s());
    let hard = timeout + Duration::from_secs(5);

    let rcl = Exe {
        path: env.exe,
        preload: rmw.preload.as_deref(),
    };
    // The native publisher links no rcl and no rmw: nothing to preload.
    let pub_exe = match (cfg.publisher, env.native_exe) {
        (Pub::Rcl, _) => Some(rcl),
        (Pub::Native, Some(p)) => Some(Exe {
            path: p,
            preload: None,
        }),
        (Pub::Native, None) => None,
    };

    let mut procs: Vec<Proc> = Vec::new();
    let mut spawn_err = match pub_exe {
        None => Some("no native_pub program (build renoir_bench's binaries)".to_owned()),
        Some(_) if !cfg.runs_on(&rmw.name) => Some(format!(
            "the native publisher cannot publish to {}",
            rmw.name
        )),
        Some(_) => None,
    };
    let pub_exe = pub_exe.unwrap_or(rcl);
    for i in 0..cfg.subs {
        if spawn_err.is_some() {
            break;
        }
        let mut a = base.clone();
        a.extend([
            "--role".into(),
            "sub".into(),
            "--id".into(),
            i.to_string(),
            "--take".into(),
            cfg.take.as_str().into(),
            "--lat-out".into(),
            dir.join(format!("sub{i}.lat")).display().to_string(),
        ]);
        match spawn(&format!("sub{i}"), env, &rcl, rmw, domain, &a, dir) {
            Ok(p) => procs.push(p),
            Err(e) => {
                spawn_err = Some(format!("spawn sub{i}: {e}"));
                break;
            }
        }
    }
    if spawn_err.is_none() {
        let mut a = base.clone();
        a.extend([
            "--role".into(),
            "pub".into(),
            "--subs".into(),
            cfg.subs.to_string(),
        ]);
        match spawn("pub", env, &pub_exe, rmw, domain, &a, dir) {
            Ok(p) => procs.push(p),
            Err(e) => spawn_err = Some(format!("spawn pub: {e}")),
        }
    }

    // Supervise: everyone exits by itself normally. When the publisher is
    // gone the subscribers get a grace period (their idle timeout), when the
    // subscribers are gone the publisher gets one (its linger); past the hard
    // deadline everything is stopped.
    let nsub = cfg.subs.min(procs.len());
    let mut pub_gone_at: Option<Instant> = None;
    let mut subs_gone_at: Option<Instant> = None;
    let mut hard_hit = false;
    let mut subs_na = false;
    loop {
        for p in procs.iter_mut() {
            p.poll();
        }
        if procs.iter().all(|p| p.exit.is_some()) {
            break;
        }
        let now = Instant::now();
        let pub_done = procs.len() == nsub || procs[nsub].exit.is_some();
        let subs_done = procs[..nsub].iter().all(|p| p.exit.is_some());
        if pub_done && pub_gone_at.is_none() {
            pub_gone_at = Some(now);
        }
        if subs_done && subs_gone_at.is_none() {
            subs_gone_at = Some(now);
            // Every subscriber said "cannot loan": nobody will take, stop now.
            subs_na = nsub > 0
                && procs[..nsub]
                    .iter()
                    .all(|p| p.result().is_some_and(|r| r.status == "n/a"));
        }
        let sub_grace = pub_gone_at.is_some_and(|t| t.elapsed() > Duration::from_secs(6));
        let pub_grace =
            subs_na || subs_gone_at.is_some_and(|t| t.elapsed() > Duration::from_secs(8));
        if t0.elapsed() > hard {
            hard_hit = true;
        }
        for (i, p) in procs.iter_mut().enumerate() {
            let is_pub = i >= nsub;
            if hard_hit || (is_pub && pub_grace) || (!is_pub && sub_grace) {
                p.stop();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    out.wall_s = t0.elapsed().as_secs_f64();
    out.shm_left = sweep_shm(env.shm_prefix);

    // Collect.
    let mut reasons: Vec<String> = Vec::new();
    if let Some(e) = spawn_err {
        reasons.push(e);
    }
    let mut na = false;
    for (i, p) in procs.iter().enumerate() {
        let is_pub = i >= nsub;
        let res = p.result();
        let clean = p.exit.is_some_and(|s| s.success());
        match &res {
            None => reasons.push(format!(
                "{}: no result ({}){}",
                p.name,
                p.describe_exit(),
                stderr_tail(dir, &p.name)
            )),
            Some(r) => {
                // The native publisher reports "renoir_core::wire".
                let native_pub = is_pub && cfg.publisher == Pub::Native;
                if r.rmw != rmw.name && r.rmw != "?" && !native_pub {
                    reasons.push(format!("{} ran on {} not {}", p.name, r.rmw, rmw.name));
                }
                match r.status.as_str() {
                    "ok" if clean => {}
                    // Complete result, then stuck or died in teardown: the
                    // numbers stand, the oddity is recorded.
                    "ok" => out
                        .notes
                        .push(format!("{} after writing its result", p.describe_exit())),
                    "n/a" => na = true,
                    _ => reasons.push(format!("{}: {}", p.name, r.error)),
                }
                if !is_pub && r.bad > 0 {
                    reasons.push(format!("{}: {} corrupt messages", p.name, r.bad));
                }
            }
        }
        if !is_pub {
            if let Some(r) = res {
                out.subscribers.push(r);
            }
            if let Some(l) = &p.lat {
                out.lat_ns.extend(read_lat(l));
            }
        } else {
            out.publisher = res;
        }
    }
    if hard_hit && reasons.is_empty() && !out.notes.is_empty() {
        out.notes
            .push(format!("hard timeout after {:.0} s", hard.as_secs_f64()));
    } else if hard_hit {
        reasons.insert(0, format!("hard timeout after {:.0} s", hard.as_secs_f64()));
    }
    if na && out.subscribers.iter().all(|s| s.status == "n/a") {
        // The publisher was stopped for lack of a taker: expected, not a failure.
        out.status = Status::NotApplicable;
        out.reason = out
            .subscribers
            .iter()
            .map(|s| s.error.as_str())
            .find(|e| !e.is_empty())
            .unwrap_or("rcl_subscription_can_loan_messages is false")
            .to_owned();
    } else if reasons.is_empty() && !out.lat_ns.is_empty() {
        out.status = Status::Ok;
    } else {
        if reasons.is_empty() {
            reasons.push("no latency samples".into());
        }
        out.reason = reasons.join("; ");
    }
    out
}
