//! Packs the default suite (the fixture scripts and the recorded corpus
//! under `fixtures/`) into one gzipped tar in `OUT_DIR`, which
//! `src/default_suite.rs` embeds, so that an installed `callorder suite`
//! runs it with no checkout at hand.
//!
//! The archive is deterministic: files in path order, with mtime, owner
//! and mode fixed, so the same fixtures give the same binary.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let fixtures = manifest_dir.join("../../fixtures");
    println!("cargo:rerun-if-changed={}", fixtures.display());

    let mut files = Vec::new();
    for part in ["scripts", "twisted"] {
        collect(&fixtures.join(part), &mut files);
    }
    files.sort();

    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let relative = file.strip_prefix(&fixtures).expect("under fixtures");
        let name = Path::new("fixtures").join(relative);
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &name, data.as_slice())
            .unwrap_or_else(|e| panic!("{}: {e}", name.display()));
    }
    let gz = tar.into_inner().expect("the tar ends");
    let bytes = gz.finish().expect("gzip ends");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"))
        .join("default-suite.tar.gz");
    fs::File::create(&out)
        .and_then(|mut f| f.write_all(&bytes))
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// Every suite file under `dir`: scripts, traces and manifests. READMEs
/// and the like are not part of a suite.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path
            .extension()
            .is_some_and(|e| e == "script" || e == "jsonl" || e == "json")
        {
            files.push(path);
        }
    }
}
