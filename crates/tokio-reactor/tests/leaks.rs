//! The leak checks of the mock reactor hold over real sockets: a factory
//! the implementation makes during the run and keeps is reported, one it
//! lets go of is not.

#![allow(clippy::arc_with_non_send_sync)]

mod support;

use std::cell::RefCell;
use std::sync::Arc;

use callorder::{
    async_trait, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory,
    Protocol, Reason,
};
use callorder_tokio::TokioReactor;
use support::{Plan, ProbeFactory};

/// A client whose refused attempt makes a new factory for one more try,
/// and keeps it if `keep` (a leak: nothing will use it again).
struct Spawner {
    keep: bool,
    kept: RefCell<Vec<Arc<dyn ClientFactory>>>,
}

#[async_trait(?Send)]
impl Factory for Spawner {
    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        ProbeFactory::new(Plan::default())
            .build_protocol(addr)
            .await
    }
}

#[async_trait(?Send)]
impl ClientFactory for Spawner {
    async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        let next: Arc<dyn ClientFactory> = ProbeFactory::new(Plan::default());
        connector
            .reactor()
            .connect_tcp(connector.destination(), next.clone(), None);
        if self.keep {
            self.kept.borrow_mut().push(next);
        }
        Ok(())
    }
}

async fn run_spawner(keep: bool) -> callorder::Run {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let spawner = Arc::new(Spawner {
        keep,
        kept: RefCell::new(Vec::new()),
    });
    TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(closed.as_str(), spawner.clone(), None);
        })
        .await
}

#[tokio::test]
async fn a_factory_made_during_the_run_and_kept_is_a_leak() {
    let run = run_spawner(true).await;
    assert!(run.violation.is_none() && run.errors.is_empty(), "{run:?}");
    assert_eq!(run.leaks.len(), 1, "{:?}", run.leaks);
    assert_eq!(run.leaks[0].object, "factory f2");
    assert!(!run.is_clean());
}

#[tokio::test]
async fn a_factory_made_during_the_run_and_let_go_is_no_leak() {
    let run = run_spawner(false).await;
    run.assert_clean();
    // Both attempts were refused: the second factory did exist.
    assert_eq!(
        run.events_of_kind(callorder::EventKind::ClientConnectionFailed)
            .count(),
        2
    );
}
