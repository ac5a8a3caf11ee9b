//! Real processes: a writer in this process, a reader in a child (this test
//! binary re-executed with `RENOIR_BLOB_ROLE` set). A reader SIGKILLed
//! while pinned is detected and its watermark released. Nothing is left in
//! the shm directory. `RENOIR_NO_SPAWN=1` skips the parts that spawn.

use renoir_core::blob::{
    BlobDesc, BlobReader, BlobStore, BlobWriter, ChunkStrategy, ContentType, ReclaimPolicy,
    StoreConfig,
};
use renoir_core::platform::shm;
use renoir_core::region::{self, Access, Backend, Region, RegionConfig};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::Duration;

const ROLE: &str = "RENOIR_BLOB_ROLE";
const CFG: StoreConfig = StoreConfig {
    chunk_size: 64 << 10,
    chunk_capacity: 64,
    table_capacity: 16,
    max_chunks: 64,
    reader_slots: 4,
};

fn setup() -> String {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(ROLE).is_none() {
            std::env::set_var("RENOIR_SHM_PREFIX", format!("rblob{}", std::process::id()));
        }
    });
    shm::prefix()
}

fn no_spawn() -> bool {
    std::env::var("RENOIR_NO_SPAWN").is_ok_and(|v| v == "1")
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ seed)
        .collect()
}

fn spawn(role: &str, region: &str, descs: &[BlobDesc]) -> Child {
    let list: Vec<String> = descs.iter().map(|d| d.to_u64().to_string()).collect();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_main",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env("RENOIR_BLOB_REGION", region)
        .env("RENOIR_BLOB_DESCS", list.join(","))
        .env("RENOIR_SHM_PREFIX", setup())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lines after the `MP:` marker until `MP:END` (or EOF), or until `stop`.
fn read_lines(child: &mut Child, stop: &str) -> Vec<String> {
    let out = child.stdout.as_mut().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.find("MP:").map(|i| &line[i + 3..]) {
            if rest == "END" {
                break;
            }
            lines.push(rest.to_string());
            if rest == stop {
                break;
            }
        }
    }
    lines
}

fn assert_left_nothing(prefix: &str, name: &str) {
    let mine: Vec<_> = region::list(prefix)
        .into_iter()
        .filter(|r| r.file_name.ends_with(name))
        .collect();
    assert!(mine.is_empty(), "left behind: {mine:?}");
}

fn writer(name: &str, policy: ReclaimPolicy) -> BlobWriter {
    let r = Arc::new(
        Region::create(&RegionConfig::new(
            name,
            CFG.required_bytes().unwrap() as usize,
        ))
        .unwrap(),
    );
    let off = r.payload_offset();
    let s = BlobStore::create_in(&r, off, CFG).unwrap();
    BlobWriter::new(s, ChunkStrategy::Fixed(CFG.chunk_size), true, policy)
}

const SIZES: [usize; 6] = [0, 1, 65535, 65536, 65537, 40 * 65536 + 3];

#[test]
#[ignore = "child process entry point"]
fn child_main() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let name = std::env::var("RENOIR_BLOB_REGION").unwrap();
    let descs: Vec<BlobDesc> = std::env::var("RENOIR_BLOB_DESCS")
        .unwrap()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| BlobDesc::from_u64(s.parse().unwrap()))
        .collect();
    let r = Arc::new(Region::open(&name, Backend::Shm, Access::ReadWrite).unwrap());
    let store = BlobStore::open_in(&r, r.payload_offset()).unwrap();
    let mut reader = BlobReader::new(store, true).unwrap();
    let g = reader.pin();
    let mut out = Vec::new();
    for (i, d) in descs.iter().enumerate() {
        let b = g.open(*d).unwrap();
        b.reassemble_into(&mut out);
        let ok = out == payload(SIZES[i], i as u8) && b.content_type() == ContentType::Image;
        println!("MP:{} {} {}", i, b.len(), if ok { "OK" } else { "BAD" });
    }
    if role == "hang" {
        println!("MP:PINNED");
        std::thread::sleep(Duration::from_secs(60));
    }
    drop(g);
    println!("MP:END");
}

#[test]
fn writer_and_reader_in_two_processes() {
    let prefix = setup();
    let name = format!("xp_{}", std::process::id());
    {
        let mut w = writer(&name, ReclaimPolicy::default());
        let descs: Vec<BlobDesc> = SIZES
            .iter()
            .enumerate()
            .map(|(i, &n)| w.publish(&payload(n, i as u8), ContentType::Image).unwrap())
            .collect();
        if !no_spawn() {
            let mut child = spawn("read", &name, &descs);
            let lines = read_lines(&mut child, "");
            assert!(child.wait().unwrap().success());
            let want: Vec<String> = SIZES
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{i} {n} OK"))
                .collect();
            assert_eq!(lines, want);
        }
        for d in descs {
            assert!(w.retire(d));
        }
        assert_eq!(w.reclaim(), SIZES.len() as u64, "the child left its slot");
        assert_eq!(w.store().chunks_in_use(), 0);
    }
    assert_left_nothing(&prefix, &name);
}

#[test]
fn sigkilled_reader_is_released() {
    let prefix = setup();
    let name = format!("kill_{}", std::process::id());
    {
        let policy = ReclaimPolicy {
            check_interval: Duration::ZERO,
            max_age: Duration::ZERO,
            forced_cleanup: true,
        };
        let mut w = writer(&name, policy);
        let d = w
            .publish(&payload(SIZES[0], 0), ContentType::Image)
            .unwrap();
        let d2 = w
            .publish(&payload(SIZES[1], 1), ContentType::Image)
            .unwrap();
        if no_spawn() {
            eprintln!("RENOIR_NO_SPAWN=1: skipping the child");
            return;
        }
        let mut child = spawn("hang", &name, &[d, d2]);
        let lines = read_lines(&mut child, "PINNED");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("PINNED"),
            "{lines:?}"
        );
        w.retire(d);
        w.retire(d2);
        // Alive and pinned: nothing is freed, the blob is overdue.
        assert_eq!(w.reclaim(), 0);
        assert_eq!(w.stats().dead_readers_released, 0);
        assert!(w.stats().overdue >= 1);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(w.reclaim(), 2, "dead reader's watermark released");
        assert_eq!(w.stats().dead_readers_released, 1);
        assert_eq!(w.store().chunks_in_use(), 0);
        assert_eq!(w.store().blobs_in_use(), 0);
        // Its slot is free again.
        let r = w.store().region().clone();
        let again = BlobReader::new(BlobStore::open_in(&r, r.payload_offset()).unwrap(), false);
        assert!(again.is_ok());
    }
    assert_left_nothing(&prefix, &name);
}
