//! `renoir ls`: the regions in the shm directory with their owner and its
//! liveness, as a table or JSON.
//!
//! Columns are a list of (header, cell function) pairs: adding a column
//! (e.g. topic or endpoint counts) means adding one entry to [`columns`].
//! Region annotations (key/value metadata set by the creator) are shown in
//! the last column and are all in the JSON output.

use super::{human_age, human_bytes, print_table, CmdResult, Selection};
use renoir_core::region::{self, RegionInfo, RegionState};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub sel: Selection,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub type Cell = fn(&RegionInfo) -> String;

fn state(i: &RegionInfo) -> String {
    match &i.state {
        RegionState::Ready => "ready".into(),
        RegionState::NotReady => "initializing".into(),
        RegionState::Corrupt(why) => format!("corrupt ({why})"),
        RegionState::Unreadable(why) => format!("unreadable ({why})"),
    }
}

fn owner(i: &RegionInfo) -> String {
    match i.creator {
        Some(c) if !i.liveness_known => format!("{} (other pid ns)", c.pid),
        Some(c) if i.creator_alive => format!("{} (alive)", c.pid),
        Some(c) => format!("{} (dead)", c.pid),
        None => "-".into(),
    }
}

/// The table's columns.
pub fn columns() -> Vec<(&'static str, Cell)> {
    vec![
        ("NAME", |i| i.file_name.clone()),
        ("SIZE", |i| human_bytes(i.file_size)),
        ("STATE", state),
        ("OWNER", owner),
        ("AGE", |i| human_age(i.age_secs)),
        ("DESCRIPTION", |i| {
            i.metadata
                .as_ref()
                .map_or(String::new(), |m| m.description.clone())
        }),
        ("ANNOTATIONS", |i| {
            i.metadata.as_ref().map_or(String::new(), |m| {
                m.annotations
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
        }),
    ]
}

pub fn run(args: Args) -> CmdResult {
    let dir = args.sel.dir();
    let infos = region::list_in(&dir, &args.sel.prefix())
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&infos)?);
        return Ok(ExitCode::SUCCESS);
    }
    if infos.is_empty() {
        println!(
            "no regions with prefix {:?} in {}",
            args.sel.prefix(),
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let cols = columns();
    let headers: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let rows: Vec<Vec<String>> = infos
        .iter()
        .map(|i| cols.iter().map(|c| (c.1)(i)).collect())
        .collect();
    print_table(&headers, &rows);
    let dead = infos
        .iter()
        .filter(|i| i.reclaimable(region::DEFAULT_GRACE))
        .count();
    if dead > 0 {
        println!("{dead} region(s) reclaimable: run `renoir clean`");
    }
    Ok(ExitCode::SUCCESS)
}
