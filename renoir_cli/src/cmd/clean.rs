//! `renoir clean`: unlink regions whose creator is dead (pid gone, or pid
//! reused by another process: the start time differs), and files with our
//! prefix that never became valid regions once older than a grace period.
//! Regions flagged "keep when creator dies" (domain registries) are left to
//! the registry's own reaper, which this command runs first (not in
//! `--dry-run`: reaping records cannot be previewed): dead members' records
//! are reclaimed, and a registry nobody uses any more is removed.

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
    // The library's registry reaper reads the selection from the
    // environment; this process is single-threaded here.
    args.sel.export_env();
    let dir = args.sel.dir();
    let registry = (!args.dry_run).then(|| renoir_core::cleanup::clean(None));
    let report = region::clean_in(
        &dir,
        &args.sel.prefix(),
        args.dry_run,
        Duration::from_secs(args.grace),
    )
    .map_err(|e| format!("cannot clean {}: {e}", dir.display()))?;
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(reg) = &registry {
            v["registry"] = serde_json::json!({
                "domains": reg.domains,
                "records_reclaimed": reg.records,
                "registries_removed": reg.registries_removed,
                "segments_removed": reg.segments_removed,
                "errors": reg.errors,
            });
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if let Some(reg) = &registry {
            if !reg.domains.is_empty() {
                println!(
                    "registries of domains {:?}: reclaimed {} record(s) of dead processes, removed {} unused registr(y/ies)",
                    reg.domains,
                    reg.records,
                    reg.registries_removed.len()
                );
            }
            for s in &reg.segments_removed {
                println!("removed {s} (dead owner)");
            }
            for e in &reg.errors {
                eprintln!("{e}");
            }
        }
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
    let reg_errors = registry.as_ref().is_some_and(|r| !r.errors.is_empty());
    Ok(if report.errors.is_empty() && !reg_errors {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
