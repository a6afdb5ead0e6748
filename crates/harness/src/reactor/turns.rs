//! The run loop: turns of I/O and timers, run until quiet, waiting for
//! callbacks that await and for time to pass.

use super::*;

impl MockReactor {
    #[inline]
    pub(super) fn stopped(&self) -> bool {
        let s = self.inner.state.borrow();
        s.violation.is_some() || s.ended || s.exhausted
    }

    /// Runs turns until nothing is left to do now (or, with a deadline,
    /// until then).
    pub(super) async fn run_until(&self, deadline: Option<Instant>) {
        loop {
            if self.stopped() {
                return;
            }
            if !self.inner.running.borrow().is_empty() && self.poll_running().await {
                continue;
            }
            if self.poll_tasks() {
                continue;
            }
            if self.begin_next() {
                continue;
            }
            if !self.inner.running.borrow().is_empty() && self.all_blocked() && !self.wire_ready() {
                // Deliveries wait for running callbacks: let time pass.
                if !self.wait(deadline).await {
                    return;
                }
                continue;
            }
            if self.turn() {
                continue;
            }
            if deadline.is_none() && self.inner.running.borrow().is_empty() {
                // Quiet, and no deadline to move time to: `wait` would say
                // so without waiting; the usual end of a script step.
                return;
            }
            if !self.wait(deadline).await {
                return;
            }
        }
    }

    /// Makes every delivery that is ready now, without waiting: used during
    /// the test's set-up, before each of its actions, so that each action's
    /// consequences come before the next action, as when Twisted runs
    /// `listenTCP` and `connectTCP` one after the other. A callback that
    /// awaits stays running, for the run loop to finish.
    pub(super) fn settle_now(&self) {
        if self.inner.settling.replace(true) {
            return;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            let running = !self.inner.running.borrow().is_empty();
            if running && self.poll_all(&mut cx) {
                continue;
            }
            if self.stopped() || !self.begin_next() {
                break;
            }
        }
        self.inner.settling.set(false);
    }

    /// A live run's backend reported I/O that waits for a turn: it is
    /// served while callbacks await, as a real reactor serves sockets.
    fn wire_ready(&self) -> bool {
        let s = self.inner.state.borrow();
        s.backend.is_some() && !s.io_next.is_empty()
    }

    pub(super) fn all_blocked(&self) -> bool {
        let s = self.inner.state.borrow();
        s.queue.iter().all(|c| s.busy.contains(&target_of(&s, c)))
    }

    /// One turn's I/O batch and due timers. Whether anything happened.
    pub(super) fn turn(&self) -> bool {
        // As Twisted's loop: after a batch of I/O (and all it delivered),
        // the due timers run before the next batch is read.
        let (after_io, lingering) = {
            let mut s = self.inner.state.borrow_mut();
            (std::mem::take(&mut s.after_io), !s.lingering.is_empty())
        };
        if lingering {
            self.sweep_lingering();
        }
        if after_io && self.run_due_timers() {
            return true;
        }
        self.pull_wire_events();
        // The batch is what is ready now; I/O it causes waits for the next
        // one. The two queues swap, so neither allocates turn after turn.
        let mut batch = {
            let mut s = self.inner.state.borrow_mut();
            if s.io_next.is_empty() {
                drop(s);
                return self.run_due_timers();
            }
            let spare = std::mem::take(&mut s.io_spare);
            std::mem::replace(&mut s.io_next, spare)
        };
        while let Some(io) = batch.pop_front() {
            self.io(io);
        }
        let mut s = self.inner.state.borrow_mut();
        s.io_spare = batch;
        s.after_io = true;
        s.tick();
        true
    }

    /// Lets go of lingering factories whose handles are all gone. A sweep
    /// costs one look per lingering factory, so with many it waits as many
    /// turns: the cost per turn stays constant.
    pub(super) fn sweep_lingering(&self) {
        let released = {
            let mut s = self.inner.state.borrow_mut();
            if s.lingering.is_empty() {
                return;
            }
            s.turns_since_sweep += 1;
            if s.lingering.len() > 64 && s.turns_since_sweep < s.lingering.len() {
                return;
            }
            s.turns_since_sweep = 0;
            let lingering = std::mem::take(&mut s.lingering);
            for f in lingering {
                if let Some(fs) = s.factories.get_mut(&f) {
                    fs.lingering = false;
                }
                s.release_if_unused(f);
            }
            std::mem::take(&mut s.released_factories)
        };
        self.drop_released(released);
    }

    /// Drops the factories the reactor let go of, outside the state's
    /// borrow (a factory's Drop may act on the reactor), and keeps the
    /// emptied list for its capacity.
    pub(super) fn drop_released(&self, mut released: Vec<FactoryObj>) {
        for factory in released.drain(..) {
            self.drop_guarded(|| "a factory the reactor let go of".to_owned(), factory);
        }
        let mut s = self.inner.state.borrow_mut();
        if s.released_factories.is_empty() {
            s.released_factories = released;
        }
    }

    /// Runs the timers that are due. Whether any did.
    #[inline]
    pub(super) fn run_due_timers(&self) -> bool {
        // Most turns have no timer at all: that is decided here, inline.
        if self.inner.state.borrow().timers.is_empty() {
            return false;
        }
        self.run_due_timers_now()
    }

    pub(super) fn run_due_timers_now(&self) -> bool {
        // Timers the due ones schedule as they fire wait for the next turn:
        // the due ones are taken out first.
        let mut due = {
            let mut s = self.inner.state.borrow_mut();
            let Some(&((first, _), _)) = s.timers.front() else {
                return false;
            };
            let now = Instant::now();
            if first > now {
                return false;
            }
            let mut due = std::mem::take(&mut s.due_timers);
            while s.timers.front().is_some_and(|((at, _), _)| *at <= now) {
                let (_, timer) = s.timers.pop_front().expect("a front");
                due.push(timer);
            }
            due
        };
        let any = !due.is_empty();
        for timer in due.drain(..) {
            self.inner.state.borrow_mut().timer_ran();
            self.fire(timer);
        }
        self.inner.state.borrow_mut().due_timers = due;
        any
    }

    /// Waits for a running callback to make progress or the next timer.
    /// False when there is nothing to wait for (quiet) or the deadline came.
    pub(super) async fn wait(&self, deadline: Option<Instant>) -> bool {
        let next_timer = self
            .inner
            .state
            .borrow()
            .timers
            .front()
            .map(|((at, _), _)| *at);
        // A task that waits (for a timer, say) lets time pass as a callback
        // that awaits does, when a deadline says time may pass.
        let running = !self.inner.running.borrow().is_empty() || self.tasks_alive();
        let until = match (next_timer, deadline) {
            (Some(t), Some(d)) => Some(t.min(d)),
            (t, d) => t.or(d),
        };
        if !running {
            // Quiet: time moves only when the script says so (Advance).
            let (Some(d), Some(t)) = (deadline, next_timer) else {
                return false;
            };
            if t > d {
                return false;
            }
            // Jump the paused clock exactly; a sleep would round up to the
            // timer wheel's millisecond.
            tokio::time::advance(t.saturating_duration_since(Instant::now())).await;
            self.inner.state.borrow_mut().set_now(Instant::now());
            return true;
        }
        let (stall_at, backend) = {
            let s = self.inner.state.borrow();
            let stall_at = s.give_up.unwrap_or_else(|| Instant::now() + STALL_AFTER);
            (stall_at, s.backend.clone())
        };
        let until = until.map_or(stall_at, |u| u.min(stall_at));
        let sleep = tokio::time::sleep_until(until);
        tokio::pin!(sleep);
        let woke = std::future::poll_fn(|cx| {
            self.inner.wakes.run_loop_waits(cx.waker());
            if self.inner.wakes.any_woken() {
                return Poll::Ready(true);
            }
            if self.poll_all(cx) {
                return Poll::Ready(true);
            }
            // Live, the world goes on while a callback awaits.
            if let Some(Poll::Ready(e)) = backend.as_ref().map(|b| b.poll_event(cx)) {
                self.inner.state.borrow_mut().io_next.push_back(Io::Wire(e));
                return Poll::Ready(true);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        self.inner.state.borrow_mut().set_now(Instant::now());
        if !woke && Instant::now() >= stall_at {
            self.stall();
        }
        if let Some(d) = deadline {
            let busy = !self.inner.running.borrow().is_empty() || self.inner.wakes.any_woken();
            if Instant::now() >= d && !busy {
                return false;
            }
        }
        true
    }

    pub(super) fn stall(&self) {
        let stalled: Vec<Running> = std::mem::take(&mut *self.inner.running.borrow_mut());
        let mut s = self.inner.state.borrow_mut();
        for Running { delivery: r, .. } in stalled {
            s.errors.push(ImplError {
                kind: ImplErrorKind::Stalled,
                seq: r.seq,
                event: Some(kind_of(&r.call)),
                message: format!("{} never returned", kind_of(&r.call)),
            });
            s.busy.remove(&r.target);
            s.trace.close(r.record);
            s.parked.remove(&r.seq);
        }
        s.feed();
    }
}
