//! The house's layering, checked on the source: handlers map and call the
//! services; none of them reaches the store (`grep -rn '\.store' src/http`
//! finds nothing).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `file:line` under `dir` whose text has `.store` (what
/// `grep -rn '\.store'` reports).
fn store_reads(dir: &Path) -> Vec<String> {
    let mut files = vec![];
    rust_files(dir, &mut files);
    files.sort();
    let mut hits = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if line.contains(".store") {
                hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    hits
}

#[test]
fn no_handler_touches_the_store() {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let hits = store_reads(&http);
    assert!(
        hits.is_empty(),
        "handlers must go through the services, not the store:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_scan_sees_a_store_read() {
    // The scanner itself: a handler file with a store read is reported, in
    // a nested directory too.
    let dir = std::env::temp_dir().join(format!("poolgate-layering-{}", std::process::id()));
    let nested = dir.join("cognito");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(dir.join("ok.rs"), "let p = s.pools.pool(id).await?;\n").unwrap();
    std::fs::write(
        nested.join("bad.rs"),
        "fn f() {}\nlet n = s.pools\n    .store\n    .count_users(id);\n",
    )
    .unwrap();
    let hits = store_reads(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].ends_with("bad.rs:3: .store"), "{hits:?}");
}
