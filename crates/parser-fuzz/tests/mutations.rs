//! The mutations apply to any input, empty ones too, and change what they
//! say; a pass runs every input once, the same ones for the same seed, and
//! fails with the input that fails.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use callorder_parser_fuzz::json::{self, FieldEdit, Fields};
use callorder_parser_fuzz::{bytes, lines, pass, words};
use proptest::prelude::*;
use proptest::sample::Index;

proptest! {
    #[test]
    fn byte_edits_apply_to_any_bytes(
        mut text in prop::collection::vec(any::<u8>(), 0..16),
        edits in bytes::edits(b"{}", 6),
    ) {
        let before = text.len();
        bytes::apply_all(&mut text, &edits);
        prop_assert!(text.len() <= before + edits.len() * 255);
    }

    #[test]
    fn field_edits_apply_to_any_object(
        fields in prop::collection::vec(("[a-z]{1,3}", "[0-9]{1,3}"), 0..4),
        edits in json::field_edits(&["seq", "event"], &["end"], 6),
    ) {
        let mut fields = Fields(fields);
        json::apply_all(&mut fields, &edits);
        let text = fields.to_text();
        let is_object = text.starts_with('{') && text.ends_with('}');
        prop_assert!(is_object, "{}", text);
    }

    #[test]
    fn word_and_line_edits_apply_to_anything(
        line in ".{0,20}",
        word_edits in words::edits(&["send", "client"], 4),
        mut list in prop::collection::vec(any::<u8>(), 0..5),
        line_edits in lines::edits(4),
    ) {
        let edited = words::apply_all(&line, &word_edits);
        prop_assert!(!edited.starts_with(' ') && !edited.ends_with(' '));
        let before = list.len();
        lines::apply_all(&mut list, &line_edits);
        prop_assert!(list.len() <= before + line_edits.len());
    }
}

#[test]
fn fields_keep_their_order_and_read_back_as_written() {
    let line = r#"{"seq":1,"t":0.5,"event":"write","protocol":"p1","bytes":2,"x":{"a":[1]}}"#;
    let fields = Fields::parse(line).expect("an object");
    assert_eq!(fields.to_text(), line);
    assert_eq!(fields.get("bytes"), Some("2"));
}

#[test]
fn a_duplicated_field_is_written_twice() {
    let mut fields = Fields::parse(r#"{"seq":1,"event":"end"}"#).expect("an object");
    let first = proptest::strategy::ValueTree::current(
        &any::<Index>()
            .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
            .expect("an index"),
    );
    json::apply(&mut fields, &FieldEdit::Duplicate(first));
    assert_eq!(fields.0.len(), 3);
    let text = fields.to_text();
    assert!(
        text == r#"{"seq":1,"seq":1,"event":"end"}"#
            || text == r#"{"seq":1,"event":"end","event":"end"}"#,
        "{text}"
    );
}

#[test]
fn a_pass_runs_each_input_once_over_its_shards() {
    let count = AtomicU64::new(0);
    let settings = pass::Settings {
        inputs: 1_001,
        seed: 3,
        shards: 2,
    };
    let report = pass::run("count", &settings, any::<u8>, |_| {
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    assert_eq!(report.inputs, 1_001);
    assert_eq!(count.load(Ordering::Relaxed), 1_001);
}

#[test]
fn the_same_seed_gives_the_same_inputs() {
    let inputs = |seed| {
        let seen = Mutex::new(Vec::new());
        let settings = pass::Settings {
            inputs: 200,
            seed,
            shards: 1,
        };
        pass::run("seeded", &settings, any::<u64>, |x| {
            seen.lock().unwrap().push(x);
            Ok(())
        });
        seen.into_inner().unwrap()
    };
    assert_eq!(inputs(5), inputs(5));
    assert_ne!(inputs(5), inputs(6));
}

#[test]
fn a_failing_input_is_shrunk_and_named() {
    let settings = pass::Settings {
        inputs: 10_000,
        seed: 0,
        shards: 2,
    };
    let panic = catch_unwind(AssertUnwindSafe(|| {
        pass::run(
            "fails",
            &settings,
            || 0..1000u32,
            |x| {
                prop_assert!(x < 500);
                Ok(())
            },
        )
    }))
    .expect_err("an input of 500 or more fails");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("fuzz fails: the input below fails"),
        "{message}"
    );
    // Shrunk to the smallest failing input.
    assert!(message.contains("\n500\n"), "{message}");
    assert!(message.contains("CALLORDER_PARSER_SEED=0"), "{message}");
}

#[test]
fn the_environment_scales_every_pass_alike() {
    let reference = pass::Settings::from_values(pass::REFERENCE, Some("3000000"), None).unwrap();
    let small = pass::Settings::from_values(2_000, Some("3000000"), None).unwrap();
    assert_eq!((reference.inputs, small.inputs), (3_000_000, 6_000));
    assert_eq!(
        pass::Settings::from_values(2_000, None, Some("x")).unwrap_err(),
        "CALLORDER_PARSER_SEED=\"x\": expected a whole number or `random`"
    );
}
