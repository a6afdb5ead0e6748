//! Shared by the corpus and agreement tests: the fixtures and their manifest.

#![allow(dead_code)] // each test binary uses part of this module

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use callorder_trace::{
    name_hash, ConnectorId, FactoryId, Names, PortId, ProtocolId, Record, Step, TraceReader,
    TraceWriter,
};

/// The directory of the traces recorded from real Twisted.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted")
}

/// One entry of `manifest.json`.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The file, relative to the corpus directory.
    pub file: String,
    /// `legal`, `quirk`, `illegal` or `malformed`.
    pub expect: String,
    /// `legal` when an illegal trace becomes legal under `twisted`.
    pub expect_twisted: Option<String>,
    /// The first bad seq of an illegal trace.
    pub first_bad_seq: Option<u64>,
}

/// Every entry of the manifest.
pub fn manifest() -> Vec<Entry> {
    let path = corpus_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).expect("manifest.json is readable");
    let json: serde_json::Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let text_of =
        |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_owned);
    json.as_array()
        .expect("the manifest is an array")
        .iter()
        .map(|v| Entry {
            file: text_of(v, "file").expect("every entry has a file"),
            expect: text_of(v, "expect").expect("every entry has an expectation"),
            expect_twisted: text_of(v, "expect_twisted"),
            first_bad_seq: v.get("first_bad_seq").and_then(serde_json::Value::as_u64),
        })
        .collect()
}

/// The steps of a well-formed trace file.
pub fn load(file: &str) -> Vec<Step> {
    let path = corpus_dir().join(file);
    let reader = TraceReader::new(BufReader::new(File::open(&path).expect("fixture opens")));
    reader
        .map(|record| record.unwrap_or_else(|e| panic!("{file}: {e}")).step)
        .collect()
}

/// The names a trace file gives its ids, to print mutants readably.
#[derive(Clone, Debug, Default)]
pub struct FileNames(BTreeMap<u64, String>);

impl FileNames {
    /// Collects the names used in a trace file.
    pub fn of(file: &str) -> Self {
        let text = std::fs::read_to_string(corpus_dir().join(file)).expect("fixture reads");
        let mut names = BTreeMap::new();
        for line in text.lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            for key in ["factory", "connector", "port", "protocol"] {
                if let Some(name) = value.get(key).and_then(|v| v.as_str()) {
                    names.insert(name_hash(name), name.to_owned());
                }
            }
        }
        FileNames(names)
    }

    fn get(&self, hash: u64) -> String {
        self.0
            .get(&hash)
            .cloned()
            .unwrap_or_else(|| format!("#{hash:x}"))
    }

    /// The steps as trace lines (with `error` for failed steps).
    pub fn render(&self, steps: &[Step]) -> Vec<String> {
        let mut writer = TraceWriter::with_names(Vec::new(), self.clone());
        for step in steps {
            writer.write(&Record::new(*step)).expect("writes to memory");
        }
        String::from_utf8(writer.into_inner())
            .expect("the writer writes UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Names for FileNames {
    fn factory(&self, id: FactoryId) -> String {
        self.get(id.0)
    }
    fn connector(&self, id: ConnectorId) -> String {
        self.get(id.0)
    }
    fn port(&self, id: PortId) -> String {
        self.get(id.0)
    }
    fn protocol(&self, id: ProtocolId) -> String {
        self.get(id.0)
    }
}
