//! Section 7 of `docs/spec.md`, The end (P-UNLOST, C-UNRESOLVED,
//! F-UNSTOPPED, S-UNSTOPPED): the obligations still unmet at `end`,
//! violations under the strict profile and warnings under the twisted one.
//!
//! An `end` with `scope: "test"` (a test's recording is over, and the
//! reactor runs on) is judged exactly as the reactor's end: what the test
//! left open is owed, as trial's dirty-reactor check also says. Only the
//! messages say which end it was.

use callorder_trace::{Scope, Step};

use super::connectors::phase_name;
use super::{fail, Check, Checker};
use crate::profile::Profile;
use crate::rules::Rule;
use crate::state::ConnectorPhase;
use crate::violation::{Object, Warning};

impl Checker {
    pub(super) fn end(&mut self, step: &Step) -> Check {
        self.pop_to(0);
        self.ended = true;
        let mut owed: Vec<(u64, Rule, Object, String)> = Vec::new();
        for (p, ps) in self.protocols.iter() {
            if ps.made {
                owed.push((
                    ps.born,
                    Rule::Unlost,
                    Object::Protocol(p),
                    format!("protocol {p:?} got connection_made but never connection_lost"),
                ));
            }
        }
        for (c, cs) in self.connectors.iter() {
            match cs.phase {
                ConnectorPhase::Disconnected | ConnectorPhase::Stuck => {}
                ConnectorPhase::AwaitDoStop { double: true, .. }
                    if self.profile == Profile::Strict => {}
                ConnectorPhase::AwaitDoStop { .. } => owed.push((
                    cs.born,
                    Rule::Unstopped,
                    Object::Connector(c),
                    format!("connector {c:?} owes the do_stop of its factory"),
                )),
                phase => owed.push((
                    cs.born,
                    Rule::Unresolved,
                    Object::Connector(c),
                    format!(
                        "connector {c:?} is {} and never got its outcome",
                        phase_name(phase)
                    ),
                )),
            }
        }
        for (l, ls) in self.ports.iter() {
            if ls.started && !ls.stuck {
                owed.push((
                    ls.born,
                    Rule::PortUnstopped,
                    Object::Port(l),
                    format!("port {l:?} never got its do_stop"),
                ));
            }
        }
        for rule in [
            Rule::Unlost,
            Rule::Unstopped,
            Rule::Unresolved,
            Rule::PortUnstopped,
            Rule::Unstopped,
        ] {
            self.coverage.hit(rule);
        }
        if owed.is_empty() {
            return Ok(());
        }
        owed.sort_by_key(|(born, ..)| *born);
        let test_end = step.scope == Some(Scope::Test);
        match self.profile {
            Profile::Strict => {
                let (_, rule, object, _) = owed[0];
                let all: Vec<String> = owed.iter().map(|(.., m)| m.clone()).collect();
                let message = if test_end {
                    format!(
                        "obligations unmet at the end of the test's recording (the reactor runs on, but the test is over): {}",
                        all.join("; ")
                    )
                } else {
                    format!("the trace ended with obligations unmet: {}", all.join("; "))
                };
                Err(fail(rule, Some(object), message))
            }
            Profile::Twisted => {
                if owed.iter().any(|(_, r, ..)| *r == Rule::Unlost) {
                    self.coverage.hit(Rule::PausedAtShutdown);
                }
                self.warnings
                    .extend(owed.into_iter().map(|(_, rule, object, message)| Warning {
                        rule,
                        seq: step.seq,
                        message: if test_end {
                            format!("{message}, at the end of the test's recording")
                        } else {
                            message
                        },
                        object: Some(object),
                    }));
                Ok(())
            }
        }
    }
}
