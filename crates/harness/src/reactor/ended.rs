//! What a long run lets go of ([`MockReactor::keep_ended`]): the records of
//! ended connections beyond the last few, the connectors that are done and
//! that no handle can reach, and the oldest entries of the numbered tables
//! once nothing will ask for them, so that a soak's memory follows its live
//! objects, not its length. The numbering of a script's steps stays as it
//! was: a step that names a connection let go still hears that it ended.

use super::*;

/// What a `Connector` handle carries: one per connector, so that the
/// reactor knows whether a handle of it is alive (and so whether anything
/// may still `connect` it), holding its factory's token, which counts the
/// handles of all the factory's connectors.
pub(super) struct ConnectorToken {
    _factory: Rc<()>,
}

impl State {
    /// The token that `Connector` handles of `c` carry: the one they share,
    /// made anew when none is alive.
    pub(super) fn connector_token(&mut self, c: ConnectorId) -> Option<Rc<dyn std::any::Any>> {
        let f = self.connectors.get(&c)?.factory;
        if let Some(token) = self.connectors.get(&c)?.token.upgrade() {
            return Some(token);
        }
        let token = Rc::new(ConnectorToken {
            _factory: self.factories.get(&f)?.handles.clone(),
        });
        self.connectors.get_mut(&c)?.token = Rc::downgrade(&token);
        Some(token)
    }

    /// Connection `p` ended and its protocol was let go: in a long run, the
    /// oldest ended connections beyond `keep_ended` are forgotten.
    pub(super) fn conn_ended(&mut self, p: ProtocolId) {
        let Some(keep) = self.keep_ended else {
            return;
        };
        self.ended_conns.push_back(p);
        while self.ended_conns.len() > keep {
            let Some(q) = self.ended_conns.pop_front() else {
                break;
            };
            let Some(c) = self.conns.remove(&q) else {
                continue;
            };
            if let Some(at) = c.write_error {
                // Its record goes: what the end of the run would say of it
                // is said now.
                let why = format!(
                    "it never fired: no write of the implementation on {} reached the socket after it",
                    c.conn
                );
                self.unreached(at, &WorldEvent::WriteError { conn: c.conn }, why);
            }
        }
        self.trim_numbered();
    }

    /// Connector `c` gave back its start: in a long run, a connector done
    /// with (disconnected, owed nothing, no handle of it alive) is
    /// forgotten. One whose handle lives may connect again, and stays.
    pub(super) fn connector_ended(&mut self, c: ConnectorId) {
        if self.keep_ended.is_none() {
            return;
        }
        let done = self.connectors.get(&c).is_some_and(|cs| {
            cs.phase == Phase::Disconnected && !cs.holds && cs.token.strong_count() == 0
        });
        let owed = self.queue.iter().any(|call| match *call {
            Call::StartedConnecting(k)
            | Call::ConnectionFailed(k, _)
            | Call::ClientConnectionLost(k, _)
            | Call::Build(Holder::Connector(k), ..)
            | Call::DoStart(_, Holder::Connector(k))
            | Call::DoStop(_, Holder::Connector(k)) => k == c,
            _ => false,
        });
        if done && !owed {
            self.connectors.remove(&c);
            self.trim_numbered();
        }
    }

    /// Lets go of the oldest attempts and arrivals that nothing will ask
    /// for again: over, and their connection (if any) forgotten. The first
    /// one still in use holds the window open behind it.
    fn trim_numbered(&mut self) {
        while let Some((n, &c)) = self.attempts.front() {
            let conn = self.client_conns.get(n - 1).copied().flatten();
            let settled = match conn {
                Some(p) => self.conns.get(&p).is_none(),
                None => self.connectors.get(&c).is_none_or(|cs| {
                    cs.attempt != n || !matches!(cs.phase, Phase::Connecting | Phase::Connected(_))
                }),
            };
            if !settled {
                break;
            }
            self.attempts.pop_front(conn.is_some());
            self.client_conns.pop_front(conn.is_some());
            self.attempt_joins.remove(&n);
        }
        while let Some((_, &p)) = self.server_conns.front() {
            if p.is_some_and(|p| self.conns.get(&p).is_some()) {
                break;
            }
            self.server_conns.pop_front(p.is_some());
        }
    }

    /// For a connection whose attempt or arrival was let go, whether it was
    /// made (and so has ended); `None` for one still held or never named.
    pub(super) fn let_go(&self, conn: Conn) -> Option<bool> {
        match conn {
            Conn::Client(n) => self.attempts.let_go(n),
            Conn::Server(n) => self.server_conns.let_go(n),
        }
    }
}
