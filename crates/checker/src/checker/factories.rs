//! Section 3 of `docs/spec.md`, Factories (F-DO-START, F-START-HOOK,
//! F-DO-STOP, F-STOP-HOOK, F-DOUBLE-STOP): Twisted's start count
//! (`numPorts`), the start each connector and port holds on its factory,
//! and the `start_factory`/`stop_factory` hook owed right inside the
//! `do_start`/`do_stop` that finds the count at 0 or brings it there.
//!
//! The count and its hooks are `Factory.doStart`'s (`protocol.py`). A
//! `do_start`/`do_stop` with `hooks: false` is another factory's own
//! method: Twisted's `endpoints._WrappingFactory.doStart` passes the call
//! to the factory it wraps, and an `IProtocolFactory` (`interfaces.py`)
//! needs no `Factory` base at all. It still comes where a connector or a
//! port owes one, and the start is held as any other; but the count is
//! not moved, no hook is owed, and a hook nested in it is F-START-HOOK
//! (F-STOP-HOOK).

use callorder_trace::{EventKind, FactoryId, Holder, Step};

use super::connectors::phase_name;
use super::ids::connector_of;
use super::{fail, Check, Checker};
use crate::profile::Profile;
use crate::rules::Rule;
use crate::state::{ConnectorPhase, FactoryState};
use crate::violation::Object;

/// A `start_factory`/`stop_factory` hook that must come next.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hook {
    pub(super) kind: EventKind,
    pub(super) factory: FactoryId,
    pub(super) depth: u32,
    /// The do_start/do_stop it belongs to.
    pub(super) caller: u64,
    /// For start hooks: who took the start, to undo it if the hook raises.
    pub(super) holder: Option<Holder>,
}

impl Checker {
    /// The hook of a do_start/do_stop at count 0 must come right inside it.
    #[inline(never)]
    pub(super) fn check_hook(&mut self, step: &Step) -> Check {
        let kind = step.event.kind();
        match self.hook.take() {
            Some(hook) => {
                let rule = if hook.kind == EventKind::StartFactory {
                    Rule::StartHook
                } else {
                    Rule::StopHook
                };
                self.coverage.hit(rule);
                let fits = kind == hook.kind
                    && step.event.factory() == Some(hook.factory)
                    && step.depth == hook.depth + 1
                    && step.within.is_none_or(|w| w == hook.caller);
                if !fits {
                    self.hook = Some(hook);
                    let what = if hook.kind == EventKind::StartFactory {
                        "do_start"
                    } else {
                        "do_stop"
                    };
                    return Err(fail(
                        rule,
                        Some(Object::Factory(hook.factory)),
                        format!(
                            "expected {} at depth {} inside the {what} at seq {} (the start count {}), found {kind} at depth {}",
                            hook.kind,
                            hook.depth + 1,
                            hook.caller,
                            if hook.kind == EventKind::StartFactory { "was 0" } else { "reached 0" },
                            step.depth
                        ),
                    ));
                }
                if step.failed && hook.kind == EventKind::StartFactory && hook.holder.is_some() {
                    self.undo_start(hook.factory, hook.holder);
                }
                Ok(())
            }
            None => match kind {
                EventKind::StartFactory => {
                    self.coverage.hit(Rule::StartHook);
                    Err(fail(
                        Rule::StartHook,
                        step.event.factory().map(Object::Factory),
                        self.stray_hook(step, EventKind::DoStart)
                            .unwrap_or_else(|| {
                                "start_factory outside a do_start that found the start count at 0"
                                    .to_owned()
                            }),
                    ))
                }
                EventKind::StopFactory => {
                    self.coverage.hit(Rule::StopHook);
                    Err(fail(
                        Rule::StopHook,
                        step.event.factory().map(Object::Factory),
                        self.stray_hook(step, EventKind::DoStop).unwrap_or_else(|| {
                            "stop_factory outside a do_stop that brought the start count to 0"
                                .to_owned()
                        }),
                    ))
                }
                _ => Ok(()),
            },
        }
    }

    /// Why a hook nested directly in a `do_start` (`do_stop`) marked
    /// `hooks: false` is illegal; `None` if it is not nested in one.
    #[cold]
    fn stray_hook(&self, step: &Step, caller: EventKind) -> Option<String> {
        let (seq, kind) = self.hookless?;
        let enclosing = match (step.within, step.depth as usize) {
            (Some(w), _) => Some(w),
            (None, 0) => None,
            (None, d) => self.stack.get(d - 1).map(|f| f.seq),
        };
        (kind == caller && enclosing == Some(seq)).then(|| {
            let (hook, method) = if caller == EventKind::DoStart {
                ("start_factory", "doStart")
            } else {
                ("stop_factory", "doStop")
            };
            format!(
                "{hook} inside the {caller} at seq {seq}, which says hooks: false: that factory's {method} is not Factory's own (a forwarding factory such as endpoints._WrappingFactory, or an IProtocolFactory that is no Factory), so nothing calls its {hook} there"
            )
        })
    }

    /// The start count of `factory`, at 0 if it has none yet (a do_stop of
    /// a factory never started keeps it at 0, as Twisted's count does).
    #[inline]
    fn factory_state(&mut self, factory: FactoryId) -> &mut FactoryState {
        if !self.factories.is_live(factory) {
            self.factories.insert(factory, FactoryState::default());
        }
        self.factories.get_mut(factory).expect("inserted")
    }

    pub(super) fn do_start(
        &mut self,
        step: &Step,
        factory: FactoryId,
        holder: Option<Holder>,
    ) -> Check {
        self.coverage.hit(Rule::DoStart);
        let holder = match holder {
            Some(h) => h,
            None => self.find_holder(factory, true).ok_or_else(|| {
                fail(
                    Rule::DoStart,
                    Some(Object::Factory(factory)),
                    "do_start with no connector or port that owes one (connect_tcp, connect or listen_tcp)",
                )
            })?,
        };
        match holder {
            Holder::Connector(c) => {
                let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
                if conn.phase != ConnectorPhase::AwaitDoStart {
                    let why = if conn.holds {
                        "it holds a start on its factory already".to_owned()
                    } else {
                        format!("it is {}", phase_name(conn.phase))
                    };
                    return Err(fail(
                        Rule::DoStart,
                        Some(Object::Connector(c)),
                        format!("do_start for a connector that owes none: {why}"),
                    ));
                }
                conn.phase = ConnectorPhase::AwaitStarted;
                conn.holds = true;
            }
            Holder::Port(l) => {
                let Some(port) = self.ports.get(l) else {
                    return Err(self.unknown_port(l));
                };
                let expected = port.factory;
                self.factory_mismatch(Object::Port(l), expected, factory)?;
                let port = self.ports.get_mut(l).expect("present");
                if port.started || port.stuck {
                    return Err(fail(
                        Rule::DoStart,
                        Some(Object::Port(l)),
                        "a second do_start for one port",
                    ));
                }
                port.started = true;
            }
        }
        if !step.runs_factory_hooks() {
            self.hookless = Some((step.seq, EventKind::DoStart));
            if step.failed {
                self.stick(Some(holder));
            }
            return Ok(());
        }
        let f = self.factory_state(factory);
        let at_zero = f.num_ports == 0;
        f.num_ports += 1;
        if at_zero {
            self.hook = Some(Hook {
                kind: EventKind::StartFactory,
                factory,
                depth: step.depth,
                caller: step.seq,
                // Undone here already if do_start itself failed.
                holder: (!step.failed).then_some(holder),
            });
        }
        if step.failed {
            self.undo_start(factory, Some(holder));
        }
        Ok(())
    }

    /// start_factory raised inside do_start: Twisted's count did not move,
    /// and the connect or listen that asked for it raised (P11, S1).
    fn undo_start(&mut self, factory: FactoryId, holder: Option<Holder>) {
        if let Some(f) = self.factories.get_mut(factory) {
            f.num_ports = f.num_ports.saturating_sub(1);
        }
        self.stick(holder);
    }

    /// The holder of a start that raised holds nothing, and expects
    /// nothing more.
    fn stick(&mut self, holder: Option<Holder>) {
        match holder {
            Some(Holder::Connector(c)) => {
                if let Some(conn) = self.connectors.get_mut(c) {
                    conn.holds = false;
                    conn.phase = ConnectorPhase::Stuck;
                }
            }
            Some(Holder::Port(l)) => {
                if let Some(port) = self.ports.get_mut(l) {
                    port.stuck = true;
                    // Its listen raised: it never listened (S1).
                    port.started = false;
                }
            }
            None => {}
        }
    }

    /// The connector or port of `factory` that owes a do_start (`starting`)
    /// or a do_stop, created first. Only for traces that leave the holder out.
    fn find_holder(&self, factory: FactoryId, starting: bool) -> Option<Holder> {
        let conn = self
            .connectors
            .iter()
            .filter(|(_, s)| {
                s.factory == factory
                    && if starting {
                        s.phase == ConnectorPhase::AwaitDoStart
                    } else {
                        matches!(s.phase, ConnectorPhase::AwaitDoStop { .. })
                    }
            })
            .map(|(c, s)| (s.born, Holder::Connector(c)));
        let port = self
            .ports
            .iter()
            .filter(|(_, s)| {
                s.factory == factory
                    && if starting {
                        !s.started
                    } else {
                        s.stopping || self.shutdown
                    }
            })
            .map(|(l, s)| (s.born, Holder::Port(l)));
        conn.chain(port)
            .min_by_key(|(born, _)| *born)
            .map(|(_, h)| h)
    }

    pub(super) fn do_stop(
        &mut self,
        step: &Step,
        factory: FactoryId,
        holder: Option<Holder>,
    ) -> Check {
        self.coverage.hit(Rule::DoStop);
        let holder = match holder {
            Some(h) => h,
            None => self.find_holder(factory, false).ok_or_else(|| {
                fail(
                    Rule::DoStop,
                    Some(Object::Factory(factory)),
                    "do_stop with no connector or port that owes one",
                )
            })?,
        };
        // Twisted's count goes down on every accepted do_stop while above 0,
        // whether or not the holder held a start (the N2 double stop).
        match holder {
            Holder::Connector(c) => {
                let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
                match conn.phase {
                    ConnectorPhase::AwaitDoStop { double: false, .. } => {}
                    ConnectorPhase::AwaitDoStop {
                        double: true,
                        outcome,
                    } => {
                        self.coverage.hit(Rule::DoubleStop);
                        if self.profile == Profile::Strict {
                            return Err(fail(
                                Rule::DoubleStop,
                                Some(Object::Connector(c)),
                                format!(
                                    "a second do_stop for one start: the retry inside the {} at seq {outcome} already failed and stopped the factory (Twisted bug N2; the twisted profile accepts it)",
                                    "outcome callback"
                                ),
                            ));
                        }
                        self.coverage.hit(Rule::StopAtZero);
                    }
                    phase => {
                        let why = match phase {
                            ConnectorPhase::Outcome { frame } => {
                                format!("its outcome callback at seq {frame} is still running")
                            }
                            ConnectorPhase::Disconnected if !conn.holds => {
                                "it holds no start on its factory (no matching do_start)".to_owned()
                            }
                            p => format!("it is {}", phase_name(p)),
                        };
                        return Err(fail(
                            Rule::DoStop,
                            Some(Object::Connector(c)),
                            format!("do_stop for a connector that owes none: {why}"),
                        ));
                    }
                }
                conn.holds = false;
                conn.phase = ConnectorPhase::Disconnected;
            }
            Holder::Port(l) => {
                let Some(port) = self.ports.get(l) else {
                    if self.ports.is_ended(l) {
                        return Err(fail(
                            Rule::DoStop,
                            Some(Object::Port(l)),
                            "a second do_stop for one port",
                        ));
                    }
                    return Err(self.unknown_port(l));
                };
                let expected = port.factory;
                self.factory_mismatch(Object::Port(l), expected, factory)?;
                let port = self.ports.get(l).expect("present");
                if !port.started {
                    return Err(fail(
                        Rule::DoStop,
                        Some(Object::Port(l)),
                        "do_stop for a port that was never started",
                    ));
                }
                if !port.stopping && !self.shutdown {
                    return Err(fail(
                        Rule::DoStop,
                        Some(Object::Port(l)),
                        "do_stop for a port before stop_listening (or shutdown)",
                    ));
                }
                self.ports.end(l);
            }
        }
        if let Holder::Connector(c) = holder {
            self.make_idle(c);
        }
        if !step.runs_factory_hooks() {
            self.hookless = Some((step.seq, EventKind::DoStop));
            return Ok(());
        }
        let f = self.factory_state(factory);
        if f.num_ports > 0 {
            f.num_ports -= 1;
            if f.num_ports == 0 {
                self.hook = Some(Hook {
                    kind: EventKind::StopFactory,
                    factory,
                    depth: step.depth,
                    caller: step.seq,
                    holder: None,
                });
                self.factories.forget(factory);
            }
        }
        Ok(())
    }
}
