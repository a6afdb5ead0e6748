//! The mock reactor's world: each plan becomes a script.

use std::time::Duration;

use callorder_core::Address;
use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};

use crate::world::{Answer, PeerStep, Plan, SetUp, Site, World};

/// The mock reactor under the suite: a plan is a script (a peer's reads
/// need no step, the script runs until quiet between steps), on the paused
/// clock.
#[derive(Debug, Default)]
pub struct MockWorld;

impl MockWorld {
    /// The script that plays `plan`.
    pub fn script(plan: &Plan) -> Script {
        let mut script = Script::new();
        match &plan.client {
            None => {}
            Some(Answer::Refuse) => {
                for attempt in 1..=plan.attempts {
                    script = script.resolve(attempt, Outcome::Refuse);
                }
            }
            Some(Answer::FailName) => {
                for attempt in 1..=plan.attempts {
                    script = script.resolve(attempt, Outcome::DnsFailure);
                }
            }
            // Unanswered: its timeout fires as time passes, unless the
            // shutdown comes first.
            Some(Answer::NeverAnswer) if !plan.shutdown_live => {
                script = script.advance(plan.timeout + Duration::from_secs(1))
            }
            Some(Answer::NeverAnswer) => {}
            Some(Answer::Accept(steps)) => {
                for attempt in 1..=plan.attempts {
                    script = script.resolve(attempt, Outcome::Accept);
                    script = peer(script, Conn::Client(attempt), steps);
                }
            }
        }
        for (i, steps) in plan.peers.iter().enumerate() {
            script = script.accept(1, &format!("10.0.0.{}:5000", i + 1));
            script = peer(script, Conn::Server(i + 1), steps);
        }
        script.shutdown()
    }
}

/// A peer's steps as script steps.
fn peer(mut script: Script, conn: Conn, steps: &[PeerStep]) -> Script {
    for step in steps {
        script = match step {
            PeerStep::Send(bytes) => script.send(conn, bytes),
            // The run is quiet between steps: what the implementation
            // writes has arrived.
            PeerStep::Read(_) | PeerStep::ReadToEnd => script,
            PeerStep::HalfClose => script.half_close(conn),
            PeerStep::Close => script.close(conn),
            PeerStep::Reset => script.reset(conn),
        };
    }
    script
}

impl World for MockWorld {
    fn name(&self) -> &str {
        "mock"
    }

    fn run(&mut self, plan: &Plan, setup: SetUp<'_>) -> Run {
        let site = Site {
            connect_to: Address::new("service.example:80"),
            listen_on: Address::new("0.0.0.0:7000"),
        };
        MockReactor::new().run(Self::script(plan), |reactor| {
            setup(reactor, &site);
        })
    }
}
