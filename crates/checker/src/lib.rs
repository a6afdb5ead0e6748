//! The legal callback order between a reactor and Factory/Protocol objects,
//! as an executable spec.
//!
//! The reference semantics is real Twisted (26.10). The [`Checker`] is a pure
//! state machine (sans-IO, in the style of `quinn-proto`): feed it
//! [`Step`](callorder_trace::Step)s one at a time and it answers `Ok` or a
//! [`Violation`] that names the [`Rule`] broken, the event, the object with
//! its recent history and what would have been legal instead. It does no I/O
//! and no async, so the mock reactor, a real reactor or a trace file reader can
//! all drive it.
//!
//! Every rule has a stable id in [`Rule::TABLE`], citing the Twisted function
//! that makes it true and the `docs/semantics.md` ids it comes from.
//!
//! ```
//! use callorder_checker::{Checker, Profile, Rule};
//! use callorder_trace::{Event, FactoryId, Holder, PortId, ProtocolId, Reason, Step};
//!
//! let (f, l, p) = (FactoryId(1), PortId(1), ProtocolId(1));
//! let mut checker = Checker::new(Profile::Strict);
//! checker.step(&Step::new(1, Event::ListenTcp { factory: f, port: l })).unwrap();
//! checker.step(&Step::new(2, Event::DoStart { factory: f, holder: Some(Holder::Port(l)) })).unwrap();
//! checker.step(&Step::new(3, Event::StartFactory { factory: f }).at_depth(1)).unwrap();
//! checker.step(&Step::new(4, Event::BuildProtocol { factory: f, holder: Holder::Port(l), protocol: Some(p) })).unwrap();
//! // data before connection_made: Twisted never does that (G16).
//! let err = checker.step(&Step::new(5, Event::DataReceived { protocol: p, bytes: 3 })).unwrap_err();
//! assert_eq!(err.violation().unwrap().rule, Rule::BeforeMade);
//! ```
#![forbid(unsafe_code)]

mod checker;
mod coverage;
mod idmap;
mod profile;
mod rules;
mod runs;
mod state;
mod table;
mod violation;

pub use checker::{Checker, ObjectState};
pub use coverage::Coverage;
pub use profile::{Profile, UnknownProfile};
pub use rules::{Rule, RuleKind};
pub use violation::{CheckError, Object, Past, Violation, Warning};
