//! The settings the three reactor-free campaigns share, written once.

/// The builder methods every direct campaign has (`cases`, `seed`,
/// `max_choices`, `payloads`, `no_chunking_invariance`,
/// `allow_write_after_close`, `invariant`,
/// `regressions` and `check`), for a builder with a `settings` field
/// ([`Settings`](crate::campaign::Settings)) and a `run` that gives the
/// report or the minimal failing case.
macro_rules! direct_campaign_settings {
    () => {
        /// How many passing cases make a pass (default [`DEFAULT_CASES`](crate::DEFAULT_CASES));
        /// [`CASES_ENV`](crate::CASES_ENV) overrides it.
        pub fn cases(mut self, n: u32) -> Self {
            self.settings.cases = n;
            self
        }

        /// The campaign's seed (default 0); [`SEED_ENV`](crate::SEED_ENV)
        /// overrides it.
        pub fn seed(mut self, seed: u64) -> Self {
            self.settings.seed = seed;
            self
        }

        /// The most choices in a case (default 16).
        pub fn max_choices(mut self, n: usize) -> Self {
            self.settings.max_choices = n;
            self
        }

        /// The chunks `data_received` gets (default:
        /// [`strategy::payload`](crate::strategy::payload); empty chunks are
        /// left out).
        pub fn payloads(mut self, payloads: impl Strategy<Value = Vec<u8>> + 'static) -> Self {
            self.settings.payloads = Some(payloads.boxed());
            self
        }

        /// Turns the chunking-invariance check off (for protocols whose
        /// output rightly depends on how reads are cut). On by default:
        /// each passing case runs again with its runs of data joined into
        /// one chunk and with every chunk cut into single bytes, and the
        /// bytes each protocol writes and how each connection closes must
        /// not change.
        pub fn no_chunking_invariance(mut self) -> Self {
            self.settings.chunking = false;
            self
        }

        /// Turns the write-after-close check off.
        pub fn allow_write_after_close(mut self) -> Self {
            self.settings.write_after_close = false;
            self
        }

        /// Adds a check of your own over the trace and the bytes written
        /// (by every protocol of the case, in order); an `Err` fails the
        /// case.
        pub fn invariant(
            mut self,
            name: impl Into<String>,
            check: impl Fn(&[Record], &[u8]) -> Result<(), String> + 'static,
        ) -> Self {
            self.settings.invariants.push((name.into(), Rc::new(check)));
            self
        }

        /// Where proptest keeps the seeds of failing cases (default: nowhere;
        /// `Some(FileFailurePersistence::WithSource("proptest-regressions"))`
        /// keeps them next to the test's source).
        pub fn regressions(mut self, persistence: Option<FileFailurePersistence>) -> Self {
            self.settings.persistence = persistence;
            self
        }

        /// Runs the campaign and panics with the minimal failing case (as
        /// [`run`](Self::run) gives it) if a case fails: for `#[test]`.
        #[track_caller]
        pub fn check(self) -> DirectReport {
            match self.run() {
                Ok(report) => report,
                Err(failure) => panic!("{failure}"),
            }
        }
    };
}
