//! The determinism self-check judges each object on its own: a correct
//! chat server that relays in a `HashMap`'s iteration order (a random order
//! per map) passes, and the order between connections is checked only when
//! asked for.
#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, Factory, Protocol, ProtocolId, Reason, Transport,
};
use callorder_fuzz::{fuzz_server, CheckKind};

/// The clients of a chat room, by protocol id, in a `std` `HashMap`: each
/// map has its own random hasher, so two runs iterate it in other orders.
type Room = Rc<RefCell<HashMap<ProtocolId, Transport>>>;

/// A chat server: every line a client sends goes to every other client.
#[derive(Default)]
struct Chat {
    room: Room,
}

#[async_trait(?Send)]
impl Factory for Chat {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Member {
            room: self.room.clone(),
            me: None,
            buffer: Vec::new(),
        })))
    }
}

struct Member {
    room: Room,
    me: Option<ProtocolId>,
    buffer: Vec<u8>,
}

#[async_trait(?Send)]
impl Protocol for Member {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.me = Some(transport.protocol());
        self.room
            .borrow_mut()
            .insert(transport.protocol(), transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.buffer.extend_from_slice(data);
        while let Some(at) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=at).collect();
            for (who, transport) in self.room.borrow().iter() {
                if Some(*who) != self.me {
                    // A member whose connection just went (its
                    // connection_lost not delivered yet) misses the line.
                    let _ = transport.write(&line);
                }
            }
        }
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        if let Some(me) = self.me {
            self.room.borrow_mut().remove(&me);
        }
        Ok(())
    }
}

#[test]
fn a_chat_server_relaying_in_hash_map_order_is_deterministic_per_connection() {
    fuzz_server(|| Arc::new(Chat::default()))
        .name("hash_map_chat")
        .regressions(None)
        .check();
}

#[test]
fn the_order_across_connections_is_checked_when_asked_for() {
    let failure = *fuzz_server(|| Arc::new(Chat::default()))
        .name("hash_map_chat")
        .determinism_across_connections()
        .cases(2048)
        .regressions(None)
        .run()
        .expect_err("relays to two clients come in either order");
    assert_eq!(failure.finding.check, CheckKind::Determinism, "{failure}");
    assert!(
        failure
            .finding
            .message
            .contains("interleaved them otherwise (checked with determinism_across_connections)"),
        "{failure}"
    );
    // The evidence comes with it: the script that ran twice.
    assert!(failure.script_text.contains("accept 1 from"), "{failure}");
    assert!(!failure.finding.message.contains("a global"), "{failure}");
}
