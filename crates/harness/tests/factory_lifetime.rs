//! How long the reactor keeps a factory: as Twisted's reactor does, while a
//! connector of it connects or is connected and while a port of it listens
//! (they hold their factory), and no longer, unless a `Connector` handle
//! that may connect again is still alive. A factory made per connection is
//! then freed as its connection ends, and the reactor's memory follows live
//! objects.

#![allow(clippy::arc_with_non_send_sync)]

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::Duration;

use callorder_core::ClientFactory;
use callorder_harness::{MockReactor, Outcome, Script};
use callorder_trace::{Event, EventKind};
use support::*;

const ADDR: &str = "10.0.0.1:80";

fn factory() -> (Arc<dyn ClientFactory>, Weak<dyn ClientFactory>) {
    let f: Arc<dyn ClientFactory> = ProbeFactory::new(Behaviour::default());
    let weak = Arc::downgrade(&f);
    (f, weak)
}

fn factories_of(run: &callorder_harness::Run, kind: EventKind) -> Vec<u64> {
    run.trace
        .iter()
        .filter(|r| r.step.event.kind() == kind)
        .filter_map(|r| match r.step.event {
            Event::ConnectTcp { factory, .. } | Event::DoStart { factory, .. } => Some(factory.0),
            _ => None,
        })
        .collect()
}

#[test]
fn the_reactor_lets_go_of_a_factory_once_its_connector_is_done_with_it() {
    let alive_after = Rc::new(Cell::new(None));
    let seen = alive_after.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(1))
            .shutdown(),
        |r| {
            let (f, weak) = factory();
            // The application keeps neither the factory nor the connector.
            r.connect_tcp(ADDR, f, None);
            r.call_later(Duration::from_millis(500), move || {
                seen.set(Some(weak.strong_count()));
            });
        },
    );
    run.assert_clean();
    assert_eq!(
        kinds(&run)[..8],
        [
            EventKind::ConnectTcp,
            EventKind::DoStart,
            EventKind::StartFactory,
            EventKind::StartedConnecting,
            EventKind::ClientConnectionFailed,
            EventKind::DoStop,
            EventKind::StopFactory,
            EventKind::Shutdown,
        ]
    );
    assert_eq!(
        alive_after.get(),
        Some(0),
        "after its do_stop nothing holds the factory: it is freed"
    );
}

#[test]
fn a_factory_in_use_is_kept_even_when_the_application_dropped_it() {
    let alive_while_connecting = Rc::new(Cell::new(None));
    let seen = alive_while_connecting.clone();
    let run = MockReactor::new().run(
        Script::new()
            .advance(Duration::from_secs(1))
            .resolve(1, Outcome::Refuse)
            .shutdown(),
        |r| {
            let (f, weak) = factory();
            r.connect_tcp(ADDR, f, None);
            r.call_later(Duration::from_millis(500), move || {
                seen.set(Some(weak.strong_count()));
            });
        },
    );
    run.assert_clean();
    assert_eq!(alive_while_connecting.get(), Some(1), "held by the reactor");
}

#[test]
fn a_connector_handle_keeps_its_factory_to_connect_again_later() {
    let alive_before_retry = Rc::new(Cell::new(None));
    let seen = alive_before_retry.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(1))
            .resolve(2, Outcome::Refuse)
            .shutdown(),
        |r| {
            let (f, weak) = factory();
            let connector = r.connect_tcp(ADDR, f, None);
            // Only the handle is kept, by a timer: as Twisted's
            // `callLater(delay, connector.connect)`.
            r.call_later(Duration::from_millis(500), move || {
                seen.set(Some(weak.strong_count()));
                connector
                    .connect()
                    .expect("a disconnected connector connects");
            });
        },
    );
    run.assert_clean();
    assert_eq!(alive_before_retry.get(), Some(1));
    assert_eq!(
        factories_of(&run, EventKind::DoStart),
        [1, 1],
        "the same factory starts again"
    );
    assert_eq!(
        kinds(&run)
            .iter()
            .filter(|k| **k == EventKind::ClientConnectionFailed)
            .count(),
        2
    );
}

#[test]
fn a_new_factory_is_a_new_factory_even_where_a_freed_one_lived() {
    // The reactor names factories by address; a freed factory's address
    // may be reused by the next one made, which must get a new id.
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(1))
            .resolve(2, Outcome::Refuse)
            .shutdown(),
        |r| {
            r.connect_tcp(ADDR, factory().0, None);
            let r2 = r.clone();
            r.call_later(Duration::from_millis(500), move || {
                r2.connect_tcp(ADDR, factory().0, None);
            });
        },
    );
    run.assert_clean();
    assert_eq!(factories_of(&run, EventKind::ConnectTcp), [1, 2]);
    assert!(run.leaks.is_empty(), "{:?}", run.leaks);
}

#[test]
fn many_factories_made_one_per_connection_do_not_pile_up_in_the_reactor() {
    // Each connection's factory is made by the previous one's outcome, as a
    // factory-per-connect client does; none is kept by the application.
    const ROUNDS: usize = 200;
    let weaks: Rc<RefCell<Vec<Weak<dyn ClientFactory>>>> = Rc::default();
    let most_alive = Rc::new(Cell::new(0usize));
    let mut script = Script::new();
    for attempt in 1..=ROUNDS {
        script = script
            .resolve(attempt, Outcome::Refuse)
            .advance(Duration::from_secs(1));
    }
    let (w, most) = (weaks.clone(), most_alive.clone());
    let run = MockReactor::new().run(script.shutdown(), move |r| {
        let r2 = r.clone();
        r.call_later(Duration::ZERO, move || {
            // Once a second: count the factories still alive, make a new one.
            fn next(
                r: callorder_core::Reactor,
                w: Rc<RefCell<Vec<Weak<dyn ClientFactory>>>>,
                most: Rc<Cell<usize>>,
                left: usize,
            ) {
                let alive = w.borrow().iter().filter(|f| f.strong_count() > 0).count();
                most.set(most.get().max(alive));
                if left == 0 {
                    return;
                }
                let (f, weak) = factory();
                w.borrow_mut().push(weak);
                r.connect_tcp(ADDR, f, None);
                let r2 = r.clone();
                r.call_later(Duration::from_secs(1), move || next(r2, w, most, left - 1));
            }
            next(r2, w, most, ROUNDS);
        });
    });
    run.assert_clean();
    assert_eq!(weaks.borrow().len(), ROUNDS);
    assert!(
        most_alive.get() <= 1,
        "at most the factory of the connection in progress is alive: {}",
        most_alive.get()
    );
}

#[test]
fn a_factory_that_listens_and_connects_gets_its_client_callbacks() {
    let f = ProbeFactory::new(Behaviour::default());
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(1))
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", f.clone()).unwrap();
            r.connect_tcp(ADDR, f, None);
        },
    );
    run.assert_clean();
    let names = events(&run);
    assert!(
        names.contains(&"started_connecting".to_string())
            && names.contains(&"client_connection_failed(connection_refused)".to_string()),
        "{names:?}"
    );
}
