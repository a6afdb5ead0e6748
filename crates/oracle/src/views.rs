//! What each object looks like at a given moment, recomputed from its history.
//!
//! Every function here replays one object's happenings (oldest first, up to a
//! moment `upto`, an index into [`History::happenings`]) through Twisted's
//! state machine for that kind of object, as the spec describes it. Nothing is
//! cached: the oracle asks again whenever it needs to know.
//!
//! The replays trust the history: only accepted (legal) events are in it.

use callorder_trace::{ConnectorId, Event, FactoryId, Holder, PortId, ProtocolId, Reason, Step};

use crate::history::{Happening, History, Obj};

/// What a happening was, seen from one object's replay.
enum Seen<'a> {
    /// An accepted event, with the index of its entry.
    Event(usize, &'a Step),
    /// The callback entry with this index returned.
    Return(usize),
}

/// The happenings of `obj` before the moment `upto`.
fn replay(history: &History, obj: Obj, upto: usize) -> impl Iterator<Item = Seen<'_>> + '_ {
    history
        .of(obj)
        .iter()
        .take_while(move |&&h| h < upto)
        .map(|&h| match history.happenings[h] {
            Happening::Event(i) => Seen::Event(i, &history.entries[i].step),
            Happening::Return(i) => Seen::Return(i),
        })
}

/// Whether the entry `index` is a hook (`start_factory`) that raised inside
/// a `do_start` that did not: the start is undone (spec §3).
fn undone_start(history: &History, index: usize) -> bool {
    let entry = &history.entries[index];
    matches!(entry.step.event, Event::StartFactory { .. })
        && entry.step.failed
        && entry
            .parent
            .is_some_and(|p| !history.entries[p].step.failed)
}

/// Whether the entry `index` is a `do_start` or `do_stop` whose holder is `holder`.
fn held_by(history: &History, index: usize, holder: Holder) -> bool {
    history.entries[index].holder == Some(holder)
}

/// The start count `numPorts` of a factory (spec §3). A `do_start` or
/// `do_stop` with `hooks: false` is not `Factory`'s own and leaves it alone.
pub(crate) fn num_ports(history: &History, f: FactoryId, upto: usize) -> u32 {
    let mut count: u32 = 0;
    for seen in replay(history, Obj::Factory(f), upto) {
        let Seen::Event(index, step) = seen else {
            continue;
        };
        if !step.runs_factory_hooks() {
            continue;
        }
        match step.event {
            Event::DoStart { .. } if !step.failed => count += 1,
            Event::StartFactory { .. } if undone_start(history, index) => {
                count = count.saturating_sub(1);
            }
            Event::DoStop { .. } => count = count.saturating_sub(1),
            _ => {}
        }
    }
    count
}

/// The connectors and ports created for a factory, in creation order.
pub(crate) fn holders_of(history: &History, f: FactoryId, upto: usize) -> Vec<Holder> {
    replay(history, Obj::Factory(f), upto)
        .filter_map(|seen| match seen {
            Seen::Event(
                _,
                Step {
                    failed: false,
                    event: Event::ConnectTcp { connector, .. },
                    ..
                },
            ) => Some(Holder::Connector(*connector)),
            Seen::Event(
                _,
                Step {
                    failed: false,
                    event: Event::ListenTcp { port, .. },
                    ..
                },
            ) => Some(Holder::Port(*port)),
            _ => None,
        })
        .collect()
}

/// Whether `shutdown` happened before `upto`.
pub(crate) fn shut_down(history: &History, upto: usize) -> bool {
    replay(history, Obj::Reactor, upto).any(|seen| {
        matches!(
            seen,
            Seen::Event(
                _,
                Step {
                    event: Event::Shutdown,
                    ..
                }
            )
        )
    })
}

// ---------------------------------------------------------------- connectors

/// Why a connector is stuck: it owes nothing and expects nothing more.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Stuck {
    /// Its `do_start` or `start_factory` raised (spec §3).
    StartRaised,
    /// Its protocol's `connection_lost` raised (spec §6, P9).
    LostRaised,
}

/// Where a connector stands in its current attempt (spec §4, "States").
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Attempt {
    /// After `connect_tcp`/`connect`, before its `do_start`.
    AwaitingDoStart,
    /// After `do_start` (or a `connect` that needs none).
    AwaitingStarted,
    /// After `started_connecting`.
    Connecting,
    /// After `build_protocol`.
    Connected {
        /// The protocol built, if the build returned one and did not raise.
        protocol: Option<ProtocolId>,
        /// The build raised.
        raised: bool,
    },
    /// The protocol got `connection_lost` with this reason.
    Lost(Reason),
    /// An outcome callback is running and has not retried.
    InOutcome,
    /// The outcome callback returned: `do_stop` is owed.
    OwesDoStop,
    /// Idle: may `connect` again.
    Disconnected,
    /// Owes nothing, expects nothing.
    Stuck(Stuck),
}

/// An outcome callback (`client_connection_*`) of a connector that has not
/// returned yet.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) struct OutcomeFrame {
    /// Its entry.
    pub index: usize,
    /// It raised.
    pub failed: bool,
    /// It called `connect` (a retry, G6).
    pub retried: bool,
}

/// A connector at a moment.
#[derive(Clone, Debug)]
pub(crate) struct ConnectorView {
    /// The seq of its `connect_tcp`.
    pub created: u64,
    /// The factory it was created with.
    pub factory: FactoryId,
    /// Its current attempt.
    pub attempt: Attempt,
    /// It holds a start on its factory.
    pub holds: bool,
    /// The current attempt was cancelled (`stop_connecting`, or `disconnect`
    /// while connecting).
    pub cancelled: bool,
    /// Outcome callbacks that have not returned, innermost last.
    pub frames: Vec<OutcomeFrame>,
    /// N2: an outer outcome callback returned after its retry had already
    /// failed and stopped the factory (spec §3, F-DOUBLE-STOP).
    pub double_stop: bool,
    /// The outcome callback (entry index) whose return made do_stop owed.
    pub owed_by: Option<usize>,
}

impl ConnectorView {
    /// Twisted's state "connecting": an attempt is under way and has no outcome yet.
    pub fn is_connecting(&self) -> bool {
        matches!(
            self.attempt,
            Attempt::AwaitingDoStart | Attempt::AwaitingStarted | Attempt::Connecting
        )
    }
}

/// Replays a connector (spec §4, with §3 for starts and stops), or `None`
/// if it was never created.
pub(crate) fn connector(
    history: &History,
    c: ConnectorId,
    upto: usize,
    twisted: bool,
) -> Option<ConnectorView> {
    let me = Holder::Connector(c);
    let mut view: Option<ConnectorView> = None;
    for seen in replay(history, Obj::Connector(c), upto) {
        match seen {
            Seen::Event(
                _,
                Step {
                    failed: false,
                    event: Event::ConnectTcp { factory, .. },
                    seq,
                    ..
                },
            ) => {
                view = Some(ConnectorView {
                    created: *seq,
                    factory: *factory,
                    attempt: Attempt::AwaitingDoStart,
                    holds: false,
                    cancelled: false,
                    frames: Vec::new(),
                    double_stop: false,
                    owed_by: None,
                });
            }
            Seen::Event(index, step) => {
                if let Some(v) = view.as_mut() {
                    apply_connector_event(history, v, me, index, step);
                }
            }
            Seen::Return(index) => {
                if let Some(v) = view.as_mut() {
                    apply_connector_return(v, index, twisted);
                }
            }
        }
    }
    view
}

fn apply_connector_event(
    history: &History,
    v: &mut ConnectorView,
    me: Holder,
    index: usize,
    step: &Step,
) {
    match step.event {
        Event::DoStart { .. } if held_by(history, index, me) => {
            if step.failed {
                v.attempt = Attempt::Stuck(Stuck::StartRaised);
            } else {
                v.holds = true;
                v.attempt = Attempt::AwaitingStarted;
            }
        }
        Event::StartFactory { .. } if undone_start(history, index) => {
            v.holds = false;
            v.attempt = Attempt::Stuck(Stuck::StartRaised);
        }
        Event::StartedConnecting { .. } => v.attempt = Attempt::Connecting,
        Event::BuildProtocol { protocol, .. } => {
            v.attempt = Attempt::Connected {
                protocol: if step.failed { None } else { protocol },
                raised: step.failed,
            };
        }
        // The connection of the current attempt ended (P9 if it raised).
        Event::ConnectionLost { protocol, reason }
            if v.attempt
                == (Attempt::Connected {
                    protocol: Some(protocol),
                    raised: false,
                }) =>
        {
            v.attempt = if step.failed {
                Attempt::Stuck(Stuck::LostRaised)
            } else {
                Attempt::Lost(reason)
            };
        }
        Event::ClientConnectionFailed { .. } | Event::ClientConnectionLost { .. } => {
            v.attempt = Attempt::InOutcome;
            v.frames.push(OutcomeFrame {
                index,
                failed: step.failed,
                retried: false,
            });
        }
        Event::Connect { .. } if !step.failed => {
            if v.attempt == Attempt::InOutcome {
                // A retry inside the outcome callback (G6): no do_start, no do_stop.
                if let Some(frame) = v.frames.last_mut() {
                    frame.retried = true;
                }
                v.attempt = Attempt::AwaitingStarted;
            } else {
                v.attempt = if v.holds {
                    Attempt::AwaitingStarted
                } else {
                    Attempt::AwaitingDoStart
                };
            }
            v.cancelled = false;
            v.double_stop = false;
        }
        // Cancels the attempt if there is one (else disconnect is a no-op or
        // a lose_connection, which the protocol sees).
        Event::StopConnecting { .. } | Event::Disconnect { .. }
            if !step.failed && v.is_connecting() =>
        {
            v.cancelled = true;
        }
        Event::DoStop { .. } if held_by(history, index, me) => {
            v.holds = false;
            v.attempt = Attempt::Disconnected;
            v.double_stop = false;
        }
        _ => {}
    }
}

/// An outcome callback returned (spec §4, "After an outcome callback").
fn apply_connector_return(v: &mut ConnectorView, index: usize, twisted: bool) {
    let Some(at) = v.frames.iter().position(|f| f.index == index) else {
        return;
    };
    let frame = v.frames.remove(at);
    if frame.retried {
        // The retry's attempt goes on; no do_stop is owed ... unless (N2) the
        // retry already failed and stopped the factory before we returned.
        if !frame.failed && v.attempt == Attempt::Disconnected && !v.holds {
            v.double_stop = true;
            if twisted {
                v.attempt = Attempt::OwesDoStop;
            }
        }
    } else if frame.failed {
        // P10: disconnected, and still holding the start.
        v.attempt = Attempt::Disconnected;
    } else if v.holds {
        v.attempt = Attempt::OwesDoStop;
        v.owed_by = Some(index);
    } else {
        v.attempt = Attempt::Disconnected;
    }
}

// --------------------------------------------------------------------- ports

/// Where a port stands (spec §5).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum PortState {
    /// After `listen_tcp`, before its `do_start`.
    AwaitingDoStart,
    /// Started: holds a start on its factory.
    Listening,
    /// After its `do_stop`.
    Stopped,
    /// Its `do_start` or `start_factory` raised.
    Stuck,
}

/// A port at a moment.
#[derive(Clone, Debug)]
pub(crate) struct PortView {
    /// The seq of its `listen_tcp`.
    pub created: u64,
    /// The factory it was created with.
    pub factory: FactoryId,
    /// Where it stands.
    pub state: PortState,
    /// `stop_listening` was called.
    pub stop_requested: bool,
}

/// Replays a port, or `None` if it was never created.
pub(crate) fn port(history: &History, l: PortId, upto: usize) -> Option<PortView> {
    let me = Holder::Port(l);
    let mut view: Option<PortView> = None;
    for seen in replay(history, Obj::Port(l), upto) {
        let Seen::Event(index, step) = seen else {
            continue;
        };
        if let Event::ListenTcp { factory, .. } = step.event {
            if !step.failed {
                view = Some(PortView {
                    created: step.seq,
                    factory,
                    state: PortState::AwaitingDoStart,
                    stop_requested: false,
                });
            }
            continue;
        }
        let Some(v) = view.as_mut() else { continue };
        match step.event {
            Event::DoStart { .. } if held_by(history, index, me) => {
                v.state = if step.failed {
                    PortState::Stuck
                } else {
                    PortState::Listening
                };
            }
            Event::StartFactory { .. } if undone_start(history, index) => {
                v.state = PortState::Stuck
            }
            Event::StopListening { .. } if !step.failed => v.stop_requested = true,
            Event::DoStop { .. } if held_by(history, index, me) => v.state = PortState::Stopped,
            _ => {}
        }
    }
    view
}

/// Whether a port owes its `do_stop` at `upto` (spec §3, §5).
pub(crate) fn port_owes_stop(history: &History, view: &PortView, upto: usize) -> bool {
    view.state == PortState::Listening && (view.stop_requested || shut_down(history, upto))
}

// ----------------------------------------------------------------- protocols

/// The producer registered on a protocol's transport (spec §6).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) struct Producer {
    /// A push (streaming) producer, else a pull producer.
    pub streaming: bool,
    /// A streaming producer that got `pause_producing` and no `resume_producing` since.
    pub paused: bool,
}

/// A protocol at a moment.
#[derive(Clone, Debug)]
pub(crate) struct ProtocolView {
    /// The seq of its `build_protocol`.
    pub created: u64,
    /// Who built it.
    pub owner: Holder,
    /// Got `connection_made`.
    pub made: bool,
    /// Got `connection_lost`.
    pub lost: bool,
    /// Got `read_connection_lost`.
    pub read_closed: bool,
    /// Got `write_connection_lost`.
    pub write_closed: bool,
    /// Called `lose_write_connection` (and it did not raise).
    pub write_close_requested: bool,
    /// A callback raised: the next transport callback must be `connection_lost` (P-RAISED).
    pub raised: bool,
    /// The producer registered now.
    pub producer: Option<Producer>,
    /// `stop_producing` calls owed to producers registered after the loss.
    pub stops_after_loss: u32,
}

impl ProtocolView {
    /// Built by a connector (a client protocol).
    pub fn is_client(&self) -> bool {
        matches!(self.owner, Holder::Connector(_))
    }
}

/// Replays a protocol (spec §6), or `None` if it was never built.
pub(crate) fn protocol(history: &History, p: ProtocolId, upto: usize) -> Option<ProtocolView> {
    let mut view: Option<ProtocolView> = None;
    for seen in replay(history, Obj::Protocol(p), upto) {
        let Seen::Event(_, step) = seen else { continue };
        if let Event::BuildProtocol {
            holder,
            protocol: Some(q),
            ..
        } = step.event
        {
            if q == p && !step.failed {
                view = Some(ProtocolView {
                    created: step.seq,
                    owner: holder,
                    made: false,
                    lost: false,
                    read_closed: false,
                    write_closed: false,
                    write_close_requested: false,
                    raised: false,
                    producer: None,
                    stops_after_loss: 0,
                });
            }
            continue;
        }
        let Some(v) = view.as_mut() else { continue };
        match step.event {
            Event::ConnectionMade { .. } => {
                v.made = true;
                v.raised |= step.failed && v.is_client();
            }
            Event::DataReceived { .. } => v.raised |= step.failed,
            Event::ReadConnectionLost { .. } => {
                v.read_closed = true;
                v.raised |= step.failed;
            }
            Event::WriteConnectionLost { .. } => {
                v.write_closed = true;
                v.raised |= step.failed;
            }
            Event::ConnectionLost { .. } => {
                v.lost = true;
                v.raised = false;
            }
            Event::LoseWriteConnection { .. } if !step.failed => v.write_close_requested = true,
            Event::RegisterProducer { streaming, .. } if !step.failed => {
                if v.lost {
                    v.stops_after_loss += 1;
                } else {
                    v.producer = Some(Producer {
                        streaming,
                        paused: false,
                    });
                }
            }
            Event::UnregisterProducer { .. } if !step.failed => v.producer = None,
            Event::PauseProducing { .. } => {
                if let Some(producer) = v.producer.as_mut() {
                    producer.paused = true;
                }
            }
            Event::ResumeProducing { .. } => {
                if let Some(producer) = v.producer.as_mut() {
                    producer.paused = false;
                }
            }
            Event::StopProducing { .. } => {
                if v.producer.is_some() {
                    v.producer = None;
                } else {
                    v.stops_after_loss = v.stops_after_loss.saturating_sub(1);
                }
            }
            _ => {}
        }
    }
    view
}
