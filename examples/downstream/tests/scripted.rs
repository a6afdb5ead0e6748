use callorder::{Conn, MockReactor, Script};

#[test]
fn shouts_each_line_and_closes_after_bye() {
    let script = Script::new().accept(1, "10.0.0.1:4000");
    let script = script.send(Conn::Server(1), b"hi\nbye\n").shutdown();
    let run = MockReactor::new().run(script, |r| shout::listen(r, "0.0.0.0:7"));
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Server(1), b"HI\n".to_vec())]);
}
