//! `renoir clean`: unlink regions whose creator is dead (pid gone, or pid
//! reused by another process: the start time differs), and files with our
//! prefix that never became valid regions once older than a grace period.
//! Regions flagged "keep when creator dies" are left alone.

use super::{human_bytes, CmdResult, Selection};
use renoir_core::region;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub sel: Selection,
    /// Only show what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds before an unidentifiable (never initialized or corrupt) file
    /// counts as abandoned.
    #[arg(long, default_value_t = region::DEFAULT_GRACE.as_secs())]
    pub grace: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let dir = args.sel.dir();
    let report = region::clean_in(
        &dir,
        &args.sel.prefix(),
        args.dry_run,
        Duration::from_secs(args.grace),
    )
    .map_err(|e| format!("cannot clean {}: {e}", dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for i in &report.removed {
            let owner = i.creator.map_or("unknown owner".to_string(), |c| {
                format!("dead owner pid {}", c.pid)
            });
            println!(
                "{verb} {} ({}, {owner})",
                i.path.display(),
                human_bytes(i.file_size)
            );
        }
        for (p, e) in &report.errors {
            eprintln!("failed to remove {}: {e}", p.display());
        }
        let bytes: u64 = report.removed.iter().map(|i| i.file_size).sum();
        println!(
            "{verb} {} region(s), {}; kept {}",
            report.removed.len(),
            human_bytes(bytes),
            report.kept
        );
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
