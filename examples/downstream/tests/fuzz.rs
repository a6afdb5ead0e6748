use std::sync::Arc;

#[test]
fn shout_survives_every_generated_world() {
    callorder::fuzz_server(|| Arc::new(shout::ShoutFactory)).check();
}
