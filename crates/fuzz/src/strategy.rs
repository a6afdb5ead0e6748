//! Proptest strategies for scripts: what the world does to an
//! implementation, as data that shrinks well.
//!
//! A generated case is a list of [`WorldAction`]s, not a [`Script`]: each
//! action names the world's move in relative terms ("answer the next
//! outgoing attempt", "send on the second connection opened so far") and
//! [`lower`] turns the list into a script. So proptest's `Vec` shrinking,
//! which removes actions one by one, always leaves a script that still makes
//! sense, and each action shrinks on its own: enum variants are ordered
//! simple first (an accepted connection before a refused one, one chunk
//! before many, a short delay before a long one), which is where proptest's
//! unions shrink to.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use callorder::strategy::{case, ScriptConfig};
//!
//! let mut runner = TestRunner::deterministic();
//! let tree = case(&ScriptConfig::default()).new_tree(&mut runner).unwrap();
//! let script = tree.current().script();
//! // Every script ends with the application shutting the reactor down.
//! assert_eq!(script.steps().last(), Some(&callorder::Step::Shutdown));
//! ```

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use callorder_core::Address;

use crate::choice::Choice;
use crate::swarm::{Kind, Swarmed};
use callorder_harness::{Bytes, Conn, Outcome, Script, WorldEvent};

/// How the bytes of one send are cut into chunks, each delivered in a turn
/// of its own (or, inside a batch, as separate events of the same turn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// All the bytes in one chunk.
    Whole,
    /// Chunks of this many bytes (the last may be shorter); 1 is byte by byte.
    Size(usize),
    /// Cut at these offsets (out-of-range and repeated offsets are ignored).
    Cuts(Vec<usize>),
}

impl Chunking {
    /// The chunks `bytes` is cut into: never empty chunks, and none at all
    /// for no bytes.
    ///
    /// ```
    /// use callorder::strategy::Chunking;
    /// assert_eq!(Chunking::Size(2).split(b"abcde"), [&b"ab"[..], b"cd", b"e"]);
    /// assert_eq!(Chunking::Cuts(vec![4, 1, 1, 99]).split(b"abcde"), [&b"a"[..], b"bcd", b"e"]);
    /// assert_eq!(Chunking::Whole.split(b"abc"), [&b"abc"[..]]);
    /// ```
    pub fn split<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        if bytes.is_empty() {
            return Vec::new();
        }
        match self {
            Chunking::Whole => vec![bytes],
            Chunking::Size(n) => bytes.chunks((*n).max(1)).collect(),
            Chunking::Cuts(cuts) => {
                let mut cuts: Vec<usize> = cuts
                    .iter()
                    .copied()
                    .filter(|&c| c > 0 && c < bytes.len())
                    .collect();
                cuts.sort_unstable();
                cuts.dedup();
                let mut out = Vec::with_capacity(cuts.len() + 1);
                let mut from = 0;
                for c in cuts {
                    out.push(&bytes[from..c]);
                    from = c;
                }
                out.push(&bytes[from..]);
                out
            }
        }
    }
}

/// One move of the world, in terms that stay meaningful when moves before
/// it are removed.
///
/// Connections are named by `conn`, an index (taken modulo their number)
/// into the connections the case has opened so far: client connections as
/// attempts are answered [`Outcome::Accept`], server connections as peers
/// connect. An action on a connection before any is open does nothing and
/// is left out of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorldAction {
    /// The next outgoing attempt (counted over the run) is answered.
    Resolve(Outcome),
    /// A peer connects to the first port listened on.
    Accept,
    /// The peer sends `bytes`, cut as `chunking` says.
    Send {
        /// Which connection (an index into those opened so far).
        conn: usize,
        /// The bytes.
        bytes: Vec<u8>,
        /// How they are cut.
        chunking: Chunking,
    },
    /// Virtual time passes: timeouts and retry delays fire.
    Advance(Duration),
    /// The peer closes cleanly.
    Close {
        /// Which connection.
        conn: usize,
    },
    /// The peer closes its writing side.
    HalfClose {
        /// Which connection.
        conn: usize,
    },
    /// The peer resets the connection.
    Reset {
        /// Which connection.
        conn: usize,
    },
    /// The peer reads only this many more bytes (`None`: everything).
    Window {
        /// Which connection.
        conn: usize,
        /// The peer's read window.
        bytes: Option<usize>,
    },
    /// The next write to the socket fails.
    WriteError {
        /// Which connection.
        conn: usize,
    },
    /// The application stops the first port.
    StopListening,
    /// A peer connects to the `port`-th port listened on (from 1): for
    /// set-ups that listen on several ports over one factory.
    AcceptOn {
        /// Which port, from 1.
        port: usize,
    },
    /// The application stops the `port`-th port listened on (from 1).
    StopListeningOn {
        /// Which port, from 1.
        port: usize,
    },
    /// Several of the other actions, ready in the same turn (`Advance`,
    /// `Shutdown` and nested batches are left out when lowered).
    Batch(Vec<WorldAction>),
    /// The application shuts the reactor down now; later actions are
    /// dropped.
    Shutdown,
}

/// One generated case: the reactor's seed, how many connectors a client
/// set-up makes, and what the world does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The mock reactor's random seed (the `seed` line of the script).
    pub seed: u64,
    /// How many connectors a client set-up makes (from 1).
    pub connectors: usize,
    /// What the world does.
    pub actions: Vec<WorldAction>,
}

impl Case {
    /// The script this case lowers to (see [`lower`]).
    pub fn script(&self) -> Script {
        lower(&self.actions)
    }

    /// The same case with every send cut by `chunking` instead: the same
    /// incoming bytes, at other chunk boundaries.
    ///
    /// ```
    /// use callorder::strategy::{Case, Chunking, WorldAction};
    /// let case = Case {
    ///     seed: 0,
    ///     connectors: 1,
    ///     actions: vec![
    ///         WorldAction::Accept,
    ///         WorldAction::Send { conn: 0, bytes: b"abc".to_vec(), chunking: Chunking::Whole },
    ///     ],
    /// };
    /// assert_eq!(case.script().steps().len(), 3);
    /// assert_eq!(case.rechunked(&Chunking::Size(1)).script().steps().len(), 5);
    /// ```
    #[must_use]
    pub fn rechunked(&self, chunking: &Chunking) -> Case {
        fn go(a: &WorldAction, chunking: &Chunking) -> WorldAction {
            match a {
                WorldAction::Send { conn, bytes, .. } => WorldAction::Send {
                    conn: *conn,
                    bytes: bytes.clone(),
                    chunking: chunking.clone(),
                },
                WorldAction::Batch(inner) => {
                    WorldAction::Batch(inner.iter().map(|a| go(a, chunking)).collect())
                }
                other => other.clone(),
            }
        }
        Case {
            actions: self.actions.iter().map(|a| go(a, chunking)).collect(),
            ..self.clone()
        }
    }

    /// Cases one step simpler than this one, simplest first: one action
    /// fewer, one batched event fewer, a batch of one unwrapped, a send in
    /// one chunk, one connector fewer, seed 0. The fuzzer tries them after
    /// proptest's shrinking, which deletes elements of a `Vec` only once,
    /// before it shrinks the elements themselves.
    ///
    /// ```
    /// use callorder::strategy::{Case, WorldAction};
    /// let case = Case { seed: 3, connectors: 1, actions: vec![WorldAction::Accept, WorldAction::StopListening] };
    /// let simpler = case.simplifications();
    /// assert_eq!(simpler[0].actions, [WorldAction::StopListening]);
    /// assert_eq!(simpler.last().unwrap().seed, 0);
    /// ```
    pub fn simplifications(&self) -> Vec<Case> {
        let mut out = Vec::new();
        let with = |actions: Vec<WorldAction>| Case {
            actions,
            ..self.clone()
        };
        for i in 0..self.actions.len() {
            let mut actions = self.actions.clone();
            actions.remove(i);
            out.push(with(actions));
        }
        for (i, action) in self.actions.iter().enumerate() {
            match action {
                WorldAction::Batch(inner) if inner.len() == 1 => {
                    let mut actions = self.actions.clone();
                    actions[i] = inner[0].clone();
                    out.push(with(actions));
                }
                WorldAction::Batch(inner) => {
                    for j in 0..inner.len() {
                        let mut smaller = inner.clone();
                        smaller.remove(j);
                        let mut actions = self.actions.clone();
                        actions[i] = WorldAction::Batch(smaller);
                        out.push(with(actions));
                    }
                }
                WorldAction::Send {
                    conn,
                    bytes,
                    chunking,
                } if *chunking != Chunking::Whole => {
                    let mut actions = self.actions.clone();
                    actions[i] = WorldAction::Send {
                        conn: *conn,
                        bytes: bytes.clone(),
                        chunking: Chunking::Whole,
                    };
                    out.push(with(actions));
                }
                _ => {}
            }
        }
        if self.connectors > 1 {
            out.push(Case {
                connectors: self.connectors - 1,
                ..self.clone()
            });
        }
        if self.seed != 0 {
            out.push(Case {
                seed: 0,
                ..self.clone()
            });
        }
        out
    }

    /// Whether some send has at least two bytes: whether re-chunking can
    /// change anything.
    pub fn can_rechunk(&self) -> bool {
        fn go(a: &WorldAction) -> bool {
            match a {
                WorldAction::Send { bytes, .. } => bytes.len() >= 2,
                WorldAction::Batch(inner) => inner.iter().any(go),
                _ => false,
            }
        }
        self.actions.iter().any(go)
    }
}

/// Turns world actions into a script: attempts are numbered in the order
/// they are answered, connections in the order they are opened, and the
/// script always ends with `shutdown` (a `Shutdown` action ends it early).
///
/// ```
/// use callorder::strategy::{lower, Chunking, WorldAction};
/// use callorder::{print_script, Outcome, ScriptFile};
///
/// let script = lower(&[
///     WorldAction::Resolve(Outcome::Refuse),
///     WorldAction::Resolve(Outcome::Accept),
///     WorldAction::Send { conn: 0, bytes: b"hi\n".to_vec(), chunking: Chunking::Size(2) },
///     WorldAction::Close { conn: 7 },
/// ]);
/// assert_eq!(
///     print_script(&ScriptFile::from(script)),
///     "resolve 1 refuse\nresolve 2 accept\nsend client 2 \"hi\"\nsend client 2 \"\\n\"\nclose client 2\nshutdown\n",
/// );
/// ```
pub fn lower(actions: &[WorldAction]) -> Script {
    let mut lowering = Lowering {
        next_attempt: 1,
        servers: 0,
        conns: Vec::new(),
        servers_first: first_open_is_accept(actions),
    };
    let mut script = Script::new();
    for action in actions {
        match action {
            WorldAction::Advance(by) => script = script.advance(*by),
            WorldAction::Shutdown => return script.shutdown(),
            WorldAction::Batch(inner) => {
                let events: Vec<WorldEvent> = inner
                    .iter()
                    .filter(|a| {
                        !matches!(
                            a,
                            WorldAction::Advance(_) | WorldAction::Shutdown | WorldAction::Batch(_)
                        )
                    })
                    .flat_map(|a| lowering.steps(a).into_iter().flatten())
                    .collect();
                if !events.is_empty() {
                    script = script.batch(events);
                }
            }
            other => {
                for events in lowering.steps(other) {
                    script = script.batch(events);
                }
            }
        }
    }
    script.shutdown()
}

/// What lowering has opened so far.
struct Lowering {
    next_attempt: usize,
    servers: usize,
    conns: Vec<Conn>,
    /// The case opens server connections (a peer connecting) before
    /// client ones: the next connection a window waits for is a server's.
    servers_first: bool,
}

/// Whether the first action that opens a connection is a peer connecting
/// (not an answered attempt).
fn first_open_is_accept(actions: &[WorldAction]) -> bool {
    actions
        .iter()
        .find_map(|a| match a {
            WorldAction::Accept | WorldAction::AcceptOn { .. } => Some(true),
            WorldAction::Resolve(_) => Some(false),
            WorldAction::Batch(inner) => inner.iter().find_map(|a| match a {
                WorldAction::Accept | WorldAction::AcceptOn { .. } => Some(true),
                WorldAction::Resolve(_) => Some(false),
                _ => None,
            }),
            _ => None,
        })
        .unwrap_or(false)
}

impl Lowering {
    /// A peer connects to port `port`.
    fn accept(&mut self, port: usize) -> Vec<Vec<WorldEvent>> {
        self.servers += 1;
        self.conns.push(Conn::Server(self.servers));
        vec![vec![WorldEvent::Accept {
            port,
            peer: Address::new(format!("10.0.0.{}:{}", self.servers, 50000 + self.servers)),
        }]]
    }

    fn conn(&self, index: usize) -> Option<Conn> {
        (!self.conns.is_empty()).then(|| self.conns[index % self.conns.len()])
    }

    /// The steps of one (non-batch) action, each a list of events.
    fn steps(&mut self, action: &WorldAction) -> Vec<Vec<WorldEvent>> {
        let on = |conn: &usize, f: fn(Conn) -> WorldEvent| {
            self.conn(*conn)
                .map(|c| vec![vec![f(c)]])
                .unwrap_or_default()
        };
        match action {
            WorldAction::Resolve(outcome) => {
                let attempt = self.next_attempt;
                self.next_attempt += 1;
                if *outcome == Outcome::Accept {
                    self.conns.push(Conn::Client(attempt));
                }
                vec![vec![WorldEvent::Resolve {
                    attempt,
                    outcome: *outcome,
                }]]
            }
            WorldAction::Accept => self.accept(1),
            WorldAction::AcceptOn { port } => self.accept(*port),
            WorldAction::Send {
                conn,
                bytes,
                chunking,
            } => match self.conn(*conn) {
                Some(c) => chunking
                    .split(bytes)
                    .into_iter()
                    .map(|chunk| {
                        vec![WorldEvent::Send {
                            conn: c,
                            bytes: Bytes::copy_from_slice(chunk),
                        }]
                    })
                    .collect(),
                None => Vec::new(),
            },
            WorldAction::Close { conn } => on(conn, |conn| WorldEvent::Close { conn }),
            WorldAction::HalfClose { conn } => on(conn, |conn| WorldEvent::HalfClose { conn }),
            WorldAction::Reset { conn } => on(conn, |conn| WorldEvent::Reset { conn }),
            WorldAction::WriteError { conn } => on(conn, |conn| WorldEvent::WriteError { conn }),
            WorldAction::Window { conn, bytes } => {
                // The index just past the connections opened so far (any
                // index, before the first) names the next one to open
                // (larger ones wrap around the open ones, as for other
                // actions): a window waits for its connection and
                // holds from its start, so a peer can be slow from the
                // first byte (what fills a write buffer before the
                // connection's first turn is over).
                let c = if *conn == self.conns.len() || self.conns.is_empty() {
                    Some(if self.servers_first {
                        Conn::Server(self.servers + 1)
                    } else {
                        Conn::Client(self.next_attempt)
                    })
                } else {
                    self.conn(*conn)
                };
                c.map(|conn| {
                    vec![vec![WorldEvent::Window {
                        conn,
                        bytes: *bytes,
                    }]]
                })
                .unwrap_or_default()
            }
            WorldAction::StopListening => vec![vec![WorldEvent::StopListening { port: 1 }]],
            WorldAction::StopListeningOn { port } => {
                vec![vec![WorldEvent::StopListening { port: *port }]]
            }
            WorldAction::Advance(_) | WorldAction::Shutdown | WorldAction::Batch(_) => Vec::new(),
        }
    }
}

/// What the strategies generate, and how much of it.
#[derive(Clone, Debug)]
pub struct ScriptConfig {
    /// Generate answers to outgoing attempts (for client set-ups).
    pub clients: bool,
    /// Generate peers connecting, and `stop_listening` (for server set-ups).
    pub servers: bool,
    /// The fewest actions in a case (default 0; at most `max_actions`).
    pub min_actions: usize,
    /// The most actions in a case.
    pub max_actions: usize,
    /// The most connectors a client set-up makes (for a server set-up:
    /// the most ports it listens on).
    pub max_connectors: usize,
    /// The most ports a server set-up listens on: `Accept` and
    /// `StopListening` also name ports up to this one (default 1).
    pub max_ports: usize,
    /// Swarm testing (default on): each case draws its own weights over
    /// the kinds of action (some cases mostly windows, others mostly
    /// resets, some with no shutdown until the end), from its own random
    /// stream, so that deep states are reached early. Off: every case
    /// draws from the same weights.
    pub swarm: bool,
    /// How many connections an action may name (indexes `0..max_conns`).
    pub max_conns: usize,
    /// How often time passes, against 10 for single events (default 3).
    pub advance_weight: u32,
    /// The delays `Advance` picks from, shortest first (shrinking goes to
    /// the first).
    pub delays: Vec<Duration>,
    /// The bytes peers send (`None`: [`payload`]).
    pub payloads: Option<BoxedStrategy<Vec<u8>>>,
}

impl Default for ScriptConfig {
    fn default() -> Self {
        ScriptConfig {
            clients: true,
            servers: true,
            min_actions: 0,
            max_actions: 24,
            max_connectors: 2,
            max_ports: 1,
            swarm: true,
            max_conns: 3,
            advance_weight: 3,
            delays: default_delays(),
            payloads: None,
        }
    }
}

impl ScriptConfig {
    /// Adds `delay` and the instants just around it to the delays `Advance`
    /// picks from: for a connect timeout or a retry delay of the
    /// implementation.
    ///
    /// ```
    /// use std::time::Duration;
    /// use callorder::strategy::ScriptConfig;
    /// let c = ScriptConfig::default().around(Duration::from_secs(7));
    /// assert!(c.delays.contains(&Duration::from_millis(6_999)));
    /// assert!(c.delays.windows(2).all(|w| w[0] < w[1]));
    /// ```
    #[must_use]
    pub fn around(mut self, delay: Duration) -> Self {
        let ms = Duration::from_millis(1);
        self.delays
            .extend([delay.saturating_sub(ms), delay, delay + ms]);
        self.delays.retain(|d| !d.is_zero());
        self.delays.sort_unstable();
        self.delays.dedup();
        self
    }
}

/// The delays `Advance` picks from by default: from a millisecond to an hour,
/// with Twisted's retry delays (1 s, e s, ...) and the usual 30 s connect
/// timeout covered.
pub fn default_delays() -> Vec<Duration> {
    [
        1, 100, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 30_000, 60_000, 600_000, 3_600_000,
    ]
    .into_iter()
    .map(Duration::from_millis)
    .collect()
}

/// How an attempt goes: accepted most often, and first when shrinking.
pub fn outcome() -> BoxedStrategy<Outcome> {
    Choice::new(vec![
        (3, Just(Outcome::Accept).boxed()),
        (1, Just(Outcome::Refuse).boxed()),
        (1, Just(Outcome::DnsFailure).boxed()),
        (1, Just(Outcome::Fail).boxed()),
    ])
    .boxed()
}

/// How a send is cut: whole first, then fixed sizes (shrinking towards
/// bigger chunks), then arbitrary cut points (shrinking towards fewer).
pub fn chunking() -> BoxedStrategy<Chunking> {
    Choice::new(vec![
        (2, Just(Chunking::Whole).boxed()),
        (2, (0usize..8).prop_map(|k| Chunking::Size(8 - k)).boxed()),
        (1, vec(1usize..48, 1..6).prop_map(Chunking::Cuts).boxed()),
    ])
    .boxed()
}

/// The bytes a peer sends by default: short text lines (ended by `\r\n` or
/// `\n`) most often, then printable text, then any bytes. Shrinks towards
/// the line `a\r\n`.
pub fn payload() -> BoxedStrategy<Vec<u8>> {
    const WORDS: &[&str] = &["a", "hello", "PING", "QUIT", "x y", "12345", ""];
    const ENDS: &[&str] = &["\r\n", "\n"];
    let line =
        (select(WORDS), select(ENDS)).prop_map(|(w, end)| [w.as_bytes(), end.as_bytes()].concat());
    Choice::new(vec![
        (4, vec(line, 1..4).prop_map(|lines| lines.concat()).boxed()),
        (2, vec(0x20u8..0x7f, 1..24).boxed()),
        (1, vec(any::<u8>(), 1..32).boxed()),
    ])
    .boxed()
}

/// One action that a batch may hold: an answer, a peer connecting, bytes, a
/// close, a failure.
pub fn event_action(config: &ScriptConfig) -> BoxedStrategy<WorldAction> {
    let conn = 0..config.max_conns.max(1);
    let payloads = config.payloads.clone().unwrap_or_else(payload);
    let mut options: Vec<(Kind, u32, BoxedStrategy<WorldAction>)> = Vec::new();
    if config.clients {
        options.push((
            Kind::Open,
            4,
            outcome().prop_map(WorldAction::Resolve).boxed(),
        ));
    }
    let more_ports = config.servers && config.max_ports > 1;
    if config.servers {
        options.push((
            Kind::Open,
            if more_ports { 3 } else { 4 },
            Just(WorldAction::Accept).boxed(),
        ));
    }
    if more_ports {
        options.push((
            Kind::Open,
            1,
            (2..=config.max_ports)
                .prop_map(|port| WorldAction::AcceptOn { port })
                .boxed(),
        ));
    }
    options.push((
        Kind::Send,
        10,
        (conn.clone(), payloads, chunking())
            .prop_map(|(conn, bytes, chunking)| WorldAction::Send {
                conn,
                bytes,
                chunking,
            })
            .boxed(),
    ));
    options.push((
        Kind::Close,
        2,
        conn.clone()
            .prop_map(|conn| WorldAction::Close { conn })
            .boxed(),
    ));
    options.push((
        Kind::HalfClose,
        1,
        conn.clone()
            .prop_map(|conn| WorldAction::HalfClose { conn })
            .boxed(),
    ));
    options.push((
        Kind::Reset,
        1,
        conn.clone()
            .prop_map(|conn| WorldAction::Reset { conn })
            .boxed(),
    ));
    options.push((
        Kind::Window,
        1,
        (
            conn.clone(),
            prop_oneof![Just(None), (0usize..16).prop_map(Some)],
        )
            .prop_map(|(conn, bytes)| WorldAction::Window { conn, bytes })
            .boxed(),
    ));
    options.push((
        Kind::WriteError,
        1,
        conn.prop_map(|conn| WorldAction::WriteError { conn })
            .boxed(),
    ));
    if config.servers {
        options.push((
            Kind::StopListening,
            1,
            Just(WorldAction::StopListening).boxed(),
        ));
    }
    if more_ports {
        options.push((
            Kind::StopListening,
            1,
            (2..=config.max_ports)
                .prop_map(|port| WorldAction::StopListeningOn { port })
                .boxed(),
        ));
    }
    Choice::swarmed(options).boxed()
}

/// Any world action: events (most often), time passing
/// ([`ScriptConfig::advance_weight`]), batches of several events (for
/// servers, also batches of peers connecting at once), and shutting down
/// mid-way.
pub fn world_action(config: &ScriptConfig) -> BoxedStrategy<WorldAction> {
    let event = event_action(config);
    let delays = if config.delays.is_empty() {
        default_delays()
    } else {
        config.delays.clone()
    };
    // Single events are not a kind of their own: their choice above
    // follows the swarm.
    let mut options: Vec<(Kind, u32, BoxedStrategy<WorldAction>)> = vec![
        (Kind::Event, 10, event.clone()),
        (
            Kind::Advance,
            config.advance_weight,
            select(delays).prop_map(WorldAction::Advance).boxed(),
        ),
        (
            Kind::Batch,
            1,
            vec(event, 1..4).prop_map(WorldAction::Batch).boxed(),
        ),
        (Kind::Shutdown, 1, Just(WorldAction::Shutdown).boxed()),
    ];
    if config.servers {
        // Several peers connecting in the same turn: accepted in one batch,
        // all built even if the first build stops the port (S6).
        options.push((
            Kind::Batch,
            1,
            (2usize..4)
                .prop_map(|n| WorldAction::Batch(vec![WorldAction::Accept; n]))
                .boxed(),
        ));
    }
    Choice::swarmed(options).boxed()
}

/// A whole case: a seed, a number of connectors, and up to
/// `config.max_actions` world actions; with [`ScriptConfig::swarm`], each
/// case drawn under weights of its own (swarm testing: the module
/// `swarm` of this crate says why).
pub fn case(config: &ScriptConfig) -> BoxedStrategy<Case> {
    // Actions first: proptest shrinks a tuple's elements in order, so the
    // connectors and the seed are shrunk once the actions are minimal.
    let cases = (
        vec(
            world_action(config),
            config.min_actions.min(config.max_actions)..=config.max_actions,
        ),
        1..=config.max_connectors.max(1),
        any::<u64>(),
    )
        .prop_map(|(actions, connectors, seed)| Case {
            seed,
            connectors,
            actions,
        })
        .boxed();
    if config.swarm {
        Swarmed::new(cases).boxed()
    } else {
        cases
    }
}

/// Scripts alone, for tests that drive a set-up of their own with
/// [`MockReactor`](callorder_harness::MockReactor).
///
/// ```
/// use proptest::prelude::*;
/// use callorder::strategy::{script, ScriptConfig};
///
/// proptest!(ProptestConfig::with_cases(8), |(s in script(&ScriptConfig::default()))| {
///     prop_assert!(!s.steps().is_empty());
/// });
/// ```
pub fn script(config: &ScriptConfig) -> BoxedStrategy<Script> {
    vec(
        world_action(config),
        config.min_actions.min(config.max_actions)..=config.max_actions,
    )
    .prop_map(|actions| lower(&actions))
    .boxed()
}
