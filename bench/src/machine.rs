//! The machine the numbers come from, and the memcpy reference.

use std::fs;
use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::report::MemcpyRow;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub mem_total_mb: u64,
    pub dev_shm_size_mb: u64,
    pub dev_shm_free_mb: u64,
    pub loadavg_at_start: String,
    /// "yes" when idle CPUs were kept awake (`--keep-cpus-awake`).
    #[serde(default)]
    pub cpus_kept_awake: String,
}

fn cpu_model() -> String {
    let text = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    for key in ["model name", "Model", "Hardware", "cpu model"] {
        if let Some(v) = text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        }) {
            return v;
        }
    }
    std::env::consts::ARCH.to_owned()
}

fn statvfs_mb(path: &str) -> (u64, u64) {
    let Ok(c) = std::ffi::CString::new(path) else {
        return (0, 0);
    };
    // SAFETY: statvfs(3) with a valid NUL-terminated path and a zeroed
    // out-struct that it fills; both live for the whole call.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return (0, 0);
        }
        let f = st.f_frsize as u64;
        (
            st.f_blocks as u64 * f / (1 << 20),
            st.f_bavail as u64 * f / (1 << 20),
        )
    }
}

pub fn machine() -> Machine {
    let mem_total_mb = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024;
    let (shm, shm_free) = statvfs_mb("/dev/shm");
    Machine {
        cpu_model: cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        mem_total_mb,
        dev_shm_size_mb: shm,
        dev_shm_free_mb: shm_free,
        loadavg_at_start: fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        cpus_kept_awake: "no".into(),
    }
}

impl Machine {
    pub fn line(&self) -> String {
        format!(
            "{} | {} cores | kernel {} | {} MB RAM | /dev/shm {} MB ({} MB free) | load {} | idle CPUs kept awake: {}",
            self.cpu_model,
            self.cores,
            self.kernel,
            self.mem_total_mb,
            self.dev_shm_size_mb,
            self.dev_shm_free_mb,
            self.loadavg_at_start,
            if self.cpus_kept_awake.is_empty() { "no" } else { &self.cpus_kept_awake }
        )
    }
}

/// Median time of one memcpy of `bytes` between two touched buffers
/// (cold-ish for sizes above the caches, like a transport's copy), in
/// microseconds, and the bandwidth it implies.
pub fn memcpy_ref(bytes: usize, budget_s: f64) -> MemcpyRow {
    let src: Vec<u8> = (0..bytes).map(|i| (i * 31 + 7) as u8).collect();
    let mut dst = vec![0u8; bytes];
    dst.copy_from_slice(&src); // touch every page once
                               // Small copies are timed in batches so the clock's cost does not dominate.
    let batch = (65536 / bytes.max(1)).clamp(1, 4096);
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || (start.elapsed().as_secs_f64() < budget_s && samples.len() < 2000) {
        let t = Instant::now();
        for _ in 0..batch {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let p50 = samples[samples.len() / 2];
    MemcpyRow {
        payload_bytes: bytes,
        p50_us: p50 * 1e6,
        gb_per_s: bytes as f64 / p50 / 1e9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcpy_reference_is_sane() {
        let r = memcpy_ref(4096, 0.01);
        assert!(r.p50_us > 0.0 && r.gb_per_s > 0.01, "{r:?}");
    }

    #[test]
    fn machine_line_has_cores() {
        let m = machine();
        assert!(m.cores >= 1);
        assert!(m.line().contains("cores"));
    }
}
