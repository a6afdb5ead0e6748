//! The table of rules: stable ids, what each forbids, where it comes from.
//!
//! Every id is stable: tools, CI logs and suppressions refer to them, so an id
//! is never reused for another meaning. Each rule cites the Twisted function
//! that makes it true and the id of `docs/semantics.md` (F, C, S, P, H, PR,
//! G, N) that records the experiment.

use std::fmt;

/// What kind of statement a rule makes.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum RuleKind {
    /// Forbids an event at a point of the trace: a violation names that event.
    Forbids,
    /// Something owed by the end of a complete trace: a violation (under
    /// `strict`) or a warning (under `twisted`) names the `end` line.
    Obligation,
    /// Something Twisted really does that a naive model would reject: the
    /// checker must accept it. A test shows a trace using it is accepted.
    Permits,
    /// A fact of the semantics no trace of format v1 can break (or show), kept
    /// in the table so the table covers the whole spec.
    Unbreakable,
}

macro_rules! rules {
    ($($(#[$doc:meta])* $variant:ident = $id:literal, $kind:ident, $cites:literal, $semantics:literal, $text:literal;)*) => {
        /// A rule of the legal order, with a stable id: tools, CI logs and
        /// suppressions refer to it, so an id is never reused for another
        /// meaning. Each rule cites the Twisted function that makes it true
        /// and the id of `docs/semantics.md` that records the experiment.
        /// The whole table is [`Rule::TABLE`].
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Rule {
            $($(#[$doc])* $variant,)*
        }

        impl Rule {
            /// Every rule, in table order.
            pub const TABLE: &'static [Rule] = &[$(Rule::$variant,)*];

            /// The stable id, as it appears in reports (`"P-AFTER-LOST"`).
            pub const fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }

            /// What kind of statement the rule makes.
            pub const fn kind(self) -> RuleKind {
                match self { $(Rule::$variant => RuleKind::$kind,)* }
            }

            /// The Twisted 26.10 function that makes the rule true.
            pub const fn cites(self) -> &'static str {
                match self { $(Rule::$variant => $cites,)* }
            }

            /// The ids of `docs/semantics.md` the rule comes from.
            pub const fn semantics(self) -> &'static str {
                match self { $(Rule::$variant => $semantics,)* }
            }

            /// What the rule says, in one sentence.
            pub const fn text(self) -> &'static str {
                match self { $(Rule::$variant => $text,)* }
            }
        }
    };
}

rules! {
    // --- the trace as a whole (docs/trace-format.md) ---
    /// Nothing follows `end`.
    AfterEnd = "T-AFTER-END", Forbids, "docs/trace-format.md: End of the run", "format",
        "no event may follow `end`";
    /// `depth` and `within` must name a running callback.
    Depth = "T-DEPTH", Forbids, "docs/trace-format.md: Nesting", "format",
        "an event at depth d >= 1 runs inside a callback at depth d-1 that is still running (`within`, when given, names it)";
    /// A nested callback needs an action or a hook that delivers it.
    Nested = "T-NESTED", Forbids, "docs/trace-format.md: Nesting; base.py BaseConnector.connect, abstract.py FileDescriptor.loseConnection/write, _ConsumerMixin.registerProducer", "G (reentrancy points), H4",
        "a callback runs inside another callback only when an action made there delivers it synchronously, or as the start_factory/stop_factory hook";
    /// Ids are introduced before use.
    UnknownId = "T-UNKNOWN-ID", Forbids, "docs/trace-format.md: Malformed or illegal", "format",
        "a connector, port or protocol is used only after the event that introduces it (connect_tcp, listen_tcp, build_protocol)";
    /// New objects have new ids.
    DuplicateId = "T-DUPLICATE-ID", Forbids, "docs/trace-format.md: Events (the connector is new)", "format",
        "connect_tcp, listen_tcp and build_protocol introduce ids that were never used for an object of that kind";
    /// A connector or port always talks to its own factory.
    FactoryMismatch = "T-FACTORY", Forbids, "base.py BaseConnector.__init__, tcp.py Port.__init__", "C3, S2",
        "the factory named by a connector's or port's events is the one given to connect_tcp or listen_tcp";
    /// Each callback carries a reason of its own set.
    Reason = "T-REASON", Forbids, "tcp.py Connection.connectionLost, BaseClient.failIfNotConnected; error.py", "R, G25",
        "connection_lost and client_connection_lost carry connection_done, connection_lost, connection_aborted or other; client_connection_failed carries a connect failure";

    // --- factories (F) ---
    /// `start_factory` runs inside a `do_start` at count 0, and only there.
    StartHook = "F-START-HOOK", Forbids, "protocol.py Factory.doStart", "F1, F4",
        "start_factory runs exactly once, directly inside the do_start that finds the start count at 0, and nowhere else";
    /// `stop_factory` runs inside a `do_stop` that reaches 0, and only there.
    StopHook = "F-STOP-HOOK", Forbids, "protocol.py Factory.doStop", "F2, F4, G20",
        "stop_factory runs exactly once, directly inside the do_stop that brings the start count to 0, and nowhere else";
    /// `do_start` comes from a connect or a listen.
    DoStart = "F-DO-START", Forbids, "base.py BaseConnector.connect; tcp.py Port.startListening", "F3a",
        "do_start is called by a connector's connect (when it holds no start on its factory) or a port's listen, once each";
    /// `do_stop` matches a start held by its connector or port.
    DoStop = "F-DO-STOP", Forbids, "base.py BaseConnector.connectionFailed/connectionLost; tcp.py Port.connectionLost", "F3b, G21, S4, S7",
        "do_stop is called by a connector after its outcome callback returned with no retry, or by a port after stop_listening or at shutdown, each matching a start it holds";
    /// The factory stopped twice by a nested failed retry (Twisted bug N2).
    DoubleStop = "F-DOUBLE-STOP", Forbids, "base.py BaseConnector.connectionFailed (no factoryStarted check)", "N2, G10, F2",
        "a connector whose retry inside its outcome callback already failed and stopped the factory does not stop it again when the outer callback returns (the twisted profile permits this Twisted bug)";
    /// Every start is matched by a stop by the end.
    Unstopped = "F-UNSTOPPED", Obligation, "protocol.py Factory.doStop; base.py ReactorBase.disconnectAll", "F4, P12",
        "by the end, every start a connector or port holds on a factory was stopped";

    // --- connectors (C) ---
    /// `started_connecting` once per `connect`, after its `do_start`.
    StartedConnecting = "C-STARTED", Forbids, "base.py BaseConnector.connect", "C1, C2",
        "started_connecting is called once per connect, after the do_start that connect owed (if any), before any outcome";
    /// No outcome before `started_connecting`.
    OutcomeBeforeStarted = "C-OUTCOME-ORDER", Forbids, "base.py BaseConnector.connect", "C2, G19, G23",
        "build_protocol, client_connection_failed and client_connection_lost of a connector come after its started_connecting";
    /// One outcome per attempt.
    OneOutcome = "C-ONE-OUTCOME", Forbids, "tcp.py BaseClient.failIfNotConnected, _BaseBaseClient.connectionLost", "C3, G4, G18",
        "each attempt has one outcome: a build_protocol and then client_connection_lost, or client_connection_failed (after a build_protocol only if it raised)";
    /// `client_connection_lost` follows its protocol's `connection_lost`.
    LostOrder = "C-LOST-ORDER", Forbids, "tcp.py _BaseBaseClient.connectionLost", "C3a, G17, P9",
        "client_connection_lost comes after the connection_lost of the connector's protocol, and never after a connection_lost that raised";
    /// The same reason reaches protocol and factory.
    LostReason = "C-LOST-REASON", Forbids, "tcp.py _BaseBaseClient.connectionLost (one Failure for both)", "C3a, R",
        "client_connection_lost carries the reason its protocol's connection_lost carried (connection_done when build_protocol returned none)";
    /// A cancelled attempt fails as cancelled.
    Cancel = "C-CANCEL", Forbids, "base.py BaseConnector.stopConnecting/disconnect", "C7, C8",
        "after stop_connecting or disconnect while connecting, the attempt fails with user_cancelled and nothing else happens to it first";
    /// `connect` only when disconnected.
    ConnectState = "C-CONNECT-STATE", Forbids, "base.py BaseConnector.connect/stopConnecting", "C7, C9",
        "connect on a connecting or connected connector, or stop_connecting on one that is not connecting, raises (so a trace shows error on it)";
    /// A retry happens inside the outcome callback or after `do_stop`.
    Retry = "C-RETRY", Forbids, "base.py BaseConnector.connectionFailed/connectionLost", "C5, F3b",
        "after an outcome callback returns without a retry, the connector's do_stop comes before its next connect";
    /// A `build_protocol` that returned none or raised is followed as Twisted does.
    BuildOutcome = "C-BUILD-OUTCOME", Forbids, "tcp.py BaseClient._connectDone, Client.connectionLost", "C10, C11",
        "after a client build_protocol returned none the connection ends with client_connection_lost(connection_done) and no protocol callbacks; after one raised, client_connection_failed follows";
    /// Every attempt is resolved by the end.
    Unresolved = "C-UNRESOLVED", Obligation, "tcp.py BaseClient.failIfNotConnected; base.py ReactorBase.disconnectAll", "C3, P12",
        "by the end, every connector that started connecting got its outcome callback and do_stop";

    // --- ports (S) ---
    /// `build_protocol` on a port only while it listens.
    BuildAfterStop = "S-BUILD", Forbids, "tcp.py Port.doRead, Port.connectionLost", "S2, S6, G22",
        "a port's build_protocol comes after its do_start and never after its do_stop";
    /// Every port is stopped by the end.
    PortUnstopped = "S-UNSTOPPED", Obligation, "tcp.py Port.loseConnection/connectionLost", "S4, P12",
        "by the end, every port got its do_stop";

    // --- protocols (P) ---
    /// `connection_made` once, after the `build_protocol` that returned it.
    Made = "P-MADE", Forbids, "tcp.py BaseClient._connectDone, Port.doRead", "C3a, S2, G24",
        "connection_made is called once per protocol, after the build_protocol that returned it";
    /// Nothing before `connection_made`.
    BeforeMade = "P-BEFORE-MADE", Forbids, "tcp.py Connection (registered for reading before makeConnection)", "P1, G16",
        "no other callback reaches a protocol before its connection_made";
    /// Nothing from the transport after `connection_lost`.
    AfterLost = "P-AFTER-LOST", Forbids, "tcp.py Connection.connectionLost (del self.protocol)", "P2, P3, G15",
        "after connection_lost, the transport delivers nothing more to the protocol (register_producer still gets stop_producing)";
    /// `connection_lost` once.
    LostTwice = "P-LOST-TWICE", Forbids, "tcp.py Connection.connectionLost (hasattr socket guard)", "P3, G14",
        "connection_lost is called at most once per protocol";
    /// `data_received` carries bytes.
    EmptyData = "P-EMPTY-DATA", Forbids, "tcp.py Connection._dataReceived (empty recv is EOF)", "P2, G16",
        "data_received always carries at least one byte";
    /// A protocol callback that raised ends the connection.
    Raised = "P-RAISED", Forbids, "tcp.py Connection._dataReceived; posixbase._disconnectSelectable", "P7, P8, H5",
        "after data_received, a client's connection_made, read_connection_lost or write_connection_lost raised, the protocol's next callback is connection_lost(other)";
    /// Every connection made is lost by the end.
    Unlost = "P-UNLOST", Obligation, "tcp.py Connection.connectionLost; base.py ReactorBase.disconnectAll", "P3, P12",
        "by the end, every protocol that got connection_made got connection_lost";

    // --- half-close (H) ---
    /// Nothing is read after the peer's EOF.
    ReadClosed = "H-READ-CLOSED", Forbids, "tcp.py Connection.readConnectionLost", "H1",
        "after read_connection_lost, no data_received and no second read_connection_lost";
    /// `write_connection_lost` answers `lose_write_connection`.
    WriteClosed = "H-WRITE-CLOSED", Forbids, "tcp.py Connection._closeWriteConnection", "H3",
        "write_connection_lost comes once, after lose_write_connection";

    // --- producers (PR) ---
    /// One producer at a time.
    Register = "PR-REGISTER", Forbids, "abstract.py _ConsumerMixin.registerProducer", "PR1",
        "register_producer while a producer is registered raises (so a trace shows error on it)";
    /// Producer callbacks need a producer in the right state.
    ProducerCallback = "PR-CALLBACK", Forbids, "abstract.py FileDescriptor._maybePauseProducer/doWrite, _ConsumerMixin.registerProducer", "PR1, PR2",
        "pause_producing reaches only a registered streaming producer; resume_producing a pull producer or a paused streaming one; stop_producing a registered producer, or one registered after the connection was lost";
    /// The producer is stopped before `connection_lost`.
    StopFirst = "PR-STOP-FIRST", Forbids, "abstract.py FileDescriptor.connectionLost", "PR3",
        "when a producer is registered, stop_producing comes before connection_lost";

    // --- permissions: what Twisted really does (G) ---
    /// G1: data after `lose_connection`.
    DataAfterLose = "G1", Permits, "epollreactor.doPoll; posixbase._doReadOrWrite", "P5, G1",
        "data_received may arrive after lose_connection, before connection_lost";
    /// G2: server protocols outlive their port.
    ProtocolOutlivesPort = "G2", Permits, "tcp.py Port.loseConnection (connections untouched)", "S5, G2",
        "a port's protocols get callbacks after the port's do_stop and stop_factory";
    /// G3: `build_protocol` after `stop_listening`.
    BuildAfterStopListening = "G3", Permits, "tcp.py Port.doRead (no disconnecting check)", "S6, G3",
        "build_protocol may follow stop_listening until the port's do_stop";
    /// G4: `client_connection_failed` after a `build_protocol` that raised.
    FailedAfterBuildRaised = "G4", Permits, "tcp.py Client.connectionLost -> failIfNotConnected", "C11, G4",
        "client_connection_failed follows a client build_protocol that raised";
    /// G5: `client_connection_lost` with no protocol callbacks.
    LostWithoutProtocol = "G5", Permits, "tcp.py BaseClient._connectDone", "C10, G5",
        "client_connection_lost may come with no protocol callbacks when build_protocol returned none";
    /// G6: retry inside the outcome callback.
    NestedRetry = "G6", Permits, "base.py BaseConnector.connectionFailed/connectionLost", "C5, G6",
        "started_connecting may run nested in client_connection_*, with no do_stop or do_start between";
    /// G7: failure inside `started_connecting`.
    FailedInsideStarted = "G7", Permits, "base.py BaseConnector.stopConnecting", "C4, C7, G7",
        "client_connection_failed may run nested inside started_connecting (stop_connecting there)";
    /// G8: `connection_lost` inside `lose_connection`.
    LostInsideLose = "G8", Permits, "abstract.py FileDescriptor.loseConnection (_writeDisconnected)", "H4, G8",
        "connection_lost may run inside lose_connection once the write side is closed";
    /// G9: half-close sequences.
    HalfClose = "G9", Permits, "tcp.py Connection.readConnectionLost/_closeWriteConnection", "H2, H3, G9",
        "read_connection_lost, then writes, then connection_lost; write_connection_lost on TCP";
    /// G10: `do_stop` at count 0 (the N2 shape, `twisted` profile only).
    StopAtZero = "G10", Permits, "protocol.py Factory.doStop (silent at numPorts 0)", "F2, N2, G10",
        "under the twisted profile, a do_stop at start count 0 in the N2 shape is accepted silently (no stop_factory)";
    /// G11: `TimeoutMixin` after `connection_lost`.
    TimeoutMixin = "G11", Unbreakable, "policies.py TimeoutMixin", "G11",
        "a user-level timer callback may fire after connection_lost; such timers are not in trace format v1";
    /// G12: no `connection_lost` at shutdown for a paused transport.
    PausedAtShutdown = "G12", Permits, "base.py ReactorBase.disconnectAll (readers and writers only)", "P12, G12",
        "under the twisted profile, a paused transport may get no connection_lost at shutdown (a warning)";
    /// G13: a server connection stays open after `connection_made` raised.
    OpenAfterMadeRaised = "G13", Permits, "tcp.py Port.doRead (log.deferr)", "S3, G13",
        "a server protocol whose connection_made raised stays connected and gets data_received and connection_lost later";
    /// O2: teardown order at shutdown is arbitrary.
    ShutdownOrder = "O2", Unbreakable, "base.py ReactorBase.disconnectAll (set order)", "O2, P12",
        "after shutdown, live connections, ports and connecting clients are torn down in any order";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Rule {
    /// Number of rules in the table.
    pub const COUNT: usize = Rule::TABLE.len();

    /// The rule with this id.
    ///
    /// ```
    /// use callorder_checker::Rule;
    /// assert_eq!(Rule::from_id("P-AFTER-LOST"), Some(Rule::AfterLost));
    /// assert_eq!(Rule::from_id("nope"), None);
    /// ```
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::TABLE.iter().copied().find(|r| r.id() == id)
    }

    /// Index into [`Rule::TABLE`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut ids: Vec<_> = Rule::TABLE.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::COUNT);
        for (i, r) in Rule::TABLE.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(Rule::from_id(r.id()), Some(*r));
        }
    }

    #[test]
    fn every_rule_cites_twisted_and_the_semantics() {
        for r in Rule::TABLE {
            assert!(
                !r.cites().is_empty() && !r.semantics().is_empty() && !r.text().is_empty(),
                "{r}"
            );
        }
    }
}
