//! The facade's rustdoc pages show the items of `callorder-core`,
//! `callorder-harness` and `callorder-fuzz` inline, examples and all. A
//! downstream crate depends on `callorder` alone, so every example there
//! must use `callorder::` paths: those crates' doc examples run against the
//! facade (a dev-dependency of each), and this test keeps the lines they show
//! from naming a crate the user does not have (hidden `# ` lines may).

use std::fs;
use std::path::{Path, PathBuf};

/// Crates whose items the facade shows inline, and the facade itself.
const INLINED: &[&str] = &["core", "harness", "fuzz", "callorder"];

/// Paths a downstream crate with `callorder` alone cannot use.
const FOREIGN: &[&str] = &[
    "callorder_core::",
    "callorder_harness::",
    "callorder_fuzz::",
    "callorder_reference::",
    "callorder_trace::",
    "callorder_checker::",
    "async_trait::",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `file:line: text` for each line of a fenced code block in a doc comment
/// (`///` or `//!`) that names a foreign path.
fn foreign_paths_in_examples(file: &Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(doc) = trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"))
        else {
            in_block = false;
            continue;
        };
        let doc = doc.trim_start();
        if doc.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        // A hidden line (`# ...`) compiles but is not shown on the page.
        if doc == "#" || doc.starts_with("# ") {
            continue;
        }
        // `callorder::async_trait` is the facade's re-export, and fine.
        let cleaned = doc.replace("callorder::async_trait", "");
        if in_block && FOREIGN.iter().any(|p| cleaned.contains(p)) {
            found.push(format!("{}:{}: {doc}", file.display(), n + 1));
        }
    }
    found
}

#[test]
fn examples_on_the_facade_pages_use_callorder_paths() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for name in INLINED {
        rust_files(&crates.join(name).join("src"), &mut files);
    }
    assert!(files.len() > INLINED.len(), "sources found: {files:?}");
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|f| foreign_paths_in_examples(f, &fs::read_to_string(f).expect("readable")))
        .collect();
    assert!(
        offenders.is_empty(),
        "doc examples shown on the facade's pages name crates a downstream user \
         does not depend on. Write `callorder::X` for the items of callorder_core, \
         callorder_harness and callorder_fuzz (and for those of callorder_trace and \
         callorder_checker the facade names at its top level), `callorder::trace::X` or \
         `callorder::checker::X` for the others, `callorder::reference::X` for \
         callorder_reference, and `use callorder::async_trait;`:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scan_finds_a_foreign_path_shown_in_an_example_and_only_there() {
    let text = "/// Uses [`callorder_harness::Script`] in prose: fine.\n\
                /// ```\n\
                /// # use callorder_core::Protocol; // hidden: fine\n\
                /// use callorder::async_trait;\n\
                /// use callorder_harness::Script;\n\
                /// ```\n\
                fn f() {}\n";
    assert_eq!(
        foreign_paths_in_examples(Path::new("x.rs"), text),
        vec!["x.rs:5: use callorder_harness::Script;".to_string()]
    );
}
