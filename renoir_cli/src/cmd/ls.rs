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
    // Topics and endpoints of the domain registries (renoir_core::registry
    // reads the selection from the environment; single-threaded here).
    args.sel.export_env();
    print_topics();
    print_chunk_stores(&infos, &args.sel);
    Ok(ExitCode::SUCCESS)
}

/// Chunk stores of publishers (`*_bstore<gen>` regions, samples above
/// `max_slot_size`): mapped read-only, validated by `BlobStore::open_in`.
fn print_chunk_stores(infos: &[RegionInfo], sel: &Selection) {
    use renoir_core::blob::BlobStore;
    use renoir_core::region::{Access, Backend, Region};
    let dir = sel.dir();
    let backend = if dir == std::path::Path::new("/dev/shm") {
        Backend::Shm
    } else {
        Backend::File(dir)
    };
    let pre = format!("{}_", sel.prefix());
    let rows: Vec<Vec<String>> = infos
        .iter()
        .filter_map(|i| {
            let name = i.file_name.strip_prefix(&pre)?;
            let (_, gen) = name.rsplit_once("_bstore")?;
            if gen.is_empty() || !gen.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let r = Region::open(name, backend.clone(), Access::ReadOnly).ok()?;
            let r = std::sync::Arc::new(r);
            let st = BlobStore::open_in(&r, r.payload_offset()).ok()?;
            let s = st.summary();
            Some(vec![
                name.to_string(),
                human_bytes(u64::from(s.chunk_size)),
                format!("{}/{}", s.chunks_in_use, s.chunk_capacity),
                format!("{}/{}", s.blobs_in_use, s.table_capacity),
                format!("{}/{}", s.pinned, s.readers),
                s.epoch.to_string(),
                s.pins.to_string(),
            ])
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!("\nchunk stores");
    print_table(
        &[
            "STORE", "CHUNK", "CHUNKS", "BLOBS", "PINNED", "RETIRED", "PINS",
        ],
        &rows,
    );
}

/// Topics and endpoints of every domain registry under the prefix (from
/// `renoir_core::registry::inspect`, read-only): one row per topic with
/// the summed counters, then one row per endpoint.
fn print_topics() {
    use renoir_core::registry::{inspect, EndpointInfo};
    use renoir_core::topic::{Durability, EndpointKind, History, Reliability};
    let qos = |e: &EndpointInfo| {
        format!(
            "{}/{}/{}",
            match e.qos.reliability {
                Reliability::Reliable => "rel",
                Reliability::BestEffort => "be",
            },
            match e.qos.history {
                History::KeepLast(n) => format!("last({n})"),
                History::KeepAll => "all".into(),
            },
            match e.qos.durability {
                Durability::Volatile => "vol",
                Durability::TransientLocal => "tl",
            }
        )
    };
    for d in renoir_core::cleanup::domains() {
        let Some(g) = inspect(d) else { continue };
        if g.endpoints.is_empty() {
            continue;
        }
        let mut topics: Vec<(String, String)> = g
            .endpoints
            .iter()
            .map(|e| (e.topic_name.clone(), e.type_name.clone()))
            .collect();
        topics.sort();
        topics.dedup();
        let rows: Vec<Vec<String>> = topics
            .iter()
            .map(|(t, ty)| {
                let eps: Vec<&EndpointInfo> =
                    g.endpoints.iter().filter(|e| &e.topic_name == t).collect();
                let of = |k: EndpointKind| {
                    eps.iter()
                        .filter(|e| e.kind == k)
                        .copied()
                        .collect::<Vec<_>>()
                };
                let (pubs, subs) = (of(EndpointKind::Publisher), of(EndpointKind::Subscriber));
                vec![
                    t.clone(),
                    ty.clone(),
                    pubs.len().to_string(),
                    subs.len().to_string(),
                    pubs.iter()
                        .map(|e| e.stats.samples)
                        .sum::<u64>()
                        .to_string(),
                    subs.iter()
                        .map(|e| e.stats.samples)
                        .sum::<u64>()
                        .to_string(),
                    subs.iter().map(|e| e.stats.lost).sum::<u64>().to_string(),
                    human_bytes(pubs.iter().map(|e| e.stats.bytes).sum()),
                ]
            })
            .collect();
        println!(
            "\ndomain {d}: {} node(s), graph version {}",
            g.nodes.len(),
            g.version
        );
        print_table(
            &[
                "TOPIC",
                "TYPE",
                "PUBS",
                "SUBS",
                "PUBLISHED",
                "TAKEN",
                "LOST",
                "BYTES",
            ],
            &rows,
        );
        let rows: Vec<Vec<String>> = g
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    format!("{:?}", e.kind).to_lowercase(),
                    e.topic_name.clone(),
                    format!(
                        "{}{}",
                        e.node_namespace.trim_end_matches('/'),
                        if e.node_name.is_empty() {
                            String::new()
                        } else {
                            format!("/{}", e.node_name)
                        }
                    ),
                    e.pid.to_string(),
                    qos(e),
                    e.stats.samples.to_string(),
                    e.stats.lost.to_string(),
                    if e.kind == EndpointKind::Publisher {
                        format!("{}/{}", e.stats.pool_used, e.stats.pool_total)
                    } else {
                        "-".into()
                    },
                    e.stats.matched.to_string(),
                ]
            })
            .collect();
        print_table(
            &[
                "ENDPOINT", "TOPIC", "NODE", "PID", "QOS", "SAMPLES", "LOST", "POOL", "MATCHED",
            ],
            &rows,
        );
    }
}
