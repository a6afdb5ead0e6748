//! Reactor-owned tasks: futures that live across callbacks (the stream
//! adapter's user code), polled by the run loop itself.
//!
//! A task is polled at the top level, outside every callback, so its
//! actions are depth-0 actions, as those of a Twisted Deferred chain resumed
//! from the event loop. It is polled when it was woken (by bytes for its
//! stream, a timer, ...), in the order of the tasks' ids, before the next
//! queued delivery. A woken task keeps the run from being quiet; one that
//! waits does not, so "run until quiet" between two steps of a script still
//! ends. Under the mock's paused clock a task waiting for a timer gets it
//! when the script's `advance` passes its deadline: the run then sleeps as
//! it does for a callback that awaits, and tokio's clock jumps to the next
//! deadline, the task's or the reactor's.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Wake, Waker};

use super::*;

/// A task: its future, and the waker that marks it woken.
pub(super) struct Task {
    pub(super) id: u64,
    pub(super) fut: Pin<Box<dyn Future<Output = ()>>>,
    pub(super) waker: Waker,
}

/// Which tasks were woken, and the run loop's waker to wake when one is.
#[derive(Default)]
pub(super) struct Wakes {
    woken: Mutex<BTreeSet<u64>>,
    /// Whether `woken` has any: the run loop asks before every delivery,
    /// and a load costs much less than taking the lock. Changed only with
    /// the lock held.
    any: AtomicBool,
    run_loop: Mutex<Option<Waker>>,
}

impl Wakes {
    fn take_woken(&self) -> BTreeSet<u64> {
        let mut woken = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        self.any.store(false, Ordering::Release);
        std::mem::take(&mut *woken)
    }

    #[inline]
    pub(super) fn any_woken(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    fn wake(&self, id: u64) {
        {
            let mut woken = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
            woken.insert(id);
            self.any.store(true, Ordering::Release);
        }
        let run_loop = self.run_loop.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = run_loop.as_ref() {
            waker.wake_by_ref();
        }
    }

    /// The run loop waits with `waker`: a task woken meanwhile wakes it.
    pub(super) fn run_loop_waits(&self, waker: &Waker) {
        let mut run_loop = self.run_loop.lock().unwrap_or_else(PoisonError::into_inner);
        if !run_loop.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *run_loop = Some(waker.clone());
        }
    }
}

/// One task's waker.
struct TaskWake {
    id: u64,
    wakes: Arc<Wakes>,
}

impl Wake for TaskWake {
    fn wake(self: Arc<Self>) {
        self.wakes.wake(self.id);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.wake(self.id);
    }
}

thread_local! {
    /// The reactor whose run is on this thread, for the tasks its
    /// callbacks spawn.
    static CURRENT: RefCell<Option<Weak<Inner>>> = const { RefCell::new(None) };
}

/// While it lives, `spawn_task` spawns onto this reactor; then the one
/// before it again.
pub(super) struct Current(Option<Weak<Inner>>);

impl Current {
    pub(super) fn enter(inner: &Rc<Inner>) -> Current {
        Current(CURRENT.with(|c| c.replace(Some(Rc::downgrade(inner)))))
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let before = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = before);
    }
}

/// Spawns `fut` as a task of the reactor running on this thread. False
/// when no callorder reactor runs here.
pub(crate) fn spawn_task(fut: Pin<Box<dyn Future<Output = ()>>>) -> bool {
    let Some(inner) = CURRENT.with(|c| c.borrow().as_ref().and_then(Weak::upgrade)) else {
        return false;
    };
    let id = inner.next_task.get();
    inner.next_task.set(id + 1);
    let waker = Waker::from(Arc::new(TaskWake {
        id,
        wakes: inner.wakes.clone(),
    }));
    inner.tasks.borrow_mut().push(Task { id, fut, waker });
    // Polled first when the callback that spawned it returns.
    inner.wakes.wake(id);
    true
}

impl MockReactor {
    /// Whether any task lives.
    pub(super) fn tasks_alive(&self) -> bool {
        !self.inner.tasks.borrow().is_empty()
    }

    /// Polls the woken tasks, by id. Whether any was polled.
    #[inline]
    pub(super) fn poll_tasks(&self) -> bool {
        // Asked before every delivery; most runs have no task at all.
        self.inner.wakes.any_woken() && self.poll_woken_tasks()
    }

    fn poll_woken_tasks(&self) -> bool {
        let woken = self.inner.wakes.take_woken();
        let mut polled = false;
        for id in woken {
            // Taken out while polled: it may spawn tasks, or act.
            let taken = {
                let mut tasks = self.inner.tasks.borrow_mut();
                let at = tasks.iter().position(|t| t.id == id);
                at.map(|i| tasks.remove(i))
            };
            let Some(mut task) = taken else { continue };
            polled = true;
            self.inner.state.borrow_mut().tick();
            let meter = self.inner.state.borrow().heap.clone();
            let started = meter.start();
            let mut cx = Context::from_waker(&task.waker);
            let outcome = catch_unwind(AssertUnwindSafe(|| task.fut.as_mut().poll(&mut cx)));
            meter.stop(started);
            match outcome {
                Ok(Poll::Pending) => {
                    let mut tasks = self.inner.tasks.borrow_mut();
                    let at = tasks.partition_point(|t| t.id < id);
                    tasks.insert(at, task);
                }
                Ok(Poll::Ready(())) => {
                    let started = meter.start();
                    drop(task);
                    meter.stop(started);
                }
                Err(panic) => {
                    // As a panic in a timer: reported, and the run goes on.
                    let mut s = self.inner.state.borrow_mut();
                    let seq = s.trace.len() as u64;
                    s.errors.push(ImplError {
                        kind: ImplErrorKind::Panicked,
                        seq,
                        event: None,
                        message: format!("a task panicked: {}", panic_message(panic)),
                    });
                }
            }
        }
        polled
    }
}
