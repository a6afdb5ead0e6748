//! The README's quick start, as a test: a user adds one dependency
//! (`callorder`), implements a client factory, and checks it on the happy
//! path and on every failure path the harness can script.

use std::sync::Arc;

use callorder::{
    async_trait, Address, CallbackError, CallbackResult, ClientFactory, Conn, Factory, MockReactor,
    Outcome, Protocol, Script, Transport,
};

/// Sends a greeting, closes when answered.
struct Greeter(Option<Transport>);

#[async_trait(?Send)]
impl Protocol for Greeter {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.write(b"hello\r\n")?;
        self.0 = Some(t);
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        self.0.as_ref().expect("made").lose_connection()?;
        Ok(())
    }
}

struct GreeterFactory;

#[async_trait(?Send)]
impl Factory for GreeterFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Greeter(None))))
    }
}

#[async_trait(?Send)]
impl ClientFactory for GreeterFactory {}

fn run(script: Script) -> callorder::Run {
    MockReactor::new().run(script, |reactor| {
        reactor.connect_tcp(
            "example.org:80",
            Arc::new(GreeterFactory),
            Some(std::time::Duration::from_secs(5)),
        );
    })
}

#[test]
fn the_greeter_is_legal_on_the_happy_path() {
    let r = run(Script::new()
        .resolve(1, Outcome::Accept)
        .send(Conn::Client(1), b"hi\r\n")
        .shutdown());
    r.assert_clean();
    assert_eq!(r.written, vec![(Conn::Client(1), b"hello\r\n".to_vec())]);
}

#[test]
fn the_greeter_is_legal_on_every_failure_path() {
    let secs = std::time::Duration::from_secs;
    for script in [
        Script::new().resolve(1, Outcome::Refuse).shutdown(),
        Script::new().resolve(1, Outcome::DnsFailure).shutdown(),
        Script::new().advance(secs(10)).shutdown(),
        Script::new()
            .resolve(1, Outcome::Accept)
            .reset(Conn::Client(1))
            .shutdown(),
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .shutdown(),
        Script::new().resolve(1, Outcome::Accept).shutdown(),
    ] {
        run(script).assert_clean();
    }
}
