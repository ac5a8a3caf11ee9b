//! Subcommands, one module each, plus small helpers they share (table
//! printing, byte formatting, the common `--dir/--prefix` selection).

pub mod bench;
pub mod clean;
pub mod info;
pub mod ls;
pub mod schema;

use std::path::PathBuf;

pub type CmdResult = Result<std::process::ExitCode, Box<dyn std::error::Error>>;

/// Which directory and name prefix a command looks at.
#[derive(clap::Args, Debug, Clone)]
pub struct Selection {
    /// Directory of segments (default: $RENOIR_SHM_DIR or /dev/shm; give a
    /// file-backend directory to inspect that instead).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Name prefix (default: $RENOIR_SHM_PREFIX or "renoir").
    #[arg(long)]
    pub prefix: Option<String>,
}

impl Selection {
    pub fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(renoir_core::platform::shm::shm_dir)
    }
    pub fn prefix(&self) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(renoir_core::platform::shm::prefix)
    }

    /// Make the selection the library's default (`RENOIR_SHM_DIR`,
    /// `RENOIR_SHM_PREFIX`) for code that reads the environment. Call only
    /// while the process is single-threaded.
    pub fn export_env(&self) {
        if let Some(d) = &self.dir {
            std::env::set_var("RENOIR_SHM_DIR", d);
        }
        if let Some(p) = &self.prefix {
            std::env::set_var("RENOIR_SHM_PREFIX", p);
        }
    }
}

/// `1536` -> `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `95.3` s -> `1m35s`.
pub fn human_age(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Print rows under headers, columns padded to their widest cell.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(c); // no trailing padding
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_age(5.9), "5s");
        assert_eq!(human_age(95.0), "1m35s");
        assert_eq!(human_age(7200.0), "2h00m");
        assert_eq!(human_age(90000.0), "1d01h");
    }
}
