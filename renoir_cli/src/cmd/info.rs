//! `renoir info`: what this host offers shared memory: OS/arch, page size,
//! the shm directory's size and free space, and the limits that bite
//! (locked memory, open files).

use super::{human_bytes, CmdResult};
use renoir_core::platform::{page_size, shm};
use serde::Serialize;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize, Debug, Default)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

#[derive(Serialize, Debug)]
pub struct Info {
    pub os: &'static str,
    pub arch: &'static str,
    pub kernel: Option<String>,
    pub cpus: usize,
    pub page_size: usize,
    pub mem_total_bytes: Option<u64>,
    pub shm_dir: String,
    pub shm_prefix: String,
    pub shm_total_bytes: Option<u64>,
    pub shm_free_bytes: Option<u64>,
    pub rlimit_memlock: Limit,
    pub rlimit_nofile: Limit,
    pub regions: usize,
    /// Effective large-payload configuration (context level), or the
    /// reason it could not be loaded.
    pub large_payloads: Result<renoir_core::config::BlobConfig, String>,
    pub config_file: Option<String>,
    pub node_patterns: Vec<String>,
    pub publisher_patterns: Vec<String>,
}

/// Parse one row of /proc/self/limits ("Max open files  1024  4096  files").
fn parse_limit(limits: &str, name: &str) -> Limit {
    let Some(line) = limits.lines().find(|l| l.starts_with(name)) else {
        return Limit::default();
    };
    let mut it = line[name.len()..].split_whitespace();
    let val = |s: Option<&str>| match s {
        Some("unlimited") => Some(u64::MAX),
        Some(v) => v.parse().ok(),
        None => None,
    };
    Limit {
        soft: val(it.next()),
        hard: val(it.next()),
    }
}

fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn collect() -> Info {
    let dir = shm::shm_dir();
    let space = shm::fs_space(&dir).ok();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let cfg = renoir_core::config::ConfigSet::load();
    let (node_patterns, publisher_patterns) =
        cfg.as_ref().map(|c| c.patterns()).unwrap_or_default();
    Info {
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string()),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        page_size: page_size(),
        mem_total_bytes: mem_total(),
        shm_dir: dir.display().to_string(),
        shm_prefix: shm::prefix(),
        shm_total_bytes: space.map(|s| s.0),
        shm_free_bytes: space.map(|s| s.1),
        rlimit_memlock: parse_limit(&limits, "Max locked memory"),
        rlimit_nofile: parse_limit(&limits, "Max open files"),
        regions: renoir_core::region::list(&shm::prefix()).len(),
        config_file: cfg.as_ref().ok().and_then(|c| c.file.clone()),
        large_payloads: cfg.map(|c| c.context().clone()).map_err(|e| e.to_string()),
        node_patterns,
        publisher_patterns,
    }
}

fn lim(v: Option<u64>, bytes: bool) -> String {
    match v {
        None => "?".into(),
        Some(u64::MAX) => "unlimited".into(),
        Some(n) if bytes => human_bytes(n),
        Some(n) => n.to_string(),
    }
}

/// The effective large-payload configuration (docs/large-payloads.md).
fn print_large_payloads(i: &Info) {
    let c = match &i.large_payloads {
        Ok(c) => c,
        Err(e) => {
            println!("large payloads  configuration error: {e}");
            return;
        }
    };
    println!(
        "config file     {}",
        i.config_file
            .as_deref()
            .unwrap_or("none (RENOIR_CONFIG unset)")
    );
    println!("pool size       {}", human_bytes(c.pool_size));
    println!("large threshold {}", human_bytes(c.large_threshold));
    println!("max slot size   {}", human_bytes(c.max_slot_size));
    println!(
        "stream from     {}",
        if c.stream_threshold == 0 {
            "never".to_string()
        } else {
            human_bytes(c.stream_threshold)
        }
    );
    println!(
        "chunk size      {} ({})",
        human_bytes(c.chunk_size),
        c.chunk_strategy
    );
    println!("reader slots    {}", c.reader_slots);
    println!(
        "reclaim         every {} ms, max age {} ms, forced cleanup {}",
        c.reclaim_interval_ms, c.reclaim_max_age_ms, c.reclaim_force
    );
    println!("checksum        {}", if c.checksum { "on" } else { "off" });
    for p in &i.node_patterns {
        println!("node override   {p}");
    }
    for p in &i.publisher_patterns {
        println!("topic override  {p}");
    }
}

pub fn run(args: Args) -> CmdResult {
    let i = collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&i)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opt = |v: Option<u64>| v.map_or("?".into(), human_bytes);
    println!(
        "platform        {}/{} (kernel {})",
        i.os,
        i.arch,
        i.kernel.as_deref().unwrap_or("?")
    );
    println!("cpus            {}", i.cpus);
    println!("page size       {} B", i.page_size);
    println!("memory          {}", opt(i.mem_total_bytes));
    println!("shm dir         {} (prefix {:?})", i.shm_dir, i.shm_prefix);
    println!("shm size        {}", opt(i.shm_total_bytes));
    println!("shm free        {}", opt(i.shm_free_bytes));
    println!(
        "RLIMIT_MEMLOCK  soft {} / hard {}",
        lim(i.rlimit_memlock.soft, true),
        lim(i.rlimit_memlock.hard, true)
    );
    println!(
        "RLIMIT_NOFILE   soft {} / hard {}",
        lim(i.rlimit_nofile.soft, false),
        lim(i.rlimit_nofile.hard, false)
    );
    println!("regions         {}", i.regions);
    print_large_payloads(&i);
    if i.shm_total_bytes.is_some_and(|t| t < 256 << 20) {
        println!(
            "note: {} is small; large messages may need a bigger tmpfs (docker --shm-size) or file-backed regions",
            i.shm_dir
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        let t = "Limit                     Soft Limit           Hard Limit           Units\n\
                 Max open files            1024                 524288               files\n\
                 Max locked memory         8388608              unlimited            bytes\n";
        let n = parse_limit(t, "Max open files");
        assert_eq!((n.soft, n.hard), (Some(1024), Some(524288)));
        let m = parse_limit(t, "Max locked memory");
        assert_eq!((m.soft, m.hard), (Some(8388608), Some(u64::MAX)));
        let x = parse_limit(t, "Max nothing");
        assert_eq!((x.soft, x.hard), (None, None));
    }

    #[test]
    fn collect_reports_this_host() {
        let i = collect();
        assert!(i.page_size >= 4096);
        assert!(i.cpus >= 1);
        assert!(i.rlimit_nofile.soft.is_some());
    }
}
