//! Section 1 of `docs/spec.md`, Nesting (T-DEPTH, T-NESTED): where an
//! event runs. The call stack of running callbacks, what an event at a
//! depth shows to have returned (`enter`, `pop_to`), a `within` naming its
//! callback, and which action delivers a nested callback (`check_nested`,
//! with the actions remembered by `set_source`).
//!
//! The hooks nested in a `do_start`/`do_stop` are judged in
//! `factories.rs`; what an outcome callback's return decides, in
//! `connectors.rs` (`on_return`).

use callorder_trace::{ConnectorId, Event, EventKind, Holder, Step};

use super::{fail, Check, Checker, Fail};
use crate::rules::Rule;
use crate::state::{Found, Frame, Source};

/// How many actions made inside callbacks that returned are remembered,
/// for the callbacks nested in a `within` naming one. The callbacks
/// themselves are found among the recent events
/// ([`Recent`](crate::state::Recent)); a `within` naming an older one is
/// trusted, not verified.
pub(super) const RETURNED_FRAMES: usize = 256;

/// What the checks of an event need of the callback it runs inside: a
/// `Frame` without its outcome fields, small enough to pass in registers
/// (copies of the whole frame through the stack were a visible cost).
#[derive(Clone, Copy, Debug)]
pub(super) struct Parent {
    pub(super) seq: u64,
    pub(super) depth: u32,
    pub(super) kind: EventKind,
}

impl Parent {
    #[inline]
    pub(super) fn of(frame: &Frame) -> Parent {
        Parent {
            seq: frame.seq,
            depth: frame.depth,
            kind: frame.kind,
        }
    }
}

impl Checker {
    /// Places the event on the call stack: the callbacks it shows to have
    /// returned are popped, and the callback it runs inside is returned.
    #[inline]
    pub(super) fn enter(&mut self, step: &Step) -> Result<Option<Parent>, Fail> {
        let d = step.depth as usize;
        self.coverage.hit(Rule::Depth);
        if let Some(w) = step.within {
            return self.enter_within(step, w);
        }
        if d > self.stack.len() {
            return Err(self.too_deep(d));
        }
        if self.stack.len() > d {
            self.pop_to(d);
        }
        Ok(if d == 0 {
            None
        } else {
            self.stack.last().map(Parent::of)
        })
    }

    /// [`enter`](Checker::enter) for an event that names its enclosing
    /// callback, which few traces do.
    #[inline(never)]
    fn enter_within(&mut self, step: &Step, w: u64) -> Result<Option<Parent>, Fail> {
        let d = step.depth as usize;
        if step.depth == 0 {
            return Err(fail(
                Rule::Depth,
                None,
                format!("within {w} at depth 0: a top-level event runs inside no callback"),
            ));
        }
        let frame = if let Some(f) = self.stack.iter().find(|f| f.seq == w) {
            Some(Parent::of(f))
        } else if w >= step.seq || w == 0 {
            return Err(fail(
                Rule::Depth,
                None,
                format!("within {w} names no earlier event"),
            ));
        } else {
            match self.recent.find(w, self.last_seq) {
                Found::Event(seen) if seen.event.kind().is_callback() => Some(Parent {
                    seq: seen.seq,
                    depth: seen.depth,
                    kind: seen.event.kind(),
                }),
                Found::Event(_) | Found::Nothing => {
                    return Err(fail(
                        Rule::Depth,
                        None,
                        format!("within {w} names an event that is not a callback"),
                    ))
                }
                Found::Forgotten => None, // Older than the events remembered: trusted.
            }
        };
        if let Some(f) = frame {
            if f.depth as usize + 1 != d {
                return Err(fail(
                    Rule::Depth,
                    None,
                    format!(
                        "depth {d} inside the callback at seq {w}, which ran at depth {}",
                        f.depth
                    ),
                ));
            }
        }
        // The implicit stack follows depth alone ("the nearest earlier
        // event whose depth is one less"), so `within` does not reshape it.
        if d <= self.stack.len() {
            self.pop_to(d);
        }
        if let Some(f) = frame {
            if let Some(pos) = self.stack.iter().position(|s| s.seq == f.seq) {
                return Ok(Some(Parent::of(&self.stack[pos])));
            }
        }
        Ok(frame)
    }

    #[cold]
    fn too_deep(&self, d: usize) -> Fail {
        let running = match self.stack.last() {
            Some(f) => format!(
                "the innermost running callback is {} at seq {} (depth {})",
                f.kind, f.seq, f.depth
            ),
            None => "no callback is running".to_owned(),
        };
        fail(
            Rule::Depth,
            None,
            format!(
                "depth {d} needs a running callback at depth {}, but {running}",
                d - 1
            ),
        )
    }

    /// Pops every callback at depth `d` or deeper: they returned.
    ///
    /// Most often one callback returns, and it decides nothing (it is no
    /// outcome callback). That case needs a load and a store, and is kept
    /// apart from the general loop so that it saves no registers: the
    /// loop's register saves cost more loads and stores than the pop
    /// itself, and the checker's speed follows its loads and stores. (What
    /// a returned callback's actions deliver stays in `sources` until a
    /// later callback at its depth acts; see `set_source`.)
    #[inline(never)]
    pub(super) fn pop_to(&mut self, d: usize) {
        if self.stack.len() == d + 1
            && !matches!(
                self.stack[d].kind,
                EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
            )
        {
            self.stack.truncate(d);
            return;
        }
        self.pop_all_to(d);
    }

    /// [`pop_to`](Checker::pop_to) in general.
    #[inline(never)]
    fn pop_all_to(&mut self, d: usize) {
        while self.stack.len() > d {
            // Field by field, not the whole frame: it was just written field
            // by field, and a wide copy of it stalled on the store buffer.
            let top = self.stack.len() - 1;
            let parent = Parent::of(&self.stack[top]);
            if matches!(
                parent.kind,
                EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
            ) {
                let frame = self.stack[top];
                self.on_return(&frame);
            }
            self.stack.truncate(top);
        }
    }

    /// A callback at depth >= 1 needs an action or a hook that delivers it.
    pub(super) fn check_nested(&mut self, step: &Step, parent: Option<Parent>) -> Check {
        let kind = step.event.kind();
        if matches!(kind, EventKind::StartFactory | EventKind::StopFactory) {
            return Ok(()); // Checked as a hook.
        }
        self.coverage.hit(Rule::Nested);
        let Some(parent) = parent else {
            return Ok(()); // `within` an old callback: trusted.
        };
        let source = self.source_of(parent);
        let delivered = source.is_some_and(|s| s.delivers && self.source_permits(&s, &step.event));
        if delivered {
            let src = source.expect("checked");
            match (src.action, kind) {
                (
                    EventKind::StopConnecting | EventKind::Disconnect,
                    EventKind::ClientConnectionFailed,
                ) if parent.kind == EventKind::StartedConnecting => {
                    self.coverage.hit(Rule::FailedInsideStarted)
                }
                (EventKind::Connect, EventKind::StartedConnecting) => {
                    self.coverage.hit(Rule::NestedRetry)
                }
                (EventKind::LoseConnection | EventKind::Disconnect, EventKind::ConnectionLost) => {
                    self.coverage.hit(Rule::LostInsideLose)
                }
                _ => {}
            }
            return Ok(());
        }
        let why = match source {
            Some(s) if s.delivers => format!(
                "the last action inside it, {}, does not deliver {kind}",
                s.action
            ),
            Some(s) => format!(
                "the last action inside it, {}, delivers nothing synchronously here",
                s.action
            ),
            None => "no action was made inside it".to_owned(),
        };
        Err(fail(
            Rule::Nested,
            self.object_of(&step.event),
            format!(
                "{kind} nested inside {} at seq {}, but {why}",
                parent.kind, parent.seq
            ),
        ))
    }

    fn source_permits(&self, s: &Source, event: &Event) -> bool {
        use EventKind as K;
        let conn_matches = |c: Option<ConnectorId>| c.is_some() && c == s.connector();
        match (s.action, *event) {
            (K::ConnectTcp | K::Connect, Event::DoStart { holder, factory }) => match holder {
                Some(Holder::Connector(c)) => conn_matches(Some(c)),
                Some(Holder::Port(_)) => false,
                None => s
                    .connector()
                    .and_then(|c| self.connectors.get(c))
                    .is_some_and(|c| c.factory == factory),
            },
            (K::ConnectTcp | K::Connect, Event::StartedConnecting { connector, .. }) => {
                conn_matches(Some(connector))
            }
            (K::ListenTcp, Event::DoStart { holder, .. }) => match holder {
                Some(Holder::Port(l)) => s.port() == Some(l),
                Some(Holder::Connector(_)) => false,
                None => true,
            },
            (
                K::StopConnecting | K::Disconnect,
                Event::ClientConnectionFailed { connector, .. },
            ) if s.protocol().is_none() => conn_matches(Some(connector)),
            (
                K::StopConnecting | K::Disconnect | K::LoseConnection,
                Event::DoStop { holder, .. },
            ) => match holder {
                Some(Holder::Connector(c)) => conn_matches(Some(c)),
                Some(Holder::Port(_)) => false,
                None => s.connector().is_some(),
            },
            (
                K::LoseConnection | K::Disconnect,
                Event::StopProducing { protocol } | Event::ConnectionLost { protocol, .. },
            ) => s.protocol() == Some(protocol),
            (K::LoseConnection | K::Disconnect, Event::ClientConnectionLost { connector, .. }) => {
                s.protocol().is_some() && conn_matches(Some(connector))
            }
            (K::Write, Event::PauseProducing { protocol }) => s.protocol() == Some(protocol),
            (
                K::RegisterProducer,
                Event::ResumeProducing { protocol } | Event::StopProducing { protocol },
            ) => s.protocol() == Some(protocol),
            _ => false,
        }
    }

    /// Records an action made inside `parent`, for the callbacks it may
    /// deliver nested at its depth.
    pub(super) fn set_source(&mut self, parent: Option<Parent>, source: Source) {
        let Some(parent) = parent else { return };
        let d = parent.depth as usize;
        match self.sources.get_mut(d) {
            // Another action of the same callback, running or returned.
            Some(slot) if slot.0 == parent.seq => {
                slot.1 = source;
                return;
            }
            _ => {}
        }
        if self.stack.get(d).is_some_and(|f| f.seq == parent.seq) {
            // The first action of a running callback: its slot takes over
            // from the last callback at its depth that acted, which has
            // returned, and whose source a `within` naming it may still
            // need. Kept here rather than when that callback returned:
            // most callbacks return with nothing to keep.
            if self.sources.len() <= d {
                self.sources.resize(d + 1, (0, source));
            }
            let (seq, old) = self.sources[d];
            if seq != 0 {
                self.remember_source(seq, old);
            }
            self.sources[d] = (parent.seq, source);
        } else if let Some(slot) = self
            .returned_sources
            .iter_mut()
            .find(|(seq, _)| *seq == parent.seq)
        {
            slot.1 = source;
        } else {
            self.remember_source(parent.seq, source);
        }
    }

    /// The last action made inside `frame`, running or returned.
    fn source_of(&self, frame: Parent) -> Option<Source> {
        match self.sources.get(frame.depth as usize) {
            Some((seq, s)) if *seq == frame.seq => Some(*s),
            _ => self
                .returned_sources
                .iter()
                .find(|(seq, _)| *seq == frame.seq)
                .map(|(_, s)| *s),
        }
    }

    /// Keeps the source of a returned callback, for a `within` naming it.
    fn remember_source(&mut self, seq: u64, source: Source) {
        if self.returned_sources.len() < RETURNED_FRAMES {
            self.returned_sources.push((seq, source));
        } else {
            self.returned_sources[self.returned_sources_next] = (seq, source);
            self.returned_sources_next = (self.returned_sources_next + 1) % RETURNED_FRAMES;
        }
    }
}
