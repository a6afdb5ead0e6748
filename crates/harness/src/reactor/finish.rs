//! The end of a run: letting go of the implementation, the leak checks,
//! and the [`Run`] the caller gets.

use super::*;

impl MockReactor {
    /// Drops `value`, something of the implementation's, outside the
    /// state's borrow: a `Drop` that panics is an error of the
    /// implementation, reported with `what` it was, never a crash of the
    /// run.
    pub(super) fn drop_guarded<T>(&self, what: impl FnOnce() -> String, value: T) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
            let mut s = self.inner.state.borrow_mut();
            let seq = s.trace.len() as u64;
            s.errors.push(ImplError {
                kind: ImplErrorKind::Panicked,
                seq,
                event: None,
                message: format!("the drop of {} panicked: {}", what(), panic_message(panic)),
            });
        }
    }

    pub(super) fn finish(self) -> Run {
        // Let go of everything the run holds of the implementation, then see
        // what is still alive.
        let stuck_futures = std::mem::take(&mut *self.inner.running.borrow_mut());
        // Tasks still waiting at the end (their connections are gone).
        let tasks = std::mem::take(&mut *self.inner.tasks.borrow_mut());
        drop(tasks);
        let (timers, factories, protocols) = {
            let mut s = self.inner.state.borrow_mut();
            s.queue.clear();
            let timers = std::mem::take(&mut s.timers);
            let factories = (
                std::mem::take(&mut s.factories),
                std::mem::take(&mut s.released_factories),
            );
            let protocols: Vec<_> = s
                .conns
                .values_mut()
                .filter_map(|c| c.protocol.take())
                .collect();
            (timers, factories, protocols)
        };
        self.drop_guarded(
            || "what the run held of the implementation (protocols, factories, timers)".to_owned(),
            (stuck_futures, timers, factories, protocols),
        );
        let mut s = self.inner.state.borrow_mut();
        let mut leaks = Vec::new();
        for (p, built_at, weak) in &s.weak_protocols {
            if weak.strong_count() > 0 {
                leaks.push(Leak {
                    object: format!("protocol p{}", p.0),
                    built_at: *built_at,
                    kept_by: "the reactor",
                });
            }
        }
        for (f, named_at, weak) in &s.weak_factories {
            if weak.strong_count() > 0 {
                leaks.push(Leak {
                    object: format!("factory f{}", f.0),
                    built_at: *named_at,
                    kept_by: "the implementation (a factory it made during the run)",
                });
            }
        }
        if s.violation.is_none() && !s.exhausted {
            s.unreached_at_end();
        }
        // In the order of the script, those found at the end among them.
        s.script_failures.sort_by_key(|f| (f.step, f.event));
        s.skipped.sort_by_key(|f| (f.step, f.event));
        let mut written = Vec::new();
        let mut written_cut = Vec::new();
        let mut connections = Vec::new();
        let State {
            client_conns,
            server_conns,
            conns,
            ..
        } = &mut *s;
        let clients =
            (client_conns.iter()).filter_map(|(n, p)| Some((Conn::Client(n), p.as_ref()?)));
        let servers =
            (server_conns.iter()).filter_map(|(n, p)| Some((Conn::Server(n), p.as_ref()?)));
        for (conn, p) in clients.chain(servers) {
            if let Some(c) = conns.get_mut(p) {
                connections.push(ConnStats {
                    conn,
                    protocol: *p,
                    bytes_written: c.bytes_written,
                    bytes_received: c.bytes_received,
                });
                if let Peer::Script(_) = c.peer {
                    let read = c.bytes_written - c.buffered as u64;
                    let mut bytes = std::mem::take(&mut c.written);
                    if read > bytes.len() as u64 {
                        written_cut.push((conn, read));
                    } else {
                        bytes.truncate(read as usize);
                    }
                    written.push((conn, bytes));
                }
            }
        }
        let warnings = s.checker.warnings().to_vec();
        let heap_checkpoints = s
            .heap
            .is_on()
            .then(|| std::mem::take(&mut s.heap_checkpoints));
        Run {
            injected: std::mem::take(&mut s.injected),
            trace: std::mem::replace(&mut s.trace, Recording::new()).into_records(),
            violation: s.violation.take(),
            warnings,
            errors: std::mem::take(&mut s.errors),
            written,
            written_cut,
            connections,
            script_failures: std::mem::take(&mut s.script_failures),
            skipped: std::mem::take(&mut s.skipped),
            leaks,
            heap_checkpoints,
        }
    }
}
