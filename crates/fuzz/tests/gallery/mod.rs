//! The mutant gallery: deliberately broken implementations, each a
//! realistic bug, with the campaign that must find it and the check that
//! must catch it. Shared by `tests/mutants.rs`, `tests/heap_mutants.rs` and
//! `benches/mutants.rs` (included by path).
#![allow(dead_code, clippy::arc_with_non_send_sync)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Holder, Port,
    Protocol, Reactor, Reason, Transport,
};
use callorder_fuzz::{
    fuzz_client, fuzz_server, fuzz_with, fuzz_wrapper_server, CheckKind, Failure, Fuzz, ADDRESS,
};
use callorder_reference::{Echo, EchoFactory, ReconnectingClientFactory, RetryPolicy};

/// The longest minimal script we accept (steps, the final shutdown and any
/// heap checkpoints included).
pub const SHORT: usize = 10;

/// One mutant: its name, the campaign that finds it, and the check that
/// must.
pub struct Mutant {
    /// A short name, for the bench's table.
    pub name: &'static str,
    /// The campaign (default checks, default case count).
    pub fuzz: fn() -> Fuzz,
    /// The check that catches it.
    pub check: CheckKind,
    /// Whether it needs the heap check (the counting allocator installed).
    pub heap: bool,
    /// The same campaign over the fixed implementation, which must pass
    /// (`None` for the older mutants, which have none yet).
    pub twin: Option<fn() -> Fuzz>,
    /// The cases [`catch`](Mutant::catch) gives the campaign: the default
    /// count, but more for bugs behind a paused and resumed producer.
    pub cases: u32,
}

impl Mutant {
    /// Runs its campaign with `seed`: the failure, which must be of the
    /// expected check with a short script.
    ///
    /// # Panics
    ///
    /// If the campaign passes, fails another check, or shrinks to a long
    /// script.
    #[track_caller]
    pub fn catch(&self, seed: u64) -> Failure {
        self.catch_within(seed, self.cases)
    }

    /// As [`catch`](Mutant::catch), with a budget of `cases`.
    #[track_caller]
    pub fn catch_within(&self, seed: u64, cases: u32) -> Failure {
        let failure = match (self.fuzz)()
            .seed(seed)
            .cases(cases)
            .regressions(None)
            .run()
        {
            Err(failure) => *failure,
            Ok(r) => panic!("{}: the fuzzer should find the bug ({r:?})", self.name),
        };
        assert_eq!(
            failure.finding.check, self.check,
            "{}: {failure}",
            self.name
        );
        assert!(
            failure.steps <= SHORT,
            "{}: the minimal script has {} steps:\n{failure}",
            self.name,
            failure.steps
        );
        failure
    }
}

/// Every mutant, in gallery order.
pub fn all() -> Vec<Mutant> {
    vec![
        one_per_read(),
        watchdog(),
        eager_retry(),
        length_prefixed(),
        abort_then_bye(),
        factory_per_connection(),
        heartbeat(),
        session_archive(),
        backoff_never_resets(),
        stop_listening_in_build(),
        assumes_clean_close(),
        double_reconnect(),
        bye_in_connection_lost(),
        data_after_lost(),
        swallows_lost(),
        pooling(),
        reregisters_on_resume(),
        assumes_downloads_complete(),
        bye_after_half_close(),
        one_connection_at_a_time(),
        remembers_its_port(),
        stats_timer(),
    ]
}

/// The heap limit of the heap mutants' campaigns, in bytes.
pub const HEAP_LIMIT: i64 = 2048;

pub fn one_per_read() -> Mutant {
    Mutant {
        name: "one_per_read",
        fuzz: || fuzz_server(|| Arc::new(ServerOf::<OnePerRead>::default())).name("one_per_read"),
        check: CheckKind::ChunkingInvariance,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn watchdog() -> Mutant {
    Mutant {
        name: "watchdog",
        fuzz: || fuzz_client(|| Arc::new(Watchdog)).name("watchdog"),
        check: CheckKind::ImplError,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn eager_retry() -> Mutant {
    Mutant {
        name: "eager_retry",
        fuzz: || fuzz_client(|| Arc::new(EagerRetry)).name("eager_retry"),
        check: CheckKind::RetryStorm,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn length_prefixed() -> Mutant {
    Mutant {
        name: "length_prefixed",
        fuzz: || {
            fuzz_server(|| Arc::new(ServerOf::<LengthPrefixed>::default()))
                .name("length_prefixed")
                .no_chunking_invariance()
        },
        check: CheckKind::Panic,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn abort_then_bye() -> Mutant {
    Mutant {
        name: "abort_then_bye",
        fuzz: || {
            fuzz_server(|| Arc::new(ServerOf::<AbortThenBye>::default())).name("abort_then_bye")
        },
        check: CheckKind::WriteAfterClose,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn factory_per_connection() -> Mutant {
    Mutant {
        name: "factory_per_connection",
        fuzz: || fuzz_client(|| Arc::new(FactoryPerConnection)).name("factory_per_connection"),
        check: CheckKind::Leak,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn heartbeat() -> Mutant {
    Mutant {
        name: "heartbeat",
        fuzz: || fuzz_server(|| Arc::new(ServerOf::<Heartbeat>::default())).name("heartbeat"),
        check: CheckKind::WriteAfterClose,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn session_archive() -> Mutant {
    Mutant {
        name: "session_archive",
        fuzz: || {
            fuzz_server(|| Arc::new(ServerOf::<Archived>::default()))
                .name("session_archive")
                .heap_limit(HEAP_LIMIT)
        },
        check: CheckKind::HeapGrowth,
        heap: true,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn backoff_never_resets() -> Mutant {
    Mutant {
        name: "backoff_never_resets",
        fuzz: || {
            fuzz_client(|| {
                ReconnectingClientFactory::new(|_| Box::new(Echo::new()))
                    .with_policy(RetryPolicy::default().with_jitter(0.0))
                    .reset_delay_on_build(false)
                    .shared()
            })
            .name("backoff_never_resets")
            // One delay per factory (as Twisted's): one connector each.
            .separate_factories()
            .reconnect_policy(
                Duration::from_secs(1),
                std::f64::consts::E,
                Duration::from_secs(3600),
                true,
            )
        },
        check: CheckKind::ReconnectPolicy,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn stop_listening_in_build() -> Mutant {
    Mutant {
        name: "stop_listening_in_build",
        fuzz: || {
            fuzz_with(|reactor, _| {
                let factory = Arc::new(OneShot::default());
                if let Ok(port) = reactor.listen_tcp(ADDRESS, factory.clone()) {
                    *factory.port.borrow_mut() = Some(port);
                }
            })
            .name("stop_listening_in_build")
            .script_config(|c| c.clients = false)
        },
        check: CheckKind::Panic,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn assumes_clean_close() -> Mutant {
    Mutant {
        name: "assumes_clean_close",
        fuzz: || {
            fuzz_server(|| Arc::new(ServerOf::<AssumesCleanClose>::default()))
                .name("assumes_clean_close")
        },
        check: CheckKind::Panic,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn double_reconnect() -> Mutant {
    Mutant {
        name: "double_reconnect",
        fuzz: || fuzz_client(|| Arc::new(DoubleReconnect)).name("double_reconnect"),
        check: CheckKind::ImplError,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn bye_in_connection_lost() -> Mutant {
    Mutant {
        name: "bye_in_connection_lost",
        fuzz: || {
            fuzz_server(|| Arc::new(ServerOf::<ByeInConnectionLost>::default()))
                .name("bye_in_connection_lost")
        },
        check: CheckKind::WriteAfterClose,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn data_after_lost() -> Mutant {
    Mutant {
        name: "data_after_lost",
        fuzz: || {
            fuzz_wrapper_server(
                |inner| Forwarding::new(inner, Slip::DataAfterLost),
                EchoFactory::new,
            )
            .name("data_after_lost")
        },
        check: CheckKind::InnerBoundary,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn swallows_lost() -> Mutant {
    Mutant {
        name: "swallows_lost",
        fuzz: || {
            fuzz_wrapper_server(
                |inner| Forwarding::new(inner, Slip::SwallowsLost),
                EchoFactory::new,
            )
            .name("swallows_lost")
        },
        check: CheckKind::InnerBoundary,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn pooling() -> Mutant {
    Mutant {
        name: "pooling",
        fuzz: || fuzz_wrapper_server(Pooling::new, EchoFactory::new).name("pooling"),
        check: CheckKind::InnerBoundary,
        heap: false,
        twin: None,
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

// ------------------------------------------------------------ 1: chunking

/// A command server that assumes each `data_received` is one whole command:
/// it answers every read, not every line.
#[derive(Default)]
struct OnePerRead {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for OnePerRead {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let command = String::from_utf8_lossy(data);
        let reply = format!("OK {}\r\n", command.trim_end());
        self.transport
            .as_ref()
            .ok_or("no transport")?
            .write(reply.as_bytes())?;
        Ok(())
    }
}

/// A server factory building `P::default()` per connection.
#[derive(Default)]
struct ServerOf<P>(std::marker::PhantomData<fn() -> P>);

#[async_trait(?Send)]
impl<P: Protocol + Default> Factory for ServerOf<P> {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(P::default())))
    }
}

// ---------------------------------------------------- 2: connect twice

/// A client factory with a connect watchdog: each attempt arms a timer that
/// "retries if we are not connected after 5 s", without checking whether
/// the attempt is still connecting (or connected): `connect` while
/// connecting.
#[derive(Default)]
struct Watchdog;

#[async_trait(?Send)]
impl Factory for Watchdog {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Watchdog {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        let again = connector.clone();
        connector
            .reactor()
            .call_later(Duration::from_secs(5), move || {
                let _ = again.connect();
            });
        Ok(())
    }
}

// ---------------------------------------------------------- 3: retry storm

/// A client factory that reconnects at once, with no delay, whatever
/// happened.
#[derive(Default)]
struct EagerRetry;

#[async_trait(?Send)]
impl Factory for EagerRetry {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for EagerRetry {
    async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        connector.connect()?;
        Ok(())
    }

    async fn client_connection_lost(&self, connector: &Connector, _: Reason) -> CallbackResult {
        connector.connect()?;
        Ok(())
    }
}

// ------------------------------------------------------- 4: one-byte panic

/// A length-prefixed server that reads the 2-byte length header straight
/// out of each read: a read of one byte panics.
#[derive(Default)]
struct LengthPrefixed {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for LengthPrefixed {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let len = u16::from_be_bytes([data[0], data[1]]);
        self.transport
            .as_ref()
            .ok_or("no transport")?
            .write(&len.to_be_bytes())?;
        Ok(())
    }
}

// --------------------------------------------------- 5: write after abort

/// A server that drops a client saying QUIT, then says goodbye: the
/// goodbye is written after `abort_connection` and goes nowhere.
#[derive(Default)]
struct AbortThenBye {
    transport: Option<Transport>,
    buffer: Vec<u8>,
}

#[async_trait(?Send)]
impl Protocol for AbortThenBye {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.buffer.extend_from_slice(data);
        let t = self.transport.as_ref().ok_or("no transport")?;
        while let Some(at) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=at).collect();
            if line.starts_with(b"QUIT") {
                t.abort_connection()?;
                t.write(b"BYE\r\n")?;
                return Ok(());
            }
            t.write(&line)?;
        }
        Ok(())
    }
}

// ----------------------------------------------------------------- 6: leak

thread_local! {
    /// "Every factory we ever made, for the stats page": keeps them all.
    static REGISTRY: RefCell<Vec<Arc<dyn ClientFactory>>> = const { RefCell::new(Vec::new()) };
}

/// A client that reconnects by making a fresh factory (and connector) for
/// each new connection, and parks every factory in a global registry.
#[derive(Default)]
struct FactoryPerConnection;

#[async_trait(?Send)]
impl Factory for FactoryPerConnection {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for FactoryPerConnection {
    async fn client_connection_lost(&self, connector: &Connector, _: Reason) -> CallbackResult {
        let next: Arc<dyn ClientFactory> = Arc::new(FactoryPerConnection);
        REGISTRY.with(|r| r.borrow_mut().push(next.clone()));
        let destination = connector.destination();
        connector
            .reactor()
            .call_later(Duration::from_secs(1), move || {
                // The reactor is gone when this never fires: fine.
                let _ = destination;
            });
        connector.reactor().connect_tcp(
            connector.destination(),
            next,
            Some(Duration::from_secs(30)),
        );
        Ok(())
    }
}

// ------------------------------------------- 7: write after connection_lost

/// A protocol with a heartbeat that it never stops: after the connection
/// is lost, the timer keeps writing.
#[derive(Default)]
struct Heartbeat {
    transport: Option<Transport>,
}

fn beat(transport: Transport) {
    let reactor = transport.reactor();
    reactor.call_later(Duration::from_secs(1), move || {
        let _ = transport.write(b"PING\r\n");
        beat(transport);
    });
}

#[async_trait(?Send)]
impl Protocol for Heartbeat {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        beat(transport.clone());
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.transport.as_ref().ok_or("no transport")?.write(data)?;
        Ok(())
    }
}

// ------------------------------------------------- 8: session archive (heap)

thread_local! {
    /// "Finished sessions, for the admin page": never pruned.
    static ARCHIVE: RefCell<Vec<Session>> = const { RefCell::new(Vec::new()) };
}

/// What a connection keeps: its transport and a read buffer.
struct Session {
    transport: Transport,
    buffer: Vec<u8>,
}

/// An echo server that files every finished session (its transport and
/// its 4 KiB read buffer) into a global archive: memory grows with every
/// connection, though every object the reactor made is let go.
#[derive(Default)]
struct Archived {
    session: Option<Session>,
}

#[async_trait(?Send)]
impl Protocol for Archived {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.session = Some(Session {
            transport,
            buffer: Vec::with_capacity(4096),
        });
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let s = self.session.as_mut().ok_or("no session")?;
        s.buffer.extend_from_slice(data);
        s.transport.write(data)?;
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        if let Some(s) = self.session.take() {
            ARCHIVE.with(|a| a.borrow_mut().push(s));
        }
        Ok(())
    }
}

// ------------------------------------- 10: stop_listening in build_protocol

/// A server for exactly one client: it stops listening in its first
/// `build_protocol` and asserts that no other comes. But connections
/// accepted in the same batch still get built (S6).
#[derive(Default)]
struct OneShot {
    port: RefCell<Option<Port>>,
    built: Cell<bool>,
}

#[async_trait(?Send)]
impl Factory for OneShot {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        assert!(!self.built.get(), "build_protocol after stop_listening");
        self.built.set(true);
        if let Some(port) = self.port.borrow().as_ref() {
            // The application may have stopped it already: fine.
            let _ = port.stop_listening();
        }
        Ok(Some(Box::new(Echo::new())))
    }
}

// ---------------------------------------------- 11: assumes a clean close

/// A protocol that treats every `connection_lost` as the clean close it
/// expects: it asserts the reason is `connection_done`.
#[derive(Default)]
struct AssumesCleanClose {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for AssumesCleanClose {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.transport.as_ref().ok_or("no transport")?.write(data)?;
        Ok(())
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        assert_eq!(
            reason,
            Reason::ConnectionDone,
            "the peer always says goodbye"
        );
        Ok(())
    }
}

// ---------------------------------------------- 12: reconnecting twice

/// A client factory that reconnects at once when its connection is lost
/// and, "in case that fails", again after a second: the second `connect`
/// comes while the first attempt is connecting (or connected).
#[derive(Default)]
struct DoubleReconnect;

#[async_trait(?Send)]
impl Factory for DoubleReconnect {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for DoubleReconnect {
    async fn client_connection_lost(&self, connector: &Connector, _: Reason) -> CallbackResult {
        connector.connect()?;
        let again = connector.clone();
        connector
            .reactor()
            .call_later(Duration::from_secs(1), move || {
                let _ = again.connect();
            });
        Ok(())
    }
}

// ------------------------------------------ 13: goodbye in connection_lost

/// A server that says goodbye from `connection_lost`, when the connection
/// is already gone: the bytes go nowhere.
#[derive(Default)]
struct ByeInConnectionLost {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for ByeInConnectionLost {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.transport.as_ref().ok_or("no transport")?.write(data)?;
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        if let Some(t) = &self.transport {
            // Best effort; the error is ignored.
            let _ = t.write(b"BYE\r\n");
        }
        Ok(())
    }
}

// ------------------------------- 14, 15: wrappers that forward badly

/// How a [`Forwarding`] wrapper gets the protocol callbacks wrong.
#[derive(Clone, Copy)]
enum Slip {
    /// A "flush on close" wrapper: when the connection is lost, it hands
    /// the inner protocol what it had still buffered, after telling it the
    /// connection is lost.
    DataAfterLost,
    /// A wrapper that "handles" the close itself and never tells the inner
    /// protocol.
    SwallowsLost,
}

/// A middleware factory that forwards everything to the factory it wraps,
/// and wraps each protocol in a [`Forwarded`] with one slip.
struct Forwarding<F> {
    inner: F,
    slip: Slip,
}

impl<F> Forwarding<F> {
    fn new(inner: F, slip: Slip) -> Self {
        Forwarding { inner, slip }
    }
}

#[async_trait(?Send)]
impl<F: Factory> Factory for Forwarding<F> {
    fn do_start(&self, holder: Holder) {
        self.inner.do_start(holder);
    }

    fn do_stop(&self, holder: Holder) {
        self.inner.do_stop(holder);
    }

    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        self.inner.start_factory(reactor).await
    }

    async fn stop_factory(&self) -> CallbackResult {
        self.inner.stop_factory().await
    }

    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        let slip = self.slip;
        Ok(self.inner.build_protocol(addr).await?.map(|inner| {
            Box::new(Forwarded {
                inner,
                slip,
                pending: Vec::new(),
            }) as Box<dyn Protocol>
        }))
    }
}

/// A protocol wrapper that batches incoming bytes line by line, and
/// forwards each whole line (the tail is kept for later).
struct Forwarded {
    inner: Box<dyn Protocol>,
    slip: Slip,
    pending: Vec<u8>,
}

#[async_trait(?Send)]
impl Protocol for Forwarded {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.inner.connection_made(transport).await
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.pending.extend_from_slice(data);
        if let Some(at) = self.pending.iter().rposition(|&b| b == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=at).collect();
            self.inner.data_received(&lines).await?;
        }
        Ok(())
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        match self.slip {
            Slip::SwallowsLost => Ok(()),
            Slip::DataAfterLost => {
                self.inner.connection_lost(reason).await?;
                if self.pending.is_empty() {
                    return Ok(());
                }
                // "Don't lose the last partial line": too late.
                let rest = std::mem::take(&mut self.pending);
                self.inner.data_received(&rest).await
            }
        }
    }
}

// ------------------------------------- 16: a pool of inner protocols

/// A pooling middleware: "protocols are expensive to build", so it keeps
/// the inner protocol of each finished connection and makes the next
/// connection on it, without asking the inner factory. The inner side sees
/// a second `connection_made` on a protocol already made and lost.
struct Pooling<F> {
    inner: F,
    pool: Rc<RefCell<Vec<Box<dyn Protocol>>>>,
}

impl<F> Pooling<F> {
    fn new(inner: F) -> Self {
        Pooling {
            inner,
            pool: Rc::default(),
        }
    }
}

#[async_trait(?Send)]
impl<F: Factory> Factory for Pooling<F> {
    fn do_start(&self, holder: Holder) {
        self.inner.do_start(holder);
    }

    fn do_stop(&self, holder: Holder) {
        self.inner.do_stop(holder);
    }

    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        self.inner.start_factory(reactor).await
    }

    async fn stop_factory(&self) -> CallbackResult {
        self.pool.borrow_mut().clear();
        self.inner.stop_factory().await
    }

    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        let recycled = self.pool.borrow_mut().pop();
        let inner = match recycled {
            Some(inner) => Some(inner),
            None => self.inner.build_protocol(addr).await?,
        };
        Ok(inner.map(|inner| {
            Box::new(Pooled {
                inner: Some(inner),
                pool: self.pool.clone(),
            }) as Box<dyn Protocol>
        }))
    }
}

/// A connection of a [`Pooling`] wrapper: forwards everything, and gives
/// its inner protocol back to the pool when the connection is lost.
struct Pooled {
    inner: Option<Box<dyn Protocol>>,
    pool: Rc<RefCell<Vec<Box<dyn Protocol>>>>,
}

impl Pooled {
    fn inner(&mut self) -> Result<&mut Box<dyn Protocol>, CallbackError> {
        Ok(self.inner.as_mut().ok_or("returned to the pool")?)
    }
}

#[async_trait(?Send)]
impl Protocol for Pooled {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.inner()?.connection_made(transport).await
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.inner()?.data_received(data).await
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        let mut inner = self.inner.take().ok_or("returned to the pool")?;
        let result = inner.connection_lost(reason).await;
        self.pool.borrow_mut().push(inner);
        result
    }
}

// ------------------------------------------------------------------------
// The mutants of issue 14, each with its fixed twin: producers, half-close,
// shared factories, timers after the end.

pub fn reregisters_on_resume() -> Mutant {
    Mutant {
        name: "reregisters_on_resume",
        fuzz: || {
            fuzz_server(|| Arc::new(Download::factory(Slips::REREGISTERS)))
                .name("reregisters_on_resume")
        },
        check: CheckKind::ImplError,
        heap: false,
        twin: Some(|| fuzz_server(|| Arc::new(Download::factory(Slips::NONE))).name("download")),
        cases: 4 * callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn assumes_downloads_complete() -> Mutant {
    Mutant {
        name: "assumes_downloads_complete",
        fuzz: || {
            fuzz_server(|| Arc::new(Download::factory(Slips::ASSUMES_COMPLETE)))
                .name("assumes_downloads_complete")
        },
        check: CheckKind::Panic,
        heap: false,
        twin: Some(|| fuzz_server(|| Arc::new(Download::factory(Slips::NONE))).name("download")),
        cases: 4 * callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn bye_after_half_close() -> Mutant {
    Mutant {
        name: "bye_after_half_close",
        fuzz: || {
            fuzz_server(|| Arc::new(ServerOf::<ByeAfterHalfClose>::default()))
                .name("bye_after_half_close")
        },
        check: CheckKind::WriteAfterClose,
        heap: false,
        twin: Some(|| {
            fuzz_server(|| Arc::new(callorder_reference::HalfCloseFactory::new(b"BYE\r\n")))
                .name("half_close_server")
        }),
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn one_connection_at_a_time() -> Mutant {
    Mutant {
        name: "one_connection_at_a_time",
        fuzz: || {
            fuzz_client(|| Arc::new(SessionClient::new(false))).name("one_connection_at_a_time")
        },
        check: CheckKind::Panic,
        heap: false,
        twin: Some(|| fuzz_client(|| Arc::new(SessionClient::new(true))).name("session_client")),
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn remembers_its_port() -> Mutant {
    Mutant {
        name: "remembers_its_port",
        fuzz: || fuzz_server(|| Arc::new(PortMinder::new(false))).name("remembers_its_port"),
        check: CheckKind::Panic,
        heap: false,
        twin: Some(|| fuzz_server(|| Arc::new(PortMinder::new(true))).name("port_minder")),
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

pub fn stats_timer() -> Mutant {
    Mutant {
        name: "stats_timer",
        fuzz: || fuzz_server(|| Arc::new(StatsServer::new(false))).name("stats_timer"),
        check: CheckKind::WriteAfterClose,
        heap: false,
        twin: Some(|| fuzz_server(|| Arc::new(StatsServer::new(true))).name("stats_server")),
        cases: callorder_fuzz::DEFAULT_CASES,
    }
}

// --------------------------------- 17, 18: a streaming producer's slips

/// The slips a [`Download`] makes, as flags.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Slips(u8);

impl Slips {
    const NONE: Slips = Slips(0);
    /// "To be sure it is registered", `resume_producing` registers the
    /// producer again: the transport raises, a producer is registered.
    const REREGISTERS: Slips = Slips(1);
    /// "A download always completes, and then it unregisters itself":
    /// `stop_producing` asserts there is nothing left to send. But a peer
    /// that goes away mid-download (while the producer is paused, say) has
    /// it stopped first (PR3).
    const ASSUMES_COMPLETE: Slips = Slips(2);
}

/// A download server's connection: a streaming producer that writes a
/// 200 KB blob a 16 KiB chunk per turn of the reactor, pausing when told,
/// then unregisters and closes (as `callorder_reference::Streaming`).
struct Download {
    slips: Slips,
    state: Rc<RefCell<Turns>>,
}

struct Turns {
    transport: Option<Transport>,
    left: usize,
    paused: bool,
    stopped: bool,
    scheduled: bool,
    slips: Slips,
}

impl Download {
    fn factory(slips: Slips) -> impl Factory {
        DownloadFactory(slips)
    }
}

struct DownloadFactory(Slips);

#[async_trait(?Send)]
impl Factory for DownloadFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Download {
            slips: self.0,
            state: Rc::new(RefCell::new(Turns {
                transport: None,
                left: 200_000,
                paused: false,
                stopped: false,
                scheduled: false,
                slips: self.0,
            })),
        })))
    }
}

fn schedule_turn(state: &Rc<RefCell<Turns>>) {
    let mut s = state.borrow_mut();
    if s.scheduled || s.paused || s.stopped || s.left == 0 {
        return;
    }
    let Some(t) = s.transport.clone() else { return };
    s.scheduled = true;
    let next = state.clone();
    t.reactor()
        .call_later(Duration::ZERO, move || take_turn(&next));
}

fn take_turn(state: &Rc<RefCell<Turns>>) {
    let done = {
        let mut s = state.borrow_mut();
        s.scheduled = false;
        if s.paused || s.stopped || s.left == 0 {
            return;
        }
        let Some(t) = s.transport.clone() else { return };
        let n = s.left.min(16 * 1024);
        s.left -= n;
        let _ = t.write(&vec![b'x'; n]);
        if s.left == 0 {
            Some(t)
        } else {
            None
        }
    };
    match done {
        Some(t) => {
            let _ = t.unregister_producer();
            let _ = t.lose_connection();
        }
        None => schedule_turn(state),
    }
}

#[async_trait(?Send)]
impl Protocol for Download {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.register_producer(true)?;
        self.state.borrow_mut().transport = Some(transport);
        schedule_turn(&self.state);
        Ok(())
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        self.state.borrow_mut().paused = true;
        Ok(())
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        if self.slips == Slips::REREGISTERS {
            let t = self.state.borrow().transport.clone();
            t.ok_or("no transport")?.register_producer(true)?;
        }
        self.state.borrow_mut().paused = false;
        schedule_turn(&self.state);
        Ok(())
    }

    async fn stop_producing(&mut self) -> CallbackResult {
        let mut s = self.state.borrow_mut();
        if self.slips == Slips::ASSUMES_COMPLETE {
            assert_eq!(s.left, 0, "a download is never cut short");
        }
        s.stopped = true;
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        let mut s = self.state.borrow_mut();
        s.stopped = true;
        // Let go of the transport (the turns hold the state).
        s.transport = None;
        Ok(())
    }
}

// --------------------------------------- 19: a goodbye after half-closing

/// A half-close-aware server that, when the peer is done sending, closes
/// its own writing side first and then says goodbye: the goodbye is
/// written after `lose_write_connection`, and Twisted drops it once the
/// writing side is shut (H3).
#[derive(Default)]
struct ByeAfterHalfClose {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for ByeAfterHalfClose {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        true
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        let t = self.transport.as_ref().ok_or("no transport")?;
        t.lose_write_connection()?;
        t.write(b"BYE\r\n")?;
        Ok(())
    }

    async fn write_connection_lost(&mut self) -> CallbackResult {
        self.transport
            .as_ref()
            .ok_or("no transport")?
            .lose_connection()?;
        Ok(())
    }
}

// ------------------------------- 20: one connection at a time, it thinks

/// A client factory that keeps "the" session: the protocol of its
/// connection, asserting in `build_protocol` that there is none yet. Shared
/// by two connectors, two connections are live at once. The twin keeps
/// every session, by connection.
struct SessionClient {
    sessions: Rc<Cell<usize>>,
    many: bool,
}

impl SessionClient {
    fn new(many: bool) -> Self {
        SessionClient {
            sessions: Rc::default(),
            many,
        }
    }
}

#[async_trait(?Send)]
impl Factory for SessionClient {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        if !self.many {
            assert_eq!(self.sessions.get(), 0, "a session is open already");
        }
        self.sessions.set(self.sessions.get() + 1);
        Ok(Some(Box::new(ClientSession {
            sessions: self.sessions.clone(),
            inner: Echo::new(),
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for SessionClient {}

/// An echo session that tells its factory when it ends.
struct ClientSession {
    sessions: Rc<Cell<usize>>,
    inner: Echo,
}

#[async_trait(?Send)]
impl Protocol for ClientSession {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.inner.connection_made(transport).await
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.inner.data_received(data).await
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        self.sessions.set(self.sessions.get() - 1);
        Ok(())
    }
}

// ------------------------------------ 21: a factory that minds one port

/// A server factory that remembers "its" port in `do_start` and, in
/// `do_stop`, asserts that it is that port stopping. Over two ports, the
/// first to stop is not the one it remembered. The twin remembers each.
struct PortMinder {
    ports: RefCell<Vec<Holder>>,
    many: bool,
}

impl PortMinder {
    fn new(many: bool) -> Self {
        PortMinder {
            ports: RefCell::default(),
            many,
        }
    }
}

#[async_trait(?Send)]
impl Factory for PortMinder {
    fn do_start(&self, holder: Holder) {
        let mut ports = self.ports.borrow_mut();
        if !self.many {
            ports.clear();
        }
        ports.push(holder);
    }

    fn do_stop(&self, holder: Holder) {
        let mut ports = self.ports.borrow_mut();
        assert!(
            ports.contains(&holder),
            "do_stop of a port we never started"
        );
        ports.retain(|h| *h != holder);
    }

    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

// ---------------------------------------- 22: a stats timer left running

/// A server factory that starts a stats timer in `start_factory`: every 10
/// s it writes a stats line to each connection it ever built, pruning none
/// and never cancelling the timer. The twin prunes a connection when it is
/// lost and cancels the timer in `stop_factory`.
struct StatsServer {
    clients: Rc<RefCell<Vec<(u64, Transport)>>>,
    timer: Timer,
    careful: bool,
}

/// The stats timer's handle, once armed.
type Timer = Rc<RefCell<Option<callorder_core::TimerHandle>>>;

impl StatsServer {
    fn new(careful: bool) -> Self {
        StatsServer {
            clients: Rc::default(),
            timer: Rc::default(),
            careful,
        }
    }
}

fn stats_tick(reactor: Reactor, clients: Rc<RefCell<Vec<(u64, Transport)>>>, timer: Timer) {
    let (r, c, t) = (reactor.clone(), clients, timer.clone());
    let handle = reactor.call_later(Duration::from_secs(10), move || {
        let line = format!("clients {}\r\n", c.borrow().len());
        for (_, transport) in c.borrow().iter() {
            let _ = transport.write(line.as_bytes());
        }
        stats_tick(r, c, t);
    });
    *timer.borrow_mut() = Some(handle);
}

#[async_trait(?Send)]
impl Factory for StatsServer {
    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        stats_tick(reactor.clone(), self.clients.clone(), self.timer.clone());
        Ok(())
    }

    async fn stop_factory(&self) -> CallbackResult {
        if self.careful {
            if let Some(timer) = self.timer.borrow_mut().take() {
                timer.cancel();
            }
        }
        Ok(())
    }

    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(StatsClient {
            clients: self.clients.clone(),
            careful: self.careful,
            me: None,
        })))
    }
}

/// A connection of a [`StatsServer`]: an echo that files itself with the
/// factory.
struct StatsClient {
    clients: Rc<RefCell<Vec<(u64, Transport)>>>,
    careful: bool,
    me: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for StatsClient {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.clients
            .borrow_mut()
            .push((transport.protocol().0, transport.clone()));
        self.me = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.me.as_ref().ok_or("no transport")?.write(data)?;
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        if self.careful {
            if let Some(me) = self.me.take() {
                let id = me.protocol().0;
                self.clients.borrow_mut().retain(|(p, _)| *p != id);
            }
        }
        Ok(())
    }
}
