//! The facade rule: outside `src/sync/`, no source file of renoir_core names
//! `std::sync::atomic` or `core::sync::atomic` directly, so that every atomic
//! is swapped for loom's under `--cfg loom`. (clippy's `disallowed-types`
//! cannot express this: it resolves the facade's re-exports to std and flags
//! them too.)

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn atomics_only_through_the_sync_facade() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 10,
        "expected the crate's sources under {src:?}"
    );
    let mut offenders = Vec::new();
    for file in files {
        if file.starts_with(src.join("sync")) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("std::sync::atomic") || code.contains("core::sync::atomic") {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "atomics must come from renoir_core::sync:\n{}",
        offenders.join("\n")
    );
}
