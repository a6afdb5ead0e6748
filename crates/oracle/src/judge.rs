//! The judgement of one event against everything accepted before it.
//!
//! [`Oracle::step`] checks an event section by section of `docs/spec.md`:
//! §7 (after `end`), §1 (nesting), §3 (hooks), then the event's own rules
//! (§2 ids, §3–§6 per object), and at `end` the obligations of §7.

use callorder_trace::{ConnectorId, Event, FactoryId, Holder, PortId, ProtocolId, Reason, Step};

use crate::history::{Entry, History, Obj};
use crate::rules::*;
use crate::views::{self, Attempt, ConnectorView, PortState, PortView, ProtocolView, Stuck};

/// A broken rule: its id (the event is the one being judged).
pub(crate) type Broken = &'static str;

/// The slow model: the history, the profile, and what `end` left unmet.
pub(crate) struct Oracle {
    history: History,
    twisted: bool,
    ended: bool,
    /// Obligations unmet at `end` (under `twisted`, the warnings).
    pub unmet: Vec<(u64, &'static str)>,
}

impl Oracle {
    pub fn new(twisted: bool) -> Self {
        Oracle {
            history: History::default(),
            twisted,
            ended: false,
            unmet: Vec::new(),
        }
    }

    /// Judges `step` given everything accepted before; accepts it if legal.
    pub fn step(&mut self, step: &Step) -> Result<(), Broken> {
        // §7: nothing may follow `end`.
        if self.ended {
            return Err(T_AFTER_END);
        }

        // §1: the event closes every running callback at its depth or deeper,
        // innermost first.
        let running = self.history.running();
        let mut still_running = Vec::new();
        for &index in running.iter().rev() {
            if self.history.entries[index].step.depth >= step.depth {
                self.history.push_return(index);
            } else {
                still_running.push(index);
            }
        }
        still_running.reverse();
        let parent = self.enclosing_callback(step, &still_running)?;

        // §3: a first do_start (last do_stop) is followed at once by its hook.
        self.check_hooks(step, parent)?;

        let mut entry = Entry {
            step: *step,
            parent,
            holder: None,
            needs_hook: false,
        };
        self.check_event(step, &mut entry)?;
        self.history.push_entry(entry);

        if step.event == Event::End {
            self.end()?;
        }
        Ok(())
    }

    /// The moment "now": everything accepted, and the returns this event caused.
    fn now(&self) -> usize {
        self.history.happenings.len()
    }

    fn connector(&self, c: ConnectorId) -> Option<ConnectorView> {
        views::connector(&self.history, c, self.now(), self.twisted)
    }

    fn port(&self, l: PortId) -> Option<PortView> {
        views::port(&self.history, l, self.now())
    }

    fn protocol(&self, p: ProtocolId) -> Option<ProtocolView> {
        views::protocol(&self.history, p, self.now())
    }

    // ------------------------------------------------------------ §1 nesting

    /// The callback `step` runs inside (T-DEPTH).
    fn enclosing_callback(&self, step: &Step, running: &[usize]) -> Result<Option<usize>, Broken> {
        if let Some(within) = step.within {
            // `within` names a callback at depth d-1, earlier, running or returned.
            let target = self
                .history
                .entries
                .iter()
                .position(|e| e.step.seq == within);
            return match target {
                Some(index)
                    if within < step.seq
                        && step.depth >= 1
                        && self.history.entries[index].step.depth == step.depth - 1
                        && self.history.entries[index].step.event.kind().is_callback() =>
                {
                    Ok(Some(index))
                }
                _ => Err(T_DEPTH),
            };
        }
        if step.depth == 0 {
            return Ok(None);
        }
        // After the closes, the innermost running callback must be at depth d-1.
        match running.last() {
            Some(&index) if self.history.entries[index].step.depth == step.depth - 1 => {
                Ok(Some(index))
            }
            _ => Err(T_DEPTH),
        }
    }

    /// T-NESTED: a callback at depth >= 1 must be a hook in its caller, or
    /// delivered by the last action made directly inside its enclosing callback.
    fn check_nested(
        &self,
        step: &Step,
        parent: Option<usize>,
        holder: Option<Holder>,
    ) -> Result<(), Broken> {
        if !step.event.kind().is_callback() || step.depth == 0 {
            return Ok(());
        }
        let Some(parent) = parent else {
            return Err(T_NESTED);
        };
        let caller = self.history.entries[parent].step.event;
        match (caller, step.event) {
            (Event::DoStart { factory: f, .. }, Event::StartFactory { factory })
            | (Event::DoStop { factory: f, .. }, Event::StopFactory { factory })
                if f == factory =>
            {
                return Ok(());
            }
            _ => {}
        }
        let last_action = (parent + 1..self.history.entries.len()).rev().find(|&k| {
            let e = &self.history.entries[k];
            e.parent == Some(parent) && e.step.event.kind().is_action()
        });
        match last_action {
            Some(action) if self.delivers(action, step, holder) => Ok(()),
            _ => Err(T_NESTED),
        }
    }

    /// Whether the action entry `action` delivers the callback `step`
    /// synchronously (the table of spec §1), in the state it was made in.
    fn delivers(&self, action: usize, step: &Step, holder: Option<Holder>) -> bool {
        let made = &self.history.entries[action].step;
        if made.failed {
            // An action that raised changed nothing (trace format, `error`):
            // it delivered nothing either.
            return false;
        }
        let at = self.history.when_accepted(action);
        let connecting = |c| {
            views::connector(&self.history, c, at, self.twisted).is_some_and(|v| v.is_connecting())
        };
        let write_closed =
            |p| views::protocol(&self.history, p, at).is_some_and(|v| v.write_closed);
        // lose_connection after the write side closed (H4): the end of the connection.
        let closing_chain = |p: ProtocolId| match step.event {
            Event::StopProducing { protocol } | Event::ConnectionLost { protocol, .. } => {
                protocol == p
            }
            Event::ClientConnectionLost { connector, .. } => {
                self.history.owner_of(p) == Some(Holder::Connector(connector))
            }
            Event::DoStop { .. } => matches!(
                (self.history.owner_of(p), holder),
                (Some(Holder::Connector(c)), Some(Holder::Connector(d))) if c == d
            ),
            _ => false,
        };
        match made.event {
            Event::ConnectTcp { connector: c, .. } | Event::Connect { connector: c } => {
                match step.event {
                    Event::DoStart { .. } => holder == Some(Holder::Connector(c)),
                    Event::StartedConnecting { connector, .. } => connector == c,
                    _ => false,
                }
            }
            Event::ListenTcp { port, .. } => {
                matches!(step.event, Event::DoStart { .. }) && holder == Some(Holder::Port(port))
            }
            Event::StopConnecting { connector: c } | Event::Disconnect { connector: c }
                if connecting(c) =>
            {
                match step.event {
                    Event::ClientConnectionFailed { connector, .. } => connector == c,
                    Event::DoStop { .. } => holder == Some(Holder::Connector(c)),
                    _ => false,
                }
            }
            Event::Disconnect { connector: c } => {
                let view = views::connector(&self.history, c, at, self.twisted);
                match view.map(|v| v.attempt) {
                    Some(Attempt::Connected {
                        protocol: Some(p), ..
                    }) => write_closed(p) && closing_chain(p),
                    _ => false,
                }
            }
            Event::LoseConnection { protocol: p } => write_closed(p) && closing_chain(p),
            Event::Write { protocol: p, .. } => {
                let streaming = views::protocol(&self.history, p, at)
                    .and_then(|v| v.producer)
                    .is_some_and(|producer| producer.streaming);
                streaming && step.event == Event::PauseProducing { protocol: p }
            }
            Event::RegisterProducer { protocol: p, .. } => matches!(
                step.event,
                Event::ResumeProducing { protocol } | Event::StopProducing { protocol } if protocol == p
            ),
            _ => false,
        }
    }

    // -------------------------------------------------------------- §3 hooks

    /// F-START-HOOK, F-STOP-HOOK: the very next event after a `do_start` that
    /// found the count at 0 is its `start_factory` at depth+1 (and likewise for
    /// the `do_stop` that brought it to 0); a hook anywhere else is illegal.
    fn check_hooks(&self, step: &Step, parent: Option<usize>) -> Result<(), Broken> {
        let previous = self.history.entries.last().filter(|e| e.needs_hook);
        let owed = previous.map(|e| (e.step.event, e.step.depth, self.history.entries.len() - 1));
        match owed {
            Some((Event::DoStart { factory, .. }, depth, index)) => {
                let is_hook = step.event == Event::StartFactory { factory }
                    && step.depth == depth + 1
                    && parent == Some(index);
                if !is_hook {
                    return Err(F_START_HOOK);
                }
            }
            Some((Event::DoStop { factory, .. }, depth, index)) => {
                let is_hook = step.event == Event::StopFactory { factory }
                    && step.depth == depth + 1
                    && parent == Some(index);
                if !is_hook {
                    return Err(F_STOP_HOOK);
                }
            }
            _ => match step.event {
                Event::StartFactory { .. } => return Err(F_START_HOOK),
                Event::StopFactory { .. } => return Err(F_STOP_HOOK),
                _ => {}
            },
        }
        Ok(())
    }

    // ------------------------------------------------------ the event's rules

    fn check_event(&self, step: &Step, entry: &mut Entry) -> Result<(), Broken> {
        let parent = entry.parent;
        match step.event {
            // §2: set-up introduces connectors and ports.
            Event::ConnectTcp { connector, .. } => {
                if !step.failed && self.connector(connector).is_some() {
                    return Err(T_DUPLICATE_ID);
                }
            }
            Event::ListenTcp { port, .. } => {
                if !step.failed && self.port(port).is_some() {
                    return Err(T_DUPLICATE_ID);
                }
            }

            // §3: do_start and do_stop.
            Event::DoStart { factory, holder } => {
                let holder = self.start_holder(factory, holder)?;
                self.check_nested(step, parent, Some(holder))?;
                entry.holder = Some(holder);
                entry.needs_hook = step.runs_factory_hooks()
                    && views::num_ports(&self.history, factory, self.now()) == 0;
            }
            Event::DoStop { factory, holder } => {
                let holder = self.stop_holder(factory, holder)?;
                self.check_nested(step, parent, Some(holder))?;
                entry.holder = Some(holder);
                entry.needs_hook = step.runs_factory_hooks()
                    && views::num_ports(&self.history, factory, self.now()) == 1;
            }
            Event::StartFactory { .. } | Event::StopFactory { .. } => {
                self.check_nested(step, parent, None)?;
            }

            // §4: connectors.
            Event::StartedConnecting { factory, connector } => {
                let c = self.known_connector(connector, Some(factory))?;
                self.check_nested(step, parent, None)?;
                if c.attempt != Attempt::AwaitingStarted {
                    return Err(C_STARTED);
                }
            }
            Event::BuildProtocol {
                factory,
                holder,
                protocol,
            } => {
                entry.holder = Some(holder);
                self.check_build(step, factory, holder, protocol)?;
                self.check_nested(step, parent, Some(holder))?;
                match holder {
                    Holder::Connector(c) => self.check_build_on_connector(c)?,
                    Holder::Port(l) => self.check_build_on_port(l)?,
                }
            }
            Event::ClientConnectionFailed {
                factory,
                connector,
                reason,
            } => {
                let c = self.known_connector(connector, Some(factory))?;
                self.check_nested(step, parent, None)?;
                check_connection_failed(&c, reason)?;
            }
            Event::ClientConnectionLost {
                factory,
                connector,
                reason,
            } => {
                let c = self.known_connector(connector, Some(factory))?;
                self.check_nested(step, parent, None)?;
                check_connection_lost(&c, reason)?;
            }
            Event::Connect { connector } => {
                let c = self.known_connector(connector, None)?;
                if !step.failed {
                    self.check_connect(&c, parent)?;
                }
            }
            Event::StopConnecting { connector } => {
                let c = self.known_connector(connector, None)?;
                if !step.failed && !c.is_connecting() {
                    return Err(C_CONNECT_STATE);
                }
            }
            Event::Disconnect { connector } => {
                self.known_connector(connector, None)?;
            }

            // §5: ports.
            Event::StopListening { port } => {
                self.known_port(port, None)?;
            }

            // §6: protocols.
            Event::ConnectionMade { protocol } => {
                let p = self.protocol(protocol).ok_or(P_MADE)?;
                self.check_nested(step, parent, None)?;
                if p.made {
                    return Err(P_MADE);
                }
            }
            Event::DataReceived { protocol, .. }
            | Event::ReadConnectionLost { protocol }
            | Event::WriteConnectionLost { protocol }
            | Event::ConnectionLost { protocol, .. }
            | Event::PauseProducing { protocol }
            | Event::ResumeProducing { protocol }
            | Event::StopProducing { protocol } => {
                let p = self.protocol(protocol).ok_or(T_UNKNOWN_ID)?;
                self.check_nested(step, parent, None)?;
                check_transport_callback(&p, &step.event)?;
            }
            Event::RegisterProducer { protocol, .. } => {
                let p = self.protocol(protocol).ok_or(T_UNKNOWN_ID)?;
                if !step.failed && !p.lost && p.producer.is_some() {
                    return Err(PR_REGISTER);
                }
            }
            Event::Write { protocol, .. }
            | Event::LoseConnection { protocol }
            | Event::LoseWriteConnection { protocol }
            | Event::AbortConnection { protocol }
            | Event::UnregisterProducer { protocol }
            | Event::PauseReading { protocol }
            | Event::ResumeReading { protocol } => {
                self.protocol(protocol).ok_or(T_UNKNOWN_ID)?;
            }

            // §7: markers.
            Event::Shutdown | Event::End => {}
        }
        Ok(())
    }

    /// §2: a connector that exists, created with `factory` if one is named.
    fn known_connector(
        &self,
        c: ConnectorId,
        factory: Option<FactoryId>,
    ) -> Result<ConnectorView, Broken> {
        let view = self.connector(c).ok_or(T_UNKNOWN_ID)?;
        if factory.is_some_and(|f| f != view.factory) {
            return Err(T_FACTORY);
        }
        Ok(view)
    }

    /// §2: a port that exists, created with `factory` if one is named.
    fn known_port(&self, l: PortId, factory: Option<FactoryId>) -> Result<PortView, Broken> {
        let view = self.port(l).ok_or(T_UNKNOWN_ID)?;
        if factory.is_some_and(|f| f != view.factory) {
            return Err(T_FACTORY);
        }
        Ok(view)
    }

    /// §2: a holder that exists and was created with `factory`.
    fn known_holder(&self, holder: Holder, factory: FactoryId) -> Result<(), Broken> {
        match holder {
            Holder::Connector(c) => self.known_connector(c, Some(factory)).map(drop),
            Holder::Port(l) => self.known_port(l, Some(factory)).map(drop),
        }
    }

    /// §3: whether `holder` owes a `do_start` now.
    fn owes_start(&self, holder: Holder) -> bool {
        match holder {
            Holder::Connector(c) => self
                .connector(c)
                .is_some_and(|v| v.attempt == Attempt::AwaitingDoStart && !v.holds),
            Holder::Port(l) => self
                .port(l)
                .is_some_and(|v| v.state == PortState::AwaitingDoStart),
        }
    }

    /// §3: whether `holder` owes a `do_stop` now.
    fn owes_stop(&self, holder: Holder) -> bool {
        match holder {
            Holder::Connector(c) => self
                .connector(c)
                .is_some_and(|v| v.attempt == Attempt::OwesDoStop),
            Holder::Port(l) => self
                .port(l)
                .is_some_and(|v| views::port_owes_stop(&self.history, &v, self.now())),
        }
    }

    /// §3 N2 under `strict`: a connector whose outer outcome callback returned
    /// after its nested retry had failed and stopped the factory.
    fn double_stop(&self, holder: Holder) -> bool {
        match holder {
            Holder::Connector(c) => self.connector(c).is_some_and(|v| v.double_stop),
            Holder::Port(_) => false,
        }
    }

    /// The holder a `do_start` is for: as named, or attributed to the first
    /// created holder of the factory that owes one (F-DO-START).
    fn start_holder(&self, factory: FactoryId, named: Option<Holder>) -> Result<Holder, Broken> {
        if let Some(holder) = named {
            self.known_holder(holder, factory)?;
            return if self.owes_start(holder) {
                Ok(holder)
            } else {
                Err(F_DO_START)
            };
        }
        views::holders_of(&self.history, factory, self.now())
            .into_iter()
            .find(|&h| self.owes_start(h))
            .ok_or(F_DO_START)
    }

    /// The holder a `do_stop` is for (F-DO-STOP, F-DOUBLE-STOP).
    fn stop_holder(&self, factory: FactoryId, named: Option<Holder>) -> Result<Holder, Broken> {
        let refuse = |holder: Option<Holder>| {
            if holder.is_some_and(|h| self.double_stop(h)) {
                F_DOUBLE_STOP
            } else {
                F_DO_STOP
            }
        };
        if let Some(holder) = named {
            self.known_holder(holder, factory)?;
            return if self.owes_stop(holder) {
                Ok(holder)
            } else {
                Err(refuse(Some(holder)))
            };
        }
        let holders = views::holders_of(&self.history, factory, self.now());
        if let Some(&holder) = holders.iter().find(|&&h| self.owes_stop(h)) {
            return Ok(holder);
        }
        Err(refuse(holders.into_iter().find(|&h| self.double_stop(h))))
    }

    /// §2 for `build_protocol`: its holder exists with this factory, and the
    /// protocol it introduces is new.
    fn check_build(
        &self,
        step: &Step,
        factory: FactoryId,
        holder: Holder,
        protocol: Option<ProtocolId>,
    ) -> Result<(), Broken> {
        self.known_holder(holder, factory)?;
        if let Some(p) = protocol {
            if !step.failed && self.protocol(p).is_some() {
                return Err(T_DUPLICATE_ID);
            }
        }
        Ok(())
    }

    /// §4: `build_protocol` on a connector.
    fn check_build_on_connector(&self, c: ConnectorId) -> Result<(), Broken> {
        let c = self.connector(c).ok_or(T_UNKNOWN_ID)?;
        match c.attempt {
            Attempt::Connecting if c.cancelled => Err(C_CANCEL),
            Attempt::Connecting => Ok(()),
            Attempt::AwaitingDoStart
            | Attempt::AwaitingStarted
            | Attempt::Stuck(Stuck::StartRaised) => Err(C_OUTCOME_ORDER),
            _ => Err(C_ONE_OUTCOME),
        }
    }

    /// §5: `build_protocol` on a port: after its do_start, until its do_stop.
    fn check_build_on_port(&self, l: PortId) -> Result<(), Broken> {
        let l = self.port(l).ok_or(T_UNKNOWN_ID)?;
        if l.state == PortState::Listening {
            Ok(())
        } else {
            Err(S_BUILD)
        }
    }

    /// §4: `connect` (not raised): when disconnected, or as a retry while the
    /// outcome callback runs (Twisted's state is "disconnected" then, so a
    /// connect from inside it or from any other running code succeeds). A
    /// connect `within` the outcome callback whose return made do_stop owed
    /// shows it was still running (it awaited): a retry too.
    fn check_connect(&self, c: &ConnectorView, parent: Option<usize>) -> Result<(), Broken> {
        match c.attempt {
            Attempt::Disconnected | Attempt::InOutcome => Ok(()),
            Attempt::OwesDoStop if parent.is_some() && parent == c.owed_by => Ok(()),
            Attempt::OwesDoStop => Err(C_RETRY),
            _ => Err(C_CONNECT_STATE),
        }
    }

    // ---------------------------------------------------------------- §7 end

    /// At `end` every running callback returns; then what is still owed is
    /// unmet: a violation at `end` under `strict`, warnings under `twisted`.
    fn end(&mut self) -> Result<(), Broken> {
        self.ended = true;
        for &index in self.history.running().iter().rev() {
            self.history.push_return(index);
        }
        let objects: Vec<Obj> = self.history.objects().collect();
        let mut unmet = Vec::new();
        for obj in objects {
            match obj {
                Obj::Protocol(p) => {
                    if let Some(v) = self.protocol(p) {
                        if v.made && !v.lost {
                            unmet.push((v.created, P_UNLOST));
                        }
                    }
                }
                Obj::Connector(c) => {
                    if let Some(v) = self.connector(c) {
                        match v.attempt {
                            Attempt::Disconnected | Attempt::Stuck(_) => {}
                            Attempt::OwesDoStop => unmet.push((v.created, F_UNSTOPPED)),
                            _ => unmet.push((v.created, C_UNRESOLVED)),
                        }
                    }
                }
                Obj::Port(l) => {
                    if let Some(v) = self.port(l) {
                        if v.state == PortState::Listening {
                            unmet.push((v.created, S_UNSTOPPED));
                        }
                    }
                }
                Obj::Reactor | Obj::Factory(_) => {}
            }
        }
        unmet.sort();
        self.unmet = unmet;
        match self.unmet.first() {
            Some(&(_, rule)) if !self.twisted => Err(rule),
            _ => Ok(()),
        }
    }
}

/// §4: `client_connection_failed`.
fn check_connection_failed(c: &ConnectorView, reason: Reason) -> Result<(), Broken> {
    if !reason.is_failure() {
        return Err(T_REASON);
    }
    match c.attempt {
        Attempt::AwaitingDoStart
        | Attempt::AwaitingStarted
        | Attempt::Stuck(Stuck::StartRaised) => Err(C_OUTCOME_ORDER),
        Attempt::Connecting if c.cancelled && reason != Reason::UserCancelled => Err(C_CANCEL),
        Attempt::Connecting | Attempt::Connected { raised: true, .. } => Ok(()),
        _ => Err(C_ONE_OUTCOME),
    }
}

/// §4: `client_connection_lost`.
fn check_connection_lost(c: &ConnectorView, reason: Reason) -> Result<(), Broken> {
    if !reason.is_loss() {
        return Err(T_REASON);
    }
    match c.attempt {
        Attempt::Connected { raised: true, .. } => Err(C_BUILD_OUTCOME),
        Attempt::Connected { protocol: None, .. } if reason == Reason::ConnectionDone => Ok(()),
        Attempt::Connected { protocol: None, .. } => Err(C_LOST_REASON),
        Attempt::Connected {
            protocol: Some(_), ..
        }
        | Attempt::Stuck(Stuck::LostRaised) => Err(C_LOST_ORDER),
        Attempt::Lost(lost) if lost == reason => Ok(()),
        Attempt::Lost(_) => Err(C_LOST_REASON),
        Attempt::AwaitingDoStart
        | Attempt::AwaitingStarted
        | Attempt::Connecting
        | Attempt::Stuck(Stuck::StartRaised) => Err(C_OUTCOME_ORDER),
        Attempt::InOutcome | Attempt::OwesDoStop | Attempt::Disconnected => Err(C_ONE_OUTCOME),
    }
}

/// §6: a transport callback, checked in the spec's order: lost, not made,
/// P-RAISED, then the event's own rule.
fn check_transport_callback(p: &ProtocolView, event: &Event) -> Result<(), Broken> {
    if p.lost {
        return match event {
            Event::ConnectionLost { .. } => Err(P_LOST_TWICE),
            // A producer registered after the loss gets exactly one stop_producing.
            Event::StopProducing { .. } if p.stops_after_loss > 0 => Ok(()),
            _ => Err(P_AFTER_LOST),
        };
    }
    if !p.made {
        return Err(P_BEFORE_MADE);
    }
    if p.raised
        && !matches!(
            event,
            Event::ConnectionLost { .. } | Event::StopProducing { .. }
        )
    {
        return Err(P_RAISED);
    }
    match *event {
        Event::DataReceived { bytes, .. } => {
            if bytes == 0 {
                Err(P_EMPTY_DATA)
            } else if p.read_closed {
                Err(H_READ_CLOSED)
            } else {
                Ok(())
            }
        }
        Event::ReadConnectionLost { .. } if p.read_closed => Err(H_READ_CLOSED),
        Event::WriteConnectionLost { .. } if p.write_closed || !p.write_close_requested => {
            Err(H_WRITE_CLOSED)
        }
        Event::ConnectionLost { reason, .. } if !reason.is_loss() => Err(T_REASON),
        Event::ConnectionLost { .. } if p.producer.is_some() => Err(PR_STOP_FIRST),
        Event::PauseProducing { .. } if !p.producer.is_some_and(|pr| pr.streaming) => {
            Err(PR_CALLBACK)
        }
        Event::ResumeProducing { .. }
            if !p.producer.is_some_and(|pr| !pr.streaming || pr.paused) =>
        {
            Err(PR_CALLBACK)
        }
        Event::StopProducing { .. } if p.producer.is_none() => Err(PR_CALLBACK),
        _ => Ok(()),
    }
}
