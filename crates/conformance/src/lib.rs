//! A reusable reactor conformance suite.
//!
//! Any reactor that runs callorder's `Factory`/`ClientFactory`/`Protocol`
//! implementations can run the suite in its own `cargo test`: it implements
//! [`World`], the world side of the contract (refusals, timeouts, failed
//! names, peers that send, read, half-close, close and reset, see
//! [`world`]), and [`run`] drives the probe factories of every case through
//! it, judges each trace with the checker and says which rules the suite
//! exercised. The mock reactor ([`MockWorld`], from scripts) and the tokio
//! reactor ([`TokioWorld`], with real loopback peers) both pass it.
//!
//! ```
//! use callorder_conformance::{run, MockWorld};
//!
//! let suite = run(&mut MockWorld);
//! assert!(suite.passed(), "{suite}");
//! assert_eq!(suite.cases.len(), callorder_conformance::cases::all().len());
//! ```
#![forbid(unsafe_code)]

pub mod cases;
mod mock_world;
pub mod probe;
mod suite;
mod tokio_world;
pub mod world;

pub use mock_world::MockWorld;
pub use suite::{run, run_cases, CaseReport, SuiteReport};
pub use tokio_world::TokioWorld;
pub use world::{Answer, PeerStep, Plan, SetUp, Site, World};
