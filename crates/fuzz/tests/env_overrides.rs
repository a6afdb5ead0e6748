//! A campaign run with `CALLORDER_FUZZ_SEED` or `CALLORDER_FUZZ_CASES` in
//! its environment says on stderr that they override the builder. The
//! environment is per process, so the test runs itself again as a child
//! with the variables set, and reads the child's stderr.

use std::process::Command;
use std::sync::Arc;

use callorder_reference::EchoFactory;

/// Set in the child: run the campaign instead of spawning.
const CHILD: &str = "CALLORDER_TEST_ENV_OVERRIDES_CHILD";

#[test]
fn environment_overrides_say_so_on_stderr() {
    if std::env::var_os(CHILD).is_some() {
        let report = callorder_fuzz::fuzz_server(|| Arc::new(EchoFactory::new()))
            .name("echo_server")
            .seed(5)
            .cases(40)
            .regressions(None)
            .check();
        // The child's answer, for the parent to read.
        eprintln!("child ran {} cases", report.cases);
        return;
    }
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "environment_overrides_say_so_on_stderr",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("CALLORDER_FUZZ_SEED", "11")
        .env("CALLORDER_FUZZ_CASES", "3")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("callorder-fuzz: CALLORDER_FUZZ_SEED=11 overrides the builder's seed 5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("callorder-fuzz: CALLORDER_FUZZ_CASES=3 overrides the builder's 40 cases"),
        "{stderr}"
    );
    assert!(stderr.contains("child ran 3 cases"), "{stderr}");
    // The one-line summary of a pass, shown with --nocapture.
    assert!(
        stderr.contains("callorder-fuzz: echo_server passed 3 cases (seed 11) in "),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "; checks: order (strict profile), no panic, no implementation error, no leak, \
             chunking invariance, write after close, retry storm (limit 10), determinism (per object); \
             heap-growth check OFF: no heap_limit set"
        ),
        "{stderr}"
    );
}
