use callorder::{Conn, MockReactor, Script};

#[test]
fn the_trace_of_one_conversation() {
    let script = Script::new()
        .accept(1, "10.0.0.1:4000")
        .send(Conn::Server(1), b"a\nbye\n");
    let run = MockReactor::new().run(script.shutdown(), |r| shout::listen(r, "0.0.0.0:7"));
    insta::assert_snapshot!(run.trace_jsonl());
}
