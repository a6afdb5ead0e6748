# Recipes for callorder; they mirror .ci/run, and nothing requires `just`.

# Run the tests.
default: test

# The test suite, as CI runs it.
test:
    cargo test --workspace

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format every crate.
fmt:
    cargo fmt --all

# Everything CI runs.
ci:
    bash .ci/run

# The main job: judge the recorded Twisted corpus against its manifest.
corpus:
    cargo run --release -p callorder-cli -- corpus fixtures/twisted/manifest.json

# Checker throughput and memory on a large generated trace (writes ~1 GB to target/bench-data once).
bench:
    cargo bench -p callorder-cli --bench checker
