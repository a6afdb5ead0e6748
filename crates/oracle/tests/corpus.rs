//! The oracle against the manifest of traces recorded from real Twisted.

mod common;

use callorder_oracle::{judge, Verdict};

#[test]
fn the_oracle_judges_the_corpus_as_the_manifest_says() {
    let mut failures = Vec::new();
    let mut judged = 0;
    for entry in common::manifest() {
        if entry.expect == "malformed" {
            continue;
        }
        let steps = common::load(&entry.file);
        let strict = judge(&steps, false);
        let twisted = judge(&steps, true);
        judged += 1;
        let mut fail = |profile: &str, got: Verdict, want: &str| {
            failures.push(format!(
                "{} [{profile}]: got {got:?}, want {want}",
                entry.file
            ));
        };
        match entry.expect.as_str() {
            "legal" => {
                if !strict.is_legal() {
                    fail("strict", strict, "legal");
                }
                if !twisted.is_legal() {
                    fail("twisted", twisted, "legal");
                }
            }
            "quirk" => {
                if strict.is_legal() {
                    fail("strict", strict, "illegal");
                }
                if !twisted.is_legal() {
                    fail("twisted", twisted, "legal");
                }
            }
            "illegal" => {
                let seq = entry
                    .first_bad_seq
                    .expect("an illegal entry has first_bad_seq");
                let at_seq = |v: Verdict| matches!(v, Verdict::Illegal { seq: s, .. } if s == seq);
                if !at_seq(strict) {
                    fail("strict", strict, &format!("illegal at seq {seq}"));
                }
                if entry.expect_twisted.as_deref() == Some("legal") {
                    if !twisted.is_legal() {
                        fail("twisted", twisted, "legal (expect_twisted)");
                    }
                } else if !at_seq(twisted) {
                    fail("twisted", twisted, &format!("illegal at seq {seq}"));
                }
            }
            other => panic!("{}: unknown expectation {other:?}", entry.file),
        }
    }
    assert!(
        judged > 0,
        "no fixtures found under {}",
        common::corpus_dir().display()
    );
    assert!(
        failures.is_empty(),
        "{} of {judged} traces judged against the manifest:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
