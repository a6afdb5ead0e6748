//! The shutdown: `shutdown`, the teardown of what is still live, `end`.

use super::*;

impl MockReactor {
    pub(super) async fn shutdown(&self) {
        self.run_until(None).await;
        if self.stopped() {
            return;
        }
        {
            let mut s = self.inner.state.borrow_mut();
            s.shutting_down = true;
            s.record(Event::Shutdown, 0, None, false);
            s.feed();
            s.timers.clear();
            s.io_next.clear();
        }
        // Teardown (O2: any order in Twisted; creation order here). What the
        // implementation starts during teardown (a retry in
        // client_connection_failed) is torn down in the next round: Twisted
        // would leave it hanging, which strict rejects.
        for _ in 0..Self::TEARDOWN_ROUNDS {
            if !self.inner.state.borrow_mut().teardown() {
                break;
            }
            self.run_until(None).await;
            if self.stopped() {
                return;
            }
            let mut s = self.inner.state.borrow_mut();
            s.timers.clear();
            s.io_next.clear();
        }
        let mut s = self.inner.state.borrow_mut();
        s.record(Event::End, 0, None, false);
        s.ended = true;
        s.feed();
    }

    /// How many times shutdown tears down what the implementation keeps
    /// starting before it gives up (and the checker reports what is left).
    pub(super) const TEARDOWN_ROUNDS: usize = 16;
}

impl State {
    /// Ends every live connection, port and attempt. Whether there was any.
    pub(super) fn teardown(&mut self) -> bool {
        let conns: Vec<ProtocolId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.lost)
            .map(|(p, _)| p)
            .collect();
        let ports: Vec<PortId> = self
            .ports
            .iter()
            .filter(|(_, p)| p.started && !p.stopped && !p.stuck && !p.tearing_down)
            .map(|(l, _)| l)
            .collect();
        let connecting: Vec<ConnectorId> = self
            .connectors
            .iter()
            .filter(|(_, c)| c.phase == Phase::Connecting)
            .map(|(c, _)| c)
            .collect();
        let any = !(conns.is_empty() && ports.is_empty() && connecting.is_empty());
        for p in conns {
            self.lose(p, Reason::ConnectionLost);
        }
        for l in ports {
            self.on_backend(|b| b.stop_listening(l));
            let ps = self.ports.get_mut(&l).expect("listed");
            ps.stopping = true;
            ps.tearing_down = true;
            let f = ps.factory;
            self.queue.push_back(Call::DoStop(f, Holder::Port(l)));
        }
        for c in connecting {
            self.fail_attempt(c, Reason::ConnectError);
        }
        any
    }
}
