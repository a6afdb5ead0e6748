//! First runs of the mock reactor: the seed's success and failure paths.

use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Factory, Protocol, Transport,
};
use callorder_harness::{Conn, MockReactor, Outcome, Script};

#[derive(Default)]
struct Echo(Option<Transport>);

#[async_trait(?Send)]
impl Protocol for Echo {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.0 = Some(t);
        Ok(())
    }
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.0.as_ref().expect("made").write(data)?;
        Ok(())
    }
}

struct EchoFactory;
#[async_trait(?Send)]
impl Factory for EchoFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::default())))
    }
}

#[derive(Default)]
struct Hello(Option<Transport>);
#[async_trait(?Send)]
impl Protocol for Hello {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.write(b"hello world")?;
        self.0 = Some(t);
        Ok(())
    }
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        self.0.as_ref().expect("made").lose_connection()?;
        Ok(())
    }
}

struct HelloFactory;
#[async_trait(?Send)]
impl Factory for HelloFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Hello::default())))
    }
}
#[async_trait(?Send)]
impl ClientFactory for HelloFactory {}

#[test]
fn echo_client_closes_like_twisted() {
    let run = MockReactor::new().run(Script::new().stop_listening(1).shutdown(), |r| {
        r.listen_tcp("127.0.0.1:8000", Arc::new(EchoFactory))
            .unwrap();
        r.connect_tcp(
            "127.0.0.1:8000",
            Arc::new(HelloFactory),
            Some(std::time::Duration::from_secs(30)),
        );
    });
    println!("{}", run.trace_jsonl());
    run.assert_clean();
}

#[test]
fn refused_then_shutdown() {
    let run = MockReactor::new().run(Script::new().resolve(1, Outcome::Refuse).shutdown(), |r| {
        r.connect_tcp("example.org:80", Arc::new(HelloFactory), None);
    });
    println!("{}", run.trace_jsonl());
    run.assert_clean();
}

#[test]
fn scripted_peer() {
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"hi")
            .shutdown(),
        |r| {
            r.connect_tcp("example.org:80", Arc::new(HelloFactory), None);
        },
    );
    println!("{}", run.trace_jsonl());
    run.assert_clean();
    assert_eq!(
        run.written,
        vec![(Conn::Client(1), b"hello world".to_vec())]
    );
}
