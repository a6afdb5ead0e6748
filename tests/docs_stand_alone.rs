//! The repository's documentation stands alone: every semantics id a rule
//! cites is defined in `docs/semantics.md`; every section of a project doc a
//! rule cites exists; every repository path the README, the docs, the rules
//! table and the error messages name exists; and nothing points outside the
//! repository (a sibling `shared/` directory, a path of one machine).

use std::fs;
use std::path::{Path, PathBuf};

use callorder::checker::Rule;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(path: &str) -> String {
    let p = root().join(path);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The entries of a rule's semantics field: `"P2, P3, G15"` gives three.
fn semantics_entries(rule: Rule) -> Vec<&'static str> {
    rule.semantics().split(", ").map(str::trim).collect()
}

/// Whether `entry` is defined in the semantics doc: an id is defined by its
/// bold name opening an entry (`**C11**`), any other entry (`format`,
/// `G (reentrancy points)`) by its name in backquotes.
fn defined(doc: &str, entry: &str) -> bool {
    let is_id = entry
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == 'a' || c == 'b');
    if is_id {
        doc.contains(&format!("**{entry}**"))
    } else {
        doc.contains(&format!("`{entry}`"))
    }
}

#[test]
fn every_semantics_id_a_rule_cites_is_defined_in_docs_semantics() {
    let doc = text("docs/semantics.md");
    let missing: Vec<String> = Rule::TABLE
        .iter()
        .flat_map(|&r| {
            semantics_entries(r)
                .into_iter()
                .filter(|e| !defined(&doc, e))
                .map(move |e| format!("{r}: {e}"))
        })
        .collect();
    assert!(missing.is_empty(), "not in docs/semantics.md: {missing:?}");
}

/// Ids such as `P12`, `C3a`, `PR1`, `RC5` in free text.
fn ids_in(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'-';
        let prefix = ["PR", "RC", "F", "C", "S", "P", "H", "G", "N", "O"]
            .into_iter()
            .find(|p| text[i..].starts_with(p));
        if let (true, Some(p)) = (starts_word, prefix) {
            let mut j = i + p.len();
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + p.len() {
                if j < bytes.len() && (bytes[j] == b'a' || bytes[j] == b'b') {
                    j += 1;
                }
                let ends_word = j == bytes.len() || !bytes[j].is_ascii_alphanumeric();
                if ends_word {
                    ids.push(text[i..j].to_owned());
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    ids
}

#[test]
fn every_semantics_id_the_docs_and_rules_mention_is_defined() {
    let doc = text("docs/semantics.md");
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in [
        "README.md",
        "docs/spec.md",
        "docs/fidelity.md",
        "docs/semantics.md",
        "fixtures/twisted/README.md",
        "crates/checker/src/rules.rs",
    ] {
        for id in ids_in(&text(file)) {
            seen += 1;
            // The rule ids G1..G13 and O2 are also semantics ids; rule ids
            // with a dash never match.
            if !defined(&doc, &id) {
                missing.push(format!("{file}: {id}"));
            }
        }
    }
    assert!(seen > 100, "the scan must see the ids: {seen}");
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "not defined in docs/semantics.md: {missing:?}"
    );
}

#[test]
fn the_id_scan_finds_ids_and_only_ids() {
    assert_eq!(
        ids_in("see C3a, P12 and PR1; not P-UNLOST, T-DEPTH, HTTP2, x86 or S"),
        ["C3a", "P12", "PR1"]
    );
}

#[test]
fn every_section_of_a_project_doc_a_rule_cites_exists() {
    for rule in Rule::TABLE {
        for cite in rule.cites().split("; ") {
            let Some((file, section)) = cite.split_once(".md: ") else {
                continue;
            };
            let file = format!("{file}.md");
            let heading = section.split(" (").next().unwrap_or(section);
            let doc = text(&file);
            assert!(
                doc.lines()
                    .any(|l| l.starts_with('#') && l.trim_start_matches('#').trim() == heading),
                "{rule} cites `{cite}`: {file} has no section `{heading}`"
            );
        }
    }
}

/// Repository paths named in `text`: words that start with one of the
/// repository's top directories (not inside a longer path: `xdocs/a` and
/// `src/tests/a` are not), up to the first character that cannot be part of
/// a path.
fn paths_in(text: &str) -> Vec<String> {
    const ROOTS: &[&str] = &[
        "docs/",
        "crates/",
        "fixtures/",
        "tests/",
        "examples/",
        ".ci/",
    ];
    let mut paths = Vec::new();
    for (i, _) in text.char_indices() {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || "_./-".contains(c)) {
            continue;
        }
        if let Some(root) = ROOTS.iter().find(|r| text[i..].starts_with(*r)) {
            let rest = &text[i..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || "_./-".contains(c)))
                .unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches(['.', '/']);
            // A glob or a placeholder (`NAME.jsonl`) is not one file.
            if path.len() > root.len() && !path.contains("NAME") && !path.contains('*') {
                paths.push(path.to_owned());
            }
        }
    }
    paths
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

#[test]
fn every_repository_path_the_docs_rules_and_messages_name_exists() {
    let root = root();
    let mut cited: Vec<(String, String)> = Vec::new();
    let mut sources = vec![
        "README.md".to_owned(),
        "fixtures/twisted/README.md".to_owned(),
    ];
    let mut found = Vec::new();
    files_under(&root.join("docs"), "md", &mut found);
    // Error messages and the rules table live in these crates' sources.
    for krate in ["checker", "cli", "harness", "trace", "fuzz", "callorder"] {
        files_under(
            &root.join("crates").join(krate).join("src"),
            "rs",
            &mut found,
        );
    }
    for f in found {
        let rel = f.strip_prefix(&root).expect("under the root");
        sources.push(rel.to_string_lossy().replace('\\', "/"));
    }
    for source in &sources {
        for path in paths_in(&text(source)) {
            cited.push((source.clone(), path));
        }
    }
    assert!(
        cited.iter().any(|(_, p)| p == "docs/trace-format.md")
            && cited.iter().any(|(_, p)| p == "docs/semantics.md"),
        "the scan must see the docs it is about: {cited:?}"
    );
    // A crate's sources may name a path inside that crate (`tests/gallery`).
    let exists = |source: &str, path: &str| {
        let in_crate = source
            .strip_prefix("crates/")
            .and_then(|rest| rest.split('/').next())
            .map(|krate| root.join("crates").join(krate).join(path));
        root.join(path).exists() || in_crate.is_some_and(|p| p.exists())
    };
    let missing: Vec<String> = cited
        .iter()
        .filter(|(s, p)| !exists(s, p))
        .map(|(s, p)| format!("{s}: {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "cited but not in the repository: {missing:#?}"
    );
}

/// Paths relative to the file that names them: words starting with `../`.
fn relative_paths_in(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for (i, _) in text.match_indices("../") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || "_./-".contains(c)) {
            continue;
        }
        let rest = &text[i..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || "_./-".contains(c)))
            .unwrap_or(rest.len());
        paths.push(rest[..end].trim_end_matches('.').to_owned());
    }
    paths
}

#[test]
fn every_relative_path_a_markdown_file_names_is_in_the_repository() {
    let root = root();
    let mut files = Vec::new();
    text_files(&root, &mut files);
    let mut bad = Vec::new();
    let mut seen = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
    {
        let dir = f.parent().expect("a file is in a directory");
        for rel in relative_paths_in(&fs::read_to_string(f).expect("markdown is text")) {
            seen += 1;
            let target = dir.join(&rel);
            let inside = target
                .canonicalize()
                .is_ok_and(|t| t.starts_with(root.canonicalize().expect("the root")));
            if !inside {
                bad.push(format!(
                    "{}: {rel}",
                    f.strip_prefix(&root).unwrap_or(f).display()
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "outside the repository or missing: {bad:?} ({seen} seen)"
    );
}

#[test]
fn the_relative_path_scan_finds_relative_paths() {
    assert_eq!(
        relative_paths_in("see ../tools/judge.py. and (../x), not a/../b"),
        ["../tools/judge.py", "../x"]
    );
}

#[test]
fn the_path_scan_finds_paths_and_only_paths() {
    assert_eq!(
        paths_in("see `docs/spec.md`, crates/checker/src/rules.rs. and (fixtures/scripts/); not xdocs/a or docs/NAME.md"),
        ["docs/spec.md", "crates/checker/src/rules.rs", "fixtures/scripts"]
    );
}

/// Text that would tie the repository to one machine's layout.
const OUTSIDE: &[&str] = &[
    "../shared",
    "shared/bench",
    "shared/twisted",
    "/work/",
    "/home/",
    "/Users/",
];

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            // Build output, git's files, virtual environments and caches
            // (hidden directories) are made on a machine, not written for
            // the repository; `.ci` is the one hidden directory it has.
            let made_here = name == "target" || name == "__pycache__";
            if made_here || (name.starts_with('.') && name != ".ci") {
                continue;
            }
            text_files(&p, out);
        } else if name != ".git" {
            // (A worktree's `.git` is a file naming where its repository is.)
            out.push(p);
        }
    }
}

#[test]
fn nothing_in_the_repository_points_outside_it() {
    let root = root();
    let mut files = Vec::new();
    text_files(&root, &mut files);
    assert!(files.len() > 100, "the walk must see the repository");
    let this_file = root.join("tests/docs_stand_alone.rs");
    let mut offenders = Vec::new();
    for f in files.iter().filter(|f| **f != this_file) {
        let Ok(content) = fs::read_to_string(f) else {
            continue; // not text
        };
        for (n, line) in content.lines().enumerate() {
            if OUTSIDE.iter().any(|o| line.contains(o)) {
                let rel = f.strip_prefix(&root).unwrap_or(f);
                offenders.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "points outside the repository:\n{}",
        offenders.join("\n")
    );
}
