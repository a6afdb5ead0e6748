//! The scenarios of the Twisted recorder (`twisted_recorder.py`, one
//! `sc_NAME` function each), implemented against callorder's traits, and the
//! fidelity comparison of mock-reactor traces with the traces recorded from
//! real Twisted 26.10 (`fixtures/twisted/legal/`).
//!
//! - [`set_up`] sets up a scenario's factories, ports and connectors on a
//!   reactor, as the recorder's scenario code does; [`NAMES`] lists them.
//!   The world side of each scenario (refusals, peers, time, the driver's
//!   final `stop_listening` and the reactor's stop) is a script,
//!   `fixtures/scripts/twisted/NAME.script`.
//! - [`compare`] compares two traces on what Twisted fixes
//!   ([`compare::compare`]); `docs/fidelity.md` says which scenarios match.
//!
//! ```
//! use callorder_harness::{MockReactor, Script};
//! use callorder_scenarios::set_up;
//!
//! let run = MockReactor::new().run(Script::new().stop_listening(1).shutdown(), |r| {
//!     set_up("client_echo_client_closes", r).unwrap();
//! });
//! run.assert_clean();
//! ```
#![forbid(unsafe_code)]

pub mod compare;
mod parts;
mod rcf;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use callorder_core::{Port, Reactor};

use parts::{
    share, ClosingFactory, Echo, EchoClient, Greeter, HalfClient, HalfServer, Idle, LateProducer,
    Listener, OnData, OnPause, Puller, RaiseIn, Raiser, RetryAtOnce, SimpleFactory, Streamer,
    Welcome, Writer,
};

/// Where the scenarios' servers listen (and their clients connect, so that
/// the mock reactor joins them in memory, as the recorder's loopback did).
pub const ADDRESS: &str = "127.0.0.1:8000";

/// Where clients connect when the script plays the peer (nothing of this
/// reactor listens there).
pub const REMOTE: &str = "127.0.0.1:9";

/// The host name of `dns_lookup_failure`.
pub const UNRESOLVABLE: &str = "no-such-host.invalid:9";

/// Twisted's default connect timeout.
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

/// Every scenario [`set_up`] knows, by the recorder's names.
pub const NAMES: &[&str] = &[
    "client_echo_client_closes",
    "client_server_closes",
    "connect_refused",
    "connect_timeout",
    "stop_connecting_immediately",
    "dns_lookup_failure",
    "reconnecting_client_factory",
    "factory_reused_20_connections",
    "many_factories_each_once",
    "client_build_protocol_none",
    "server_build_protocol_none",
    "client_data_received_raises",
    "client_connection_made_raises",
    "server_connection_made_raises",
    "half_close",
    "half_close_read_connection_lost_raises",
    "client_abort_connection",
    "server_stop_listening_with_live_connections",
    "peer_reset",
    "connector_disconnect_while_connected",
    "reactor_shutdown_with_live_connections",
    "reactor_shutdown_while_connecting",
    "streaming_producer_slow_reader",
    "pull_producer",
    "reconnect_in_client_connection_failed",
    "server_stop_listening_in_build_protocol",
    "abort_then_raise_in_data_received",
    "abort_in_pause_producing",
    "register_producer_after_disconnect",
];

/// Where a scenario listens and connects: the mock reactor's fixed
/// addresses ([`Site::default`]), or the ones a reactor over real sockets
/// chose (a free port to listen on, a closed one that refuses, ...).
///
/// ```
/// let site = callorder_scenarios::Site::default();
/// assert_eq!(site.server, callorder_scenarios::ADDRESS);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// Where the servers listen and their own clients connect
    /// ([`ADDRESS`]).
    pub server: String,
    /// Where clients connect when the world plays the peer, or nothing
    /// answers ([`REMOTE`]).
    pub remote: String,
    /// The host name that does not resolve ([`UNRESOLVABLE`]).
    pub unresolvable: String,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            server: ADDRESS.to_owned(),
            remote: REMOTE.to_owned(),
            unresolvable: UNRESOLVABLE.to_owned(),
        }
    }
}

/// Sets up the scenario called `name` on `reactor`: what the recorder's
/// `sc_NAME` does when the reactor starts, at the mock's addresses
/// ([`Site::default`]). Errors name the unknown scenario or the action that
/// failed.
///
/// ```
/// use callorder_harness::MockReactor;
/// let reactor = MockReactor::new();
/// assert!(callorder_scenarios::set_up("connect_refused", &reactor.handle()).is_ok());
/// assert!(callorder_scenarios::set_up("no_such_scenario", &reactor.handle()).is_err());
/// ```
pub fn set_up(name: &str, reactor: &Reactor) -> Result<(), String> {
    set_up_at(name, reactor, &Site::default()).map(|_| ())
}

/// The ports the recorder's driver stops at the end (its `stopListening`
/// of every port still listening), in the order they were made: every port
/// of a scenario but those it stops itself, including the ones it listens
/// on later from a callback (so the list grows as the run goes on).
pub type Listening = Rc<RefCell<Vec<Port>>>;

/// [`set_up`] at the addresses of `site`; the ports the world stops at the
/// end ([`Listening`]).
///
/// ```
/// use callorder_harness::MockReactor;
/// use callorder_scenarios::{set_up_at, Site};
/// let reactor = MockReactor::new();
/// let ports = set_up_at("client_echo_client_closes", &reactor.handle(), &Site::default()).unwrap();
/// assert_eq!(ports.borrow().len(), 1);
/// ```
pub fn set_up_at(name: &str, reactor: &Reactor, site: &Site) -> Result<Listening, String> {
    let r = reactor;
    let ports = Listening::default();
    let (address, remote) = (site.server.as_str(), site.remote.as_str());
    let listen = |factory: SimpleFactory| -> Result<(), String> {
        let port = r
            .listen_tcp(address, factory.shared())
            .map_err(|e| format!("{name}: listen_tcp: {e}"))?;
        ports.borrow_mut().push(port);
        Ok(())
    };
    let connect = |factory: SimpleFactory| {
        r.connect_tcp(address, factory.shared(), TIMEOUT);
    };
    match name {
        "client_echo_client_closes" => {
            listen(SimpleFactory::new(Echo::default))?;
            connect(SimpleFactory::new(EchoClient::default));
        }
        "client_server_closes" => {
            listen(SimpleFactory::new(|| Greeter))?;
            connect(SimpleFactory::new(|| Idle));
        }
        "connect_refused" => {
            r.connect_tcp(remote, SimpleFactory::new(|| Idle).shared(), TIMEOUT);
        }
        "connect_timeout" => {
            let timeout = Some(Duration::from_millis(500));
            r.connect_tcp(remote, SimpleFactory::new(|| Idle).shared(), timeout);
        }
        "stop_connecting_immediately" => {
            let c = r.connect_tcp(remote, SimpleFactory::new(|| Idle).shared(), TIMEOUT);
            c.stop_connecting()
                .map_err(|e| format!("{name}: stop_connecting: {e}"))?;
        }
        "dns_lookup_failure" => {
            r.connect_tcp(
                site.unresolvable.as_str(),
                SimpleFactory::new(|| Idle).shared(),
                TIMEOUT,
            );
        }
        "reconnecting_client_factory" => {
            r.connect_tcp(address, rcf::factory(address, ports.clone()), TIMEOUT);
        }
        "factory_reused_20_connections" => {
            listen(SimpleFactory::new(Echo::default))?;
            let f = SimpleFactory::new(EchoClient::default).shared();
            for _ in 0..20 {
                r.connect_tcp(address, f.clone(), TIMEOUT);
            }
        }
        "many_factories_each_once" => {
            listen(SimpleFactory::new(Echo::default))?;
            for _ in 0..20 {
                connect(SimpleFactory::new(EchoClient::default));
            }
        }
        "client_build_protocol_none" => {
            listen(SimpleFactory::new(Echo::default))?;
            connect(SimpleFactory::none());
        }
        "server_build_protocol_none" => {
            listen(SimpleFactory::none())?;
            connect(SimpleFactory::new(|| Idle));
        }
        "client_data_received_raises" => {
            listen(SimpleFactory::new(|| Greeter))?;
            connect(SimpleFactory::new(|| Raiser(RaiseIn::DataReceived)));
        }
        "client_connection_made_raises" => {
            listen(SimpleFactory::new(Echo::default))?;
            connect(SimpleFactory::new(|| Raiser(RaiseIn::ConnectionMade)));
        }
        "server_connection_made_raises" => {
            listen(SimpleFactory::new(Echo::raising))?;
            connect(SimpleFactory::new(EchoClient::default));
        }
        "half_close" => {
            listen(SimpleFactory::new(|| HalfServer))?;
            connect(SimpleFactory::new(HalfClient::default));
        }
        "half_close_read_connection_lost_raises" => {
            listen(SimpleFactory::new(|| HalfServer))?;
            connect(SimpleFactory::new(HalfClient::raising));
        }
        "client_abort_connection" => {
            listen(SimpleFactory::new(Echo::default))?;
            connect(SimpleFactory::new(|| Writer::new(b"hello", OnData::Abort)));
        }
        "server_stop_listening_with_live_connections" => {
            let port = Rc::new(RefCell::new(None));
            let clients = Rc::new(RefCell::new(Vec::new()));
            let p = r
                .listen_tcp(address, SimpleFactory::new(|| Welcome).shared())
                .map_err(|e| format!("{name}: listen_tcp: {e}"))?;
            *port.borrow_mut() = Some(p);
            let f = SimpleFactory::new(move || Listener {
                transport: None,
                heard: Cell::new(false),
                clients: clients.clone(),
                port: port.clone(),
            })
            .shared();
            for _ in 0..3 {
                r.connect_tcp(address, f.clone(), TIMEOUT);
            }
        }
        "peer_reset" => {
            let f = SimpleFactory::new(|| Writer::new(b"hello", OnData::Nothing));
            r.connect_tcp(remote, f.shared(), TIMEOUT);
        }
        "connector_disconnect_while_connected" => {
            listen(SimpleFactory::new(Echo::default))?;
            let holder = Rc::new(RefCell::new(None));
            let h = holder.clone();
            let f =
                SimpleFactory::new(move || Writer::new(b"hi", OnData::DisconnectLater(h.clone())));
            *holder.borrow_mut() = Some(r.connect_tcp(address, f.shared(), TIMEOUT));
        }
        "reactor_shutdown_with_live_connections" => {
            // The recorder stops the reactor 20 ms after both clients heard
            // their echo; the script's `shutdown` does it here.
            listen(SimpleFactory::new(Echo::default))?;
            let f = SimpleFactory::new(|| Writer::new(b"hi", OnData::Nothing)).shared();
            r.connect_tcp(address, f.clone(), TIMEOUT);
            r.connect_tcp(address, f, TIMEOUT);
        }
        "reactor_shutdown_while_connecting" => {
            let timeout = Some(Duration::from_secs(5));
            r.connect_tcp(remote, SimpleFactory::new(|| Idle).shared(), timeout);
        }
        "streaming_producer_slow_reader" => {
            let f = SimpleFactory::new(|| Streamer::new(4 << 20, 65536, OnPause::Wait));
            r.connect_tcp(remote, f.shared(), TIMEOUT);
        }
        "pull_producer" => {
            listen(SimpleFactory::new(|| Idle))?;
            connect(SimpleFactory::new(Puller::default));
        }
        "reconnect_in_client_connection_failed" => {
            r.connect_tcp(remote, share(RetryAtOnce::default()), TIMEOUT);
        }
        "server_stop_listening_in_build_protocol" => {
            let factory = share(ClosingFactory::default());
            let port = r
                .listen_tcp(address, factory.clone())
                .map_err(|e| format!("{name}: listen_tcp: {e}"))?;
            *factory.port.borrow_mut() = Some(port);
            connect(SimpleFactory::new(|| Idle));
        }
        "abort_then_raise_in_data_received" => {
            listen(SimpleFactory::new(Echo::default))?;
            connect(SimpleFactory::new(|| {
                Writer::new(b"hello", OnData::AbortThenRaise)
            }));
        }
        "abort_in_pause_producing" => {
            listen(SimpleFactory::new(|| Idle))?;
            connect(SimpleFactory::new(|| {
                Streamer::new(1 << 40, 65536, OnPause::Abort)
            }));
        }
        "register_producer_after_disconnect" => {
            listen(SimpleFactory::new(|| Greeter))?;
            connect(SimpleFactory::new(LateProducer::default));
        }
        other => {
            return Err(format!(
                "no scenario {other:?}; expected one of: {}",
                NAMES.join(", ")
            ))
        }
    }
    Ok(ports)
}
