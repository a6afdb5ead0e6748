//! The implementations fixture scripts name in their header
//! (`implementation NAME`), as `callorder run` and the golden-trace tests
//! set them up.
//!
//! Every server listens on [`ADDRESS`] and every client connects to it, so a
//! script that bundles both (`echo_and_line_client`) joins them in memory,
//! and a client alone talks to the script.

use std::sync::Arc;
use std::time::Duration;

use callorder_core::Reactor;

use crate::echo::{Echo, EchoFactory};
use crate::half_close::HalfCloseFactory;
use crate::line::LineClientFactory;
use crate::reconnecting::ReconnectingClientFactory;

/// Where bundled servers listen and bundled clients connect.
pub const ADDRESS: &str = "127.0.0.1:8000";

/// How long bundled clients wait for a connect.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The bundled implementations, by the names scripts use.
pub const NAMES: &[&str] = &[
    "echo_server",
    "line_client",
    "echo_and_line_client",
    "reconnecting_client",
    "half_close_server",
];

/// Sets up the implementation called `name` on `reactor`, or says it does
/// not exist.
///
/// ```
/// use callorder_harness::{MockReactor, Script};
/// use callorder_reference::bundled;
///
/// let run = MockReactor::new().run(Script::new().accept(1, "10.0.0.1:5000").shutdown(), |r| {
///     bundled::set_up("echo_server", r).unwrap();
/// });
/// run.assert_clean();
/// assert!(bundled::set_up("no_such_thing", &callorder_harness::MockReactor::new().handle()).is_err());
/// ```
pub fn set_up(name: &str, reactor: &Reactor) -> Result<(), String> {
    match name {
        "echo_server" => listen_echo(reactor),
        "line_client" => connect_line_client(reactor),
        "echo_and_line_client" => {
            listen_echo(reactor);
            connect_line_client(reactor);
        }
        "reconnecting_client" => {
            let factory = ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared();
            reactor.connect_tcp(ADDRESS, factory, Some(TIMEOUT));
        }
        "half_close_server" => {
            reactor
                .listen_tcp(ADDRESS, Arc::new(HalfCloseFactory::new(b"bye\n")))
                .map_err(|e| format!("half_close_server: {e}"))?;
        }
        other => {
            return Err(format!(
                "no bundled implementation {other:?}; expected one of: {}",
                NAMES.join(", ")
            ));
        }
    }
    Ok(())
}

fn listen_echo(reactor: &Reactor) {
    // A fresh reactor has nothing on ADDRESS, so listening cannot fail.
    let _ = reactor.listen_tcp(ADDRESS, Arc::new(EchoFactory::new()));
}

fn connect_line_client(reactor: &Reactor) {
    let factory = LineClientFactory::new(["hello", "world"]).close_after(2);
    reactor.connect_tcp(ADDRESS, Arc::new(factory), Some(TIMEOUT));
}
