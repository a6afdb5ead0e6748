//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::HashMap;
use std::path::PathBuf;

use callorder_trace::{
    name_hash, ConnectorId, FactoryId, Names, PortId, ProtocolId, ReadError, Record, TraceReader,
};

/// The project's fixtures, beside the workspace's crates.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted")
}

/// Reads a whole trace from memory.
pub fn read_all(bytes: &[u8]) -> Result<Vec<Record>, ReadError> {
    TraceReader::new(bytes).collect()
}

/// The first error reading `bytes`, if any (all records before it are
/// dropped).
pub fn first_error(bytes: &[u8]) -> Option<ReadError> {
    TraceReader::new(bytes).find_map(Result::err)
}

/// Names seen in a trace, by hash, so that records read from it can be
/// written back with the same names.
#[derive(Default, Debug)]
pub struct RememberedNames(pub HashMap<u64, String>);

impl RememberedNames {
    /// Remembers every id named in `text`, one JSON object per line.
    pub fn learn(&mut self, text: &str) {
        for line in text.lines() {
            let value: serde_json::Value =
                serde_json::from_str(line).expect("fixture line is JSON");
            for key in ["factory", "connector", "port", "protocol"] {
                if let Some(name) = value.get(key).and_then(|v| v.as_str()) {
                    self.0.insert(name_hash(name), name.to_owned());
                }
            }
        }
    }

    pub fn insert(&mut self, name: &str) -> u64 {
        self.0.insert(name_hash(name), name.to_owned());
        name_hash(name)
    }

    fn name(&self, hash: u64) -> String {
        self.0
            .get(&hash)
            .cloned()
            .unwrap_or_else(|| panic!("no name for hash {hash:#x}"))
    }
}

impl Names for RememberedNames {
    fn factory(&self, id: FactoryId) -> String {
        self.name(id.0)
    }
    fn connector(&self, id: ConnectorId) -> String {
        self.name(id.0)
    }
    fn port(&self, id: PortId) -> String {
        self.name(id.0)
    }
    fn protocol(&self, id: ProtocolId) -> String {
        self.name(id.0)
    }
}
