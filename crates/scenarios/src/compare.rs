//! The fidelity comparison: does a trace of callorder's mock reactor show
//! what real Twisted did in the same scenario?
//!
//! Two traces of one scenario never agree line by line: times, addresses and
//! id numbers differ, data arrives in other chunks, a producer is paused a
//! different number of times, and Twisted's teardown at shutdown runs in set
//! order (semantics O2). So both traces are first brought to one shape, then
//! compared on what Twisted fixes.
//!
//! **Shape.** callorder never re-enters: what Twisted delivers inside an
//! action (the `started_connecting` inside a `connect` made in
//! `client_connection_failed`, the `pause_producing` inside a `write`, ...)
//! callorder delivers right after the callback that made the action returns,
//! in the order the actions were made. [`summarize`] moves every such nested
//! delivery, with everything nested in it, to that place, so that a
//! Twisted-shaped trace and a callorder-shaped trace of the same run become
//! the same sequence. After that every callback stands at depth 0, a
//! `start_factory`/`stop_factory` hook at depth 1 inside its `do_start` or
//! `do_stop`, and every action one deeper than the callback that made it.
//! Traces already in callorder's shape are left as they are.
//!
//! **Per object.** Each factory, connector, port and protocol has a
//! history: the events that concern it, in order, each with its fields
//! except ids, times, addresses and free text (an action also says which
//! kind of callback made it, or `top`). In a history:
//! - a `data_received` together with the writes it made is one unit, and
//!   consecutive units merge (total bytes in and out);
//! - a run of `pause_producing`/`resume_producing`/`write` with at least
//!   one pause or resume is one `producing` token (total bytes written);
//!   consecutive writes made in the same kind of callback merge;
//! - what happened after `shutdown` (the teardown) is a sorted multiset.
//!
//! `connect_tcp` and `listen_tcp` belong to their connector or port only:
//! they are calls of the application, not callbacks of the factory.
//! Histories are compared per kind of object as multisets, each led by its
//! role (client or server factory or protocol), so id numbering does not
//! matter and ten clients of one factory compare as the multiset of ten
//! histories.
//!
//! **Across objects**, as facts compared as multisets:
//! - *loss chains*: each `client_connection_lost` or `_failed`, from its
//!   protocol's `connection_lost` through the connector's `do_stop` and its
//!   `stop_factory`, with everything in between (Twisted runs it in one call
//!   stack: nothing else may come in between, teardown included);
//! - *builds*: the callback after each `build_protocol` that returned a
//!   protocol (its own `connection_made`: bp1, made1, bp2, made2 within an
//!   accept batch);
//! - *`do_start`*: the callback right before each `do_start` (one caused in
//!   a callback comes right after it, with its `start_factory` nested);
//! - *zero-delay timers*: for a port's `do_stop` and a
//!   `connection_lost(connection_aborted)`, the kind of callback that made
//!   the `stop_listening` or `abort_connection` (or `top`), and the
//!   `client_connection_*` callbacks between that action and the delivery:
//!   none in Twisted, whose timer runs after the current I/O batch, before
//!   the loop gets to the next connections' losses. (Where exactly within
//!   the next batch differs between Twisted's reactors: asyncio runs the
//!   timer one batch later than epoll and select.)
//! - *markers*: whether there is a `shutdown`, and that `end` is last.
//!
//! Facts are taken before `shutdown` only, except loss chains.
//!
//! ```
//! use callorder_scenarios::compare::compare;
//! use callorder_trace::TraceReader;
//!
//! let twisted = r#"{"seq":1,"event":"connect_tcp","factory":"f1","connector":"c1"}
//! {"seq":2,"event":"do_start","factory":"f1","connector":"c1"}
//! {"seq":3,"depth":1,"event":"start_factory","factory":"f1"}
//! {"seq":4,"event":"started_connecting","factory":"f1","connector":"c1"}
//! {"seq":5,"event":"client_connection_failed","factory":"f1","connector":"c1","reason":"connection_refused"}
//! {"seq":6,"depth":1,"event":"connect","connector":"c1"}
//! {"seq":7,"depth":1,"event":"started_connecting","factory":"f1","connector":"c1"}
//! {"seq":8,"event":"client_connection_failed","factory":"f1","connector":"c1","reason":"connection_refused"}
//! {"seq":9,"event":"do_stop","factory":"f1","connector":"c1"}
//! {"seq":10,"depth":1,"event":"stop_factory","factory":"f1"}
//! {"seq":11,"event":"end"}
//! "#;
//! // The same run as callorder delivers it: started_connecting after the callback.
//! let callorder = twisted.replace(r#""seq":7,"depth":1,"#, r#""seq":7,"#);
//! let read = |text: &str| -> Vec<_> {
//!     TraceReader::new(text.as_bytes()).map(|r| r.unwrap()).collect()
//! };
//! assert!(compare(&read(twisted), &read(&callorder)).is_empty());
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use callorder_trace::{Event, EventKind, Holder, IdKind, Reason, Record};

/// One way two traces differ under the fidelity comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// What was compared: `"protocol histories"`, `"loss chains"`, ...
    pub aspect: &'static str,
    /// Items only the expected trace has (with their multiplicity).
    pub only_expected: Vec<String>,
    /// Items only the actual trace has.
    pub only_actual: Vec<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} differ:", self.aspect)?;
        for item in &self.only_expected {
            writeln!(f, "  - expected only: {item}")?;
        }
        for item in &self.only_actual {
            writeln!(f, "  + actual only:   {item}")?;
        }
        Ok(())
    }
}

/// What the comparison looks at in one trace: per kind of object, the
/// sorted multiset of histories; and the sorted multiset of cross-object
/// facts, per aspect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Aspect (`"factory histories"`, `"loss chains"`, ...) to its sorted
    /// items.
    pub aspects: BTreeMap<&'static str, Vec<String>>,
}

/// Compares `actual` with `expected` (both whole traces, in file order) and
/// gives every difference, or none when they match.
pub fn compare(expected: &[Record], actual: &[Record]) -> Vec<Difference> {
    let (e, a) = (summarize(expected), summarize(actual));
    let mut out = Vec::new();
    let aspects: std::collections::BTreeSet<&'static str> =
        e.aspects.keys().chain(a.aspects.keys()).copied().collect();
    for aspect in aspects {
        let empty = Vec::new();
        let ev = e.aspects.get(aspect).unwrap_or(&empty);
        let av = a.aspects.get(aspect).unwrap_or(&empty);
        let (only_expected, only_actual) = multiset_diff(ev, av);
        if !only_expected.is_empty() || !only_actual.is_empty() {
            out.push(Difference {
                aspect,
                only_expected,
                only_actual,
            });
        }
    }
    out
}

/// Brings `trace` to callorder's shape and extracts what [`compare`]
/// compares.
pub fn summarize(trace: &[Record]) -> Summary {
    let items = reshape(trace);
    let view = View::new(trace, &items);
    let mut aspects = BTreeMap::new();
    for (kind, name) in [
        (IdKind::Factory, "factory histories"),
        (IdKind::Connector, "connector histories"),
        (IdKind::Port, "port histories"),
        (IdKind::Protocol, "protocol histories"),
    ] {
        aspects.insert(name, view.histories(kind));
    }
    let (chains, builds, timers, markers) = view.facts();
    aspects.insert("loss chains", chains);
    aspects.insert("builds", builds);
    aspects.insert("do_start and zero-delay timers", timers);
    aspects.insert("markers", markers);
    for v in aspects.values_mut() {
        v.sort();
    }
    Summary { aspects }
}

/// Items of `a` not matched in `b`, and of `b` not matched in `a` (both
/// sorted).
fn multiset_diff(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let mut count: BTreeMap<&str, i64> = BTreeMap::new();
    for x in a {
        *count.entry(x).or_default() += 1;
    }
    for x in b {
        *count.entry(x).or_default() -= 1;
    }
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    for (item, n) in count {
        for _ in 0..n.max(0) {
            only_a.push(item.to_owned());
        }
        for _ in 0..(-n).max(0) {
            only_b.push(item.to_owned());
        }
    }
    (only_a, only_b)
}

// ------------------------------------------------------------------ shape

/// An event at its place in callorder's shape.
#[derive(Clone, Copy, Debug)]
struct Item {
    /// Index of the record in the trace.
    rec: usize,
    /// Depth in callorder's shape.
    depth: u32,
    /// For an action or a hook: the kind of callback it ran inside.
    inside: Option<EventKind>,
}

fn is_hook(parent: EventKind, child: EventKind) -> bool {
    matches!(
        (parent, child),
        (EventKind::DoStart, EventKind::StartFactory) | (EventKind::DoStop, EventKind::StopFactory)
    )
}

/// Reorders `trace` into callorder's shape (see the module documentation).
fn reshape(trace: &[Record]) -> Vec<Item> {
    let n = trace.len();
    let by_seq: HashMap<u64, usize> = trace
        .iter()
        .enumerate()
        .map(|(i, r)| (r.step.seq, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    // stack[d]: the callback running at depth d.
    let mut stack: Vec<usize> = Vec::new();
    for (i, r) in trace.iter().enumerate() {
        let d = r.step.depth as usize;
        let parent = match r.step.within {
            Some(w) => by_seq.get(&w).copied(),
            None if d > 0 => {
                stack.truncate(d);
                stack.get(d - 1).copied()
            }
            None => None,
        };
        match parent {
            Some(p) => children[p].push(i),
            None => roots.push(i),
        }
        if r.step.event.kind().is_callback() {
            stack.truncate(d);
            stack.push(i);
        }
    }
    let kind = |i: usize| trace[i].step.event.kind();
    let mut out = Vec::with_capacity(n);

    // A callback, then what it made and its hooks, then what its actions
    // triggered (each the same way).
    //
    // Only a callback that an earlier action of its parent can have set off
    // moves; one nested with no action before it (illegal in Twisted too)
    // stays where it is, so the comparison sees it.
    fn place(
        c: usize,
        parent: usize,
        depth: u32,
        kind: &dyn Fn(usize) -> EventKind,
        children: &[Vec<usize>],
        out: &mut Vec<Item>,
        deferred: &mut Vec<usize>,
    ) {
        let k = kind(c);
        let acted = children[parent]
            .iter()
            .take_while(|&&x| x != c)
            .any(|&x| kind(x).is_action());
        if k.is_callback() && !is_hook(kind(parent), k) && acted {
            deferred.push(c);
            return;
        }
        out.push(Item {
            rec: c,
            depth,
            inside: Some(kind(parent)),
        });
        for &g in &children[c] {
            place(g, c, depth + 1, kind, children, out, deferred);
        }
    }
    fn callback(
        c: usize,
        kind: &dyn Fn(usize) -> EventKind,
        children: &[Vec<usize>],
        out: &mut Vec<Item>,
    ) {
        out.push(Item {
            rec: c,
            depth: 0,
            inside: None,
        });
        let mut deferred = Vec::new();
        for &g in &children[c] {
            place(g, c, 1, kind, children, out, &mut deferred);
        }
        for d in deferred {
            callback(d, kind, children, out);
        }
    }
    for r in roots {
        if kind(r).is_callback() {
            callback(r, &kind, &children, &mut out);
        } else {
            out.push(Item {
                rec: r,
                depth: 0,
                inside: None,
            });
        }
    }
    out
}

// ------------------------------------------------------------ histories

/// One element of a history before it is written out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// `data_received` and the writes it made.
    Data {
        rx: u64,
        tx: u64,
    },
    /// A write made in this kind of callback (`None`: at the top level).
    Write {
        bytes: u64,
        inside: Option<EventKind>,
    },
    /// `pause_producing` or `resume_producing`.
    Producer(EventKind),
    /// A producing round collapsed.
    Producing {
        tx: u64,
    },
    Other(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Data { rx, tx } => write!(f, "data(rx={rx},tx={tx})"),
            Tok::Write { bytes, inside } => write!(f, "write({bytes}) {}", where_(*inside)),
            Tok::Producer(k) => f.write_str(k.as_str()),
            Tok::Producing { tx } => write!(f, "producing(tx={tx})"),
            Tok::Other(s) => f.write_str(s),
        }
    }
}

fn where_(inside: Option<EventKind>) -> String {
    match inside {
        Some(k) => format!("in {k}"),
        None => "top".to_owned(),
    }
}

fn holder_str(h: Option<Holder>) -> &'static str {
    match h {
        Some(Holder::Connector(_)) => "@connector",
        Some(Holder::Port(_)) => "@port",
        None => "@?",
    }
}

/// The event's own fields, without ids.
fn detail(ev: &Event) -> String {
    let k = ev.kind().as_str();
    match *ev {
        Event::DoStart { holder, .. } | Event::DoStop { holder, .. } => {
            format!("{k}{}", holder_str(holder))
        }
        Event::BuildProtocol {
            holder, protocol, ..
        } => format!(
            "{k}{}->{}",
            holder_str(Some(holder)),
            if protocol.is_some() { "p" } else { "none" }
        ),
        Event::ClientConnectionFailed { reason, .. }
        | Event::ClientConnectionLost { reason, .. }
        | Event::ConnectionLost { reason, .. } => format!("{k}({reason})"),
        Event::RegisterProducer { streaming, .. } => {
            format!("{k}({})", if streaming { "streaming" } else { "pull" })
        }
        Event::Write { bytes, .. } | Event::DataReceived { bytes, .. } => format!("{k}({bytes})"),
        _ => k.to_owned(),
    }
}

struct View<'a> {
    trace: &'a [Record],
    items: &'a [Item],
    /// Position (in `items`) of `shutdown`, if any.
    shutdown: Option<usize>,
    /// Protocol id to "server" or "client".
    protocol_role: HashMap<u64, &'static str>,
    /// Factory id to its role.
    factory_role: HashMap<u64, &'static str>,
}

impl<'a> View<'a> {
    fn new(trace: &'a [Record], items: &'a [Item]) -> Self {
        let mut protocol_role = HashMap::new();
        let mut factory_role: HashMap<u64, &'static str> = HashMap::new();
        for r in trace {
            match r.step.event {
                Event::BuildProtocol {
                    holder,
                    protocol: Some(p),
                    ..
                } => {
                    let role = match holder {
                        Holder::Port(_) => "server",
                        Holder::Connector(_) => "client",
                    };
                    protocol_role.insert(p.0, role);
                }
                Event::ConnectTcp { factory, .. } => {
                    let e = factory_role.entry(factory.0).or_insert("client");
                    if *e == "server" {
                        *e = "client+server";
                    }
                }
                Event::ListenTcp { factory, .. } => {
                    let e = factory_role.entry(factory.0).or_insert("server");
                    if *e == "client" {
                        *e = "client+server";
                    }
                }
                _ => {}
            }
        }
        let shutdown = items
            .iter()
            .position(|it| trace[it.rec].step.event.kind() == EventKind::Shutdown);
        View {
            trace,
            items,
            shutdown,
            protocol_role,
            factory_role,
        }
    }

    fn event(&self, pos: usize) -> &Event {
        &self.trace[self.items[pos].rec].step.event
    }

    fn failed(&self, pos: usize) -> bool {
        self.trace[self.items[pos].rec].step.failed
    }

    fn before_shutdown(&self, pos: usize) -> bool {
        self.shutdown.is_none_or(|s| pos < s)
    }

    /// The token of the event at `pos` in a history.
    fn token(&self, pos: usize) -> Tok {
        let item = self.items[pos];
        let ev = self.event(pos);
        let bang = if self.failed(pos) { "!" } else { "" };
        match *ev {
            Event::DataReceived { bytes, .. } if bang.is_empty() => Tok::Data { rx: bytes, tx: 0 },
            Event::Write { bytes, .. } if bang.is_empty() => Tok::Write {
                bytes,
                inside: item.inside,
            },
            Event::PauseProducing { .. } | Event::ResumeProducing { .. } if bang.is_empty() => {
                Tok::Producer(ev.kind())
            }
            _ => {
                let mut s = detail(ev);
                if ev.kind().is_action() || item.depth > 0 {
                    s.push(' ');
                    s.push_str(&where_(item.inside));
                }
                s.push_str(bang);
                Tok::Other(s)
            }
        }
    }

    /// The role an object of `kind` plays.
    fn role(&self, kind: IdKind, id: u64) -> &'static str {
        match kind {
            IdKind::Factory => self.factory_role.get(&id).copied().unwrap_or("factory"),
            IdKind::Protocol => self.protocol_role.get(&id).copied().unwrap_or("protocol"),
            IdKind::Connector => "connector",
            IdKind::Port => "port",
        }
    }

    /// The objects of `kind` the event at `pos` concerns.
    fn object(&self, kind: IdKind, pos: usize) -> Option<u64> {
        let ev = self.event(pos);
        match kind {
            IdKind::Factory => match ev.kind() {
                EventKind::ConnectTcp | EventKind::ListenTcp => None,
                _ => ev.factory().map(|f| f.0),
            },
            IdKind::Connector => ev.connector().map(|c| c.0),
            IdKind::Port => ev.port().map(|l| l.0),
            IdKind::Protocol => ev.protocol().map(|p| p.0),
        }
    }

    /// Every history of objects of `kind`, written out.
    fn histories(&self, kind: IdKind) -> Vec<String> {
        let mut per: BTreeMap<u64, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        let mut order: Vec<u64> = Vec::new();
        for pos in 0..self.items.len() {
            if let Some(id) = self.object(kind, pos) {
                let entry = per.entry(id).or_insert_with(|| {
                    order.push(id);
                    Default::default()
                });
                if self.before_shutdown(pos) {
                    entry.0.push(pos);
                } else {
                    entry.1.push(pos);
                }
            }
        }
        order
            .into_iter()
            .map(|id| {
                let (before, after) = &per[&id];
                let mut s = format!("{}: ", self.role(kind, id));
                let toks: Vec<String> = collapse(before.iter().map(|&p| self.token(p)))
                    .iter()
                    .map(Tok::to_string)
                    .collect();
                s.push_str(&toks.join(" ; "));
                if !after.is_empty() {
                    let mut teardown: Vec<String> = collapse(after.iter().map(|&p| self.token(p)))
                        .iter()
                        .map(Tok::to_string)
                        .collect();
                    teardown.sort();
                    s.push_str(" | teardown {");
                    s.push_str(&teardown.join(", "));
                    s.push('}');
                }
                s
            })
            .collect()
    }

    // ------------------------------------------------------------- facts

    /// A callback or action as facts name it: what and whose.
    fn describe(&self, pos: usize) -> String {
        let ev = self.event(pos);
        let whose = if let Some(p) = ev
            .protocol()
            .filter(|_| ev.kind() != EventKind::BuildProtocol)
        {
            self.role(IdKind::Protocol, p.0)
        } else if let Some(f) = ev.factory() {
            self.role(IdKind::Factory, f.0)
        } else if ev.port().is_some() {
            "port"
        } else if ev.connector().is_some() {
            "connector"
        } else {
            ""
        };
        let bang = if self.failed(pos) { "!" } else { "" };
        let sep = if whose.is_empty() { "" } else { " " };
        let data_free = match ev {
            Event::DataReceived { .. } => ev.kind().as_str().to_owned(),
            Event::Write { .. } => ev.kind().as_str().to_owned(),
            _ => detail(ev),
        };
        format!("{whose}{sep}{data_free}{bang}")
    }

    /// The callback at depth 0 last before `pos`.
    fn previous_callback(&self, pos: usize) -> String {
        (0..pos)
            .rev()
            .find(|&q| self.items[q].depth == 0 && self.event(q).kind().is_callback())
            .map_or_else(|| "nothing".to_owned(), |q| self.describe(q))
    }

    fn facts(&self) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
        let mut chains = Vec::new();
        let mut builds = Vec::new();
        let mut timers = Vec::new();
        let mut markers = Vec::new();
        for pos in 0..self.items.len() {
            let ev = *self.event(pos);
            let before = self.before_shutdown(pos);
            match ev {
                Event::ClientConnectionLost { connector, .. }
                | Event::ClientConnectionFailed { connector, .. } => {
                    chains.push(self.chain(pos, connector.0));
                }
                Event::BuildProtocol {
                    protocol: Some(p), ..
                } if before => {
                    let next = (pos + 1..self.items.len())
                        .find(|&q| self.items[q].depth == 0 && self.event(q).kind().is_callback());
                    let what = match next {
                        Some(q) if *self.event(q) == (Event::ConnectionMade { protocol: p }) => {
                            "its connection_made".to_owned()
                        }
                        Some(q) => self.describe(q),
                        None => "nothing".to_owned(),
                    };
                    builds.push(format!("{} then {what}", self.describe(pos)));
                }
                Event::DoStart { .. } if before => {
                    timers.push(format!(
                        "{} after {}",
                        self.describe(pos),
                        self.previous_callback(pos)
                    ));
                }
                Event::DoStop {
                    holder: Some(Holder::Port(l)),
                    ..
                } if before => {
                    let trigger = (0..pos)
                        .rev()
                        .find(|&q| *self.event(q) == (Event::StopListening { port: l }));
                    timers.push(self.timer(pos, trigger));
                }
                Event::ConnectionLost {
                    protocol,
                    reason: Reason::ConnectionAborted,
                } if before => {
                    let trigger = (0..pos)
                        .rev()
                        .find(|&q| *self.event(q) == (Event::AbortConnection { protocol }));
                    timers.push(self.timer(pos, trigger));
                }
                _ => {}
            }
        }
        markers.push(
            if self.shutdown.is_some() {
                "shutdown recorded"
            } else {
                "no shutdown"
            }
            .to_owned(),
        );
        let last = self.items.iter().map(|it| it.rec).max();
        markers.push(
            match last.map(|r| self.trace[r].step.event.kind()) {
                Some(EventKind::End) => "ends with end",
                _ => "does not end with end",
            }
            .to_owned(),
        );
        (chains, builds, timers, markers)
    }

    /// A zero-delay timer's delivery at `pos`, set off by the action at
    /// `trigger`: where the action was made, and which outcome callbacks
    /// came in between (none: the timer ran after the batch, before the
    /// loop went on to the next connections' losses).
    fn timer(&self, pos: usize, trigger: Option<usize>) -> String {
        let Some(t) = trigger else {
            return format!("{} with no trigger", self.describe(pos));
        };
        let between: Vec<String> = (t + 1..pos)
            .filter(|&q| {
                matches!(
                    self.event(q).kind(),
                    EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
                )
            })
            .map(|q| self.describe(q))
            .collect();
        format!(
            "{} after {} {}, outcomes in between: [{}]",
            self.describe(pos),
            self.event(t).kind(),
            where_(self.items[t].inside),
            between.join(", ")
        )
    }

    /// The loss chain of the outcome callback at `pos` on connector `c`.
    fn chain(&self, pos: usize, c: u64) -> String {
        let concerns_c = |q: usize| self.event(q).connector().map(|x| x.0) == Some(c);
        // The protocol of this attempt, if the connector built one.
        let mut start = pos;
        if self.event(pos).kind() == EventKind::ClientConnectionLost {
            let built = (0..pos).rev().find_map(|q| match *self.event(q) {
                Event::BuildProtocol {
                    holder: Holder::Connector(x),
                    protocol,
                    ..
                } if x.0 == c => Some(protocol),
                _ => None,
            });
            if let Some(Some(p)) = built {
                if let Some(q) = (0..pos).rev().find(|&q| {
                    matches!(*self.event(q), Event::ConnectionLost { protocol, .. } if protocol == p)
                }) {
                    start = q;
                }
            }
        }
        // Through the connector's do_stop and its hook, if that is next.
        let mut end = pos;
        if let Some(q) = (pos + 1..self.items.len()).find(|&q| concerns_c(q)) {
            if self.event(q).kind() == EventKind::DoStop {
                end = q;
                if q + 1 < self.items.len() && self.event(q + 1).kind() == EventKind::StopFactory {
                    end = q + 1;
                }
            }
        }
        let parts: Vec<String> = (start..=end)
            .map(|q| {
                let mine = q == start || concerns_c(q) || q == end;
                let mut s = self.describe(q);
                if self.items[q].depth > 0 {
                    s = format!("{}{s}", ">".repeat(self.items[q].depth as usize));
                }
                if !mine {
                    s.push_str(" (other)");
                }
                s
            })
            .collect();
        parts.join(" ; ")
    }
}

/// Applies the merging rules of a history (see the module documentation).
fn collapse(toks: impl Iterator<Item = Tok>) -> Vec<Tok> {
    // Data units: data_received and the writes it made; consecutive ones merge.
    let mut a: Vec<Tok> = Vec::new();
    for t in toks {
        match (a.last_mut(), t) {
            (Some(Tok::Data { rx, tx }), Tok::Data { rx: r, tx: w }) => {
                *rx += r;
                *tx += w;
            }
            (
                Some(Tok::Data { tx, .. }),
                Tok::Write {
                    bytes,
                    inside: Some(EventKind::DataReceived),
                },
            ) => *tx += bytes,
            (_, t) => a.push(t),
        }
    }
    // Producing rounds.
    let mut b: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < a.len() {
        let is_round = |t: &Tok| matches!(t, Tok::Write { .. } | Tok::Producer(_));
        if is_round(&a[i]) {
            let mut j = i;
            while j < a.len() && is_round(&a[j]) {
                j += 1;
            }
            let run = &a[i..j];
            if run.iter().any(|t| matches!(t, Tok::Producer(_))) {
                let tx = run
                    .iter()
                    .map(|t| match t {
                        Tok::Write { bytes, .. } => *bytes,
                        _ => 0,
                    })
                    .sum();
                b.push(Tok::Producing { tx });
            } else {
                for t in run {
                    match (b.last_mut(), t) {
                        (
                            Some(Tok::Write { bytes, inside }),
                            Tok::Write {
                                bytes: more,
                                inside: same,
                            },
                        ) if inside == same => *bytes += more,
                        _ => b.push(t.clone()),
                    }
                }
            }
            i = j;
        } else {
            b.push(a[i].clone());
            i += 1;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use callorder_trace::TraceReader;

    fn read(text: &str) -> Vec<Record> {
        TraceReader::new(text.as_bytes())
            .map(|r| r.expect("valid"))
            .collect()
    }

    #[test]
    fn a_pause_inside_a_write_moves_after_its_callback() {
        let twisted = read(concat!(
            r#"{"seq":1,"event":"connection_made","protocol":"p1"}"#,
            "\n",
            r#"{"seq":2,"depth":1,"event":"write","protocol":"p1","bytes":70000}"#,
            "\n",
            r#"{"seq":3,"depth":1,"event":"pause_producing","protocol":"p1"}"#,
            "\n",
            r#"{"seq":4,"depth":2,"event":"abort_connection","protocol":"p1"}"#,
            "\n",
            r#"{"seq":5,"depth":1,"event":"lose_connection","protocol":"p1"}"#,
            "\n",
        ));
        let items = reshape(&twisted);
        let order: Vec<(usize, u32)> = items.iter().map(|i| (i.rec, i.depth)).collect();
        assert_eq!(order, [(0, 0), (1, 1), (4, 1), (2, 0), (3, 1)]);
    }

    #[test]
    fn data_and_producer_rounds_collapse() {
        let w = |bytes, inside| Tok::Write { bytes, inside };
        let toks = vec![
            Tok::Data { rx: 5, tx: 0 },
            w(5, Some(EventKind::DataReceived)),
            Tok::Data { rx: 6, tx: 0 },
            w(6, Some(EventKind::DataReceived)),
            w(1, Some(EventKind::ConnectionMade)),
            Tok::Producer(EventKind::PauseProducing),
            w(2, Some(EventKind::ResumeProducing)),
            Tok::Other("x".into()),
            w(3, None),
            w(4, None),
        ];
        let out: Vec<String> = collapse(toks.into_iter())
            .iter()
            .map(Tok::to_string)
            .collect();
        assert_eq!(
            out,
            ["data(rx=11,tx=11)", "producing(tx=3)", "x", "write(7) top"]
        );
    }
}
