# Recipes for callorder; they mirror .ci/run, and nothing requires `just`.

# Run the tests.
default: test

# The test suite, as CI runs it.
test:
    cargo test --workspace

# The downstream example: a crate outside the workspace with `callorder` as
# its only callorder dependency (as .ci/run tests it).
downstream:
    cargo fmt --check --manifest-path examples/downstream/Cargo.toml
    CARGO_TARGET_DIR=target/downstream cargo test --locked --offline --manifest-path examples/downstream/Cargo.toml

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
    cargo fmt --check --manifest-path crates/python/Cargo.toml
    cargo clippy --manifest-path crates/python/Cargo.toml --all-targets -- -D warnings

# Format every crate.
fmt:
    cargo fmt --all

# Everything CI runs.
ci:
    bash .ci/run

# The main job: the default suite (fixture scripts and the recorded corpus).
suite:
    cargo run --release -p callorder-cli -- suite

# Judge the recorded Twisted corpus against its manifest.
corpus:
    cargo run --release -p callorder-cli -- corpus fixtures/twisted/manifest.json

# Checker throughput and memory on a large generated trace (writes ~1 GB to target/bench-data once).
bench:
    cargo bench -p callorder-cli --bench checker

# The mock reactor's benchmark: life cycles/s with the checker on and off,
# Twisted's fakes on the same life cycle (needs a Python with Twisted 26.10,
# e.g. `python3 -m venv .venv && .venv/bin/pip install twisted==26.10.0`),
# and 100k concurrent connections' memory.
bench-harness python=".venv/bin/python":
    CALLORDER_BENCH_PYTHON={{python}} cargo bench -p callorder-harness --bench lifecycle

# The mock reactor against the recorded Twisted traces (docs/fidelity.md).
fidelity:
    cargo test -p callorder-scenarios --test fidelity -- --nocapture

# A long fuzzing campaign of the reference implementations (random seed,
# printed on failure; replay with CALLORDER_FUZZ_SEED=<n>).
fuzz cases="100000":
    CALLORDER_FUZZ_SEED=random CALLORDER_FUZZ_CASES={{cases}} cargo test --release -p callorder-fuzz --test reference
    CALLORDER_FUZZ_SEED=random CALLORDER_FUZZ_CASES={{cases}} cargo test --release -p callorder-fuzz --test direct_client passes
    CALLORDER_FUZZ_SEED=random CALLORDER_FUZZ_CASES={{cases}} cargo test --release -p callorder-fuzz --test direct_server passes

# A long fuzz pass of the parsers (trace lines, script files, manifests;
# docs/parser-fuzzing.md): `inputs` for the trace-line and script passes,
# the others in proportion (CI runs 1,000,000), in release, random seed
# (printed; replay with seed=<n>).
fuzz-parsers inputs="20000000" seed="random":
    CALLORDER_PARSER_INPUTS={{inputs}} CALLORDER_PARSER_SEED={{seed}} cargo test --release -p callorder-parser-fuzz -- --nocapture

# No false alarm, the long run: every fixed twin of the mutant gallery and
# every reference implementation, under every default check, over
# 100,000 cases from each of 5 seeds (CI runs the same test short).
no-false-alarm cases="100000" seeds="5":
    CALLORDER_FUZZ_CASES={{cases}} CALLORDER_NO_FALSE_ALARM_SEEDS={{seeds}} cargo test --release -p callorder-fuzz --test no_false_alarm -- --nocapture --test-threads 1

# The fuzzer's benchmarks: cases and time to find each mutant, the states
# of the spec each reference implementation reaches and how soon, and
# cases/s.
bench-fuzz:
    cargo bench -p callorder-fuzz --bench mutants
    cargo bench -p callorder-fuzz --bench states
    cargo bench -p callorder-fuzz --bench throughput

# Run a fixture script and print its trace.
run script:
    cargo run --release -p callorder-cli -- run {{script}}

# Mutation testing of the checker and the trace crate (docs/mutation-testing.md):
# one shard of the mutants, "k/n" counting from 0, with the tests that count
# (.cargo/mutants.toml). Too slow for CI: a run of the checker's mutants takes
# many hours on two cores, so it is sharded to fit in a session. A mutant
# whose tests outrun --timeout (a loop) is counted as a timeout, not a hang.
# Results go to mutants.out/ (git-ignored); `args` adds flags, e.g.
# `args="--file crates/checker/src/checker/*.rs"` or `args="--iterate"`.
mutants shard="0/8" args="":
    cargo mutants --package callorder-checker --package callorder-trace --shard {{shard}} --jobs 1 --timeout 900 --build-timeout 1800 {{args}}
