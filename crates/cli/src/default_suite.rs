//! The default suite, embedded in the binary: the fixture scripts
//! (`fixtures/scripts/`) and the recorded Twisted corpus with its manifest
//! (`fixtures/twisted/`), as `build.rs` packed them, gzipped.
//!
//! `callorder suite` with no path runs it. Its case ids are the ones
//! `callorder suite fixtures` gives from the repository's root, since the
//! files keep their paths (`fixtures/scripts/seed_success.script`).
//!
//! The archive is made from the repository's `fixtures/` when the crate is
//! built (`cargo install --path crates/cli` has it); it adds its compressed
//! size, about 250 KB, to the binary. A build without the fixtures at hand
//! embeds an empty suite, which `callorder suite` refuses to pass (no case
//! ran).

use std::collections::BTreeMap;
use std::io::Read;

/// The packed suite, as `build.rs` wrote it.
const ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default-suite.tar.gz"));

/// The size of the compressed suite in the binary, in bytes.
///
/// ```
/// assert!(callorder_cli::default_suite::compressed_size() > 0);
/// ```
pub fn compressed_size() -> usize {
    ARCHIVE.len()
}

/// The default suite's files, by path (`fixtures/...`, `/` separated), in
/// path order.
///
/// # Errors
///
/// If the embedded archive cannot be read: a broken build, not bad input.
///
/// ```
/// let files = callorder_cli::default_suite::files()?;
/// assert!(files.contains_key("fixtures/scripts/seed_success.script"));
/// assert!(files.contains_key("fixtures/twisted/manifest.json"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn files() -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(ARCHIVE));
    let mut files = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().replace('\\', "/");
        let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.read_to_end(&mut data)?;
        files.insert(path, data);
    }
    Ok(files)
}
