//! The benchmark workload: a large legal trace of many concurrent
//! connections.
//!
//! One server factory `f1` listens on port `l1`; one client factory `f2` is
//! shared by every connector. Connections open in waves of `wave`
//! concurrent ones: all connect, then each is accepted and built on both
//! sides, then each side exchanges data and the client closes, then each
//! closes. Waves repeat until at least `events` events were written, then
//! the port stops and the trace ends. With the defaults (10M events, waves
//! of 100k) about 300k objects are alive at once, which is what the
//! checker's memory figure is about.
//!
//! The output depends on `--events` and `--wave` alone, byte for byte (it is
//! the same as the Python generator the benchmark workload was first
//! specified with, which is not part of this repository); `t` advances by
//! 1 µs per event and is printed with six decimals.

use std::io::{self, Write};

/// The size of a workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Waves are added until at least this many events were written.
    pub events: u64,
    /// How many connections are open at once in each wave (at least 1).
    pub wave: u64,
}

impl Default for Workload {
    /// The benchmark's workload: 10M events in waves of 100k connections.
    fn default() -> Self {
        Workload {
            events: 10_000_000,
            wave: 100_000,
        }
    }
}

/// Writes events, numbering them and advancing `t` as the reference does.
struct Out<W: Write> {
    inner: W,
    seq: u64,
    t: f64,
}

impl<W: Write> Out<W> {
    /// Writes one line; `body` is everything after `"t":...,`.
    fn event(&mut self, body: std::fmt::Arguments<'_>) -> io::Result<()> {
        self.seq += 1;
        // Accumulated, not computed from seq, so that the float rounding,
        // and so the printed digits, match the reference.
        self.t += 1e-6;
        writeln!(
            self.inner,
            "{{\"seq\":{},\"t\":{:.6},{}}}",
            self.seq, self.t, body
        )
    }
}

impl Workload {
    /// Writes the trace to `out` (wrap a file in a `BufWriter`) and returns
    /// how many events it has.
    ///
    /// ```
    /// use callorder_cli::workload::Workload;
    /// let mut text = Vec::new();
    /// let events = Workload { events: 10, wave: 2 }.write(&mut text)?;
    /// assert_eq!(events, 3 + (17 * 2 + 2) + 4);
    /// assert_eq!(text.split(|b| *b == b'\n').count() as u64, events + 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write<W: Write>(&self, out: W) -> io::Result<u64> {
        let wave = self.wave.max(1);
        let mut o = Out {
            inner: out,
            seq: 0,
            t: 0.0,
        };
        o.event(format_args!(
            r#""event":"listen_tcp","factory":"f1","port":"l1","addr":"127.0.0.1:8000""#
        ))?;
        o.event(format_args!(
            r#""event":"do_start","factory":"f1","port":"l1""#
        ))?;
        o.event(format_args!(
            r#""depth":1,"event":"start_factory","factory":"f1""#
        ))?;
        let mut opened = 0u64;
        while o.seq < self.events {
            let ids = opened + 1..=opened + wave;
            opened += wave;
            for c in ids.clone() {
                o.event(format_args!(
                    r#""event":"connect_tcp","factory":"f2","connector":"c{c}","addr":"127.0.0.1:8000","timeout":30"#
                ))?;
                o.event(format_args!(
                    r#""event":"do_start","factory":"f2","connector":"c{c}""#
                ))?;
                // The shared client factory starts with its first connector
                // of each wave (the last one of the wave stopped it).
                if c == *ids.start() {
                    o.event(format_args!(
                        r#""depth":1,"event":"start_factory","factory":"f2""#
                    ))?;
                }
                o.event(format_args!(
                    r#""event":"started_connecting","factory":"f2","connector":"c{c}""#
                ))?;
            }
            for c in ids.clone() {
                o.event(format_args!(
                    r#""event":"build_protocol","factory":"f1","port":"l1","addr":"127.0.0.1:40000","protocol":"s{c}""#
                ))?;
                o.event(format_args!(
                    r#""event":"connection_made","protocol":"s{c}""#
                ))?;
                o.event(format_args!(
                    r#""event":"build_protocol","factory":"f2","connector":"c{c}","addr":"127.0.0.1:8000","protocol":"p{c}""#
                ))?;
                o.event(format_args!(
                    r#""event":"connection_made","protocol":"p{c}""#
                ))?;
                o.event(format_args!(
                    r#""depth":1,"event":"write","protocol":"p{c}","bytes":64"#
                ))?;
            }
            for c in ids.clone() {
                o.event(format_args!(
                    r#""event":"data_received","protocol":"s{c}","bytes":32"#
                ))?;
                o.event(format_args!(
                    r#""event":"data_received","protocol":"s{c}","bytes":32"#
                ))?;
                o.event(format_args!(
                    r#""depth":1,"event":"write","protocol":"s{c}","bytes":64"#
                ))?;
                o.event(format_args!(
                    r#""event":"data_received","protocol":"p{c}","bytes":64"#
                ))?;
                o.event(format_args!(
                    r#""depth":1,"event":"lose_connection","protocol":"p{c}""#
                ))?;
            }
            for c in ids.clone() {
                o.event(format_args!(
                    r#""event":"connection_lost","protocol":"p{c}","reason":"connection_done""#
                ))?;
                o.event(format_args!(
                    r#""event":"client_connection_lost","factory":"f2","connector":"c{c}","reason":"connection_done""#
                ))?;
                o.event(format_args!(
                    r#""event":"do_stop","factory":"f2","connector":"c{c}""#
                ))?;
                if c == *ids.end() {
                    o.event(format_args!(
                        r#""depth":1,"event":"stop_factory","factory":"f2""#
                    ))?;
                }
                o.event(format_args!(
                    r#""event":"connection_lost","protocol":"s{c}","reason":"connection_done""#
                ))?;
            }
        }
        o.event(format_args!(r#""event":"stop_listening","port":"l1""#))?;
        o.event(format_args!(
            r#""event":"do_stop","factory":"f1","port":"l1""#
        ))?;
        o.event(format_args!(
            r#""depth":1,"event":"stop_factory","factory":"f1""#
        ))?;
        o.event(format_args!(r#""event":"end""#))?;
        o.inner.flush()?;
        Ok(o.seq)
    }

    /// How many events [`write`](Self::write) will write, without writing.
    ///
    /// ```
    /// use callorder_cli::workload::Workload;
    /// assert_eq!(Workload::default().count(), 10_200_019);
    /// ```
    pub fn count(&self) -> u64 {
        let wave = self.wave.max(1);
        // Per connection 3 + 5 + 5 + 4 events, plus one start_factory and
        // one stop_factory of f2 per wave.
        let per_wave = 17 * wave + 2;
        let mut seq = 3;
        while seq < self.events {
            seq += per_wave;
        }
        seq + 4
    }
}

/// Numbers object ids 1, 2, 3 per kind in order of first use, as
/// callorder's own reactors number objects, where trace files give 64-bit
/// name hashes: the checker then finds them in its dense index, as it does
/// when the mock reactor feeds it.
///
/// ```
/// use callorder_cli::workload::DenseIds;
/// use callorder_trace::{Event, ProtocolId, Step};
///
/// let mut ids = DenseIds::default();
/// let step = Step::new(1, Event::ConnectionMade { protocol: ProtocolId(0xdead_beef) });
/// assert_eq!(ids.number(step).event, Event::ConnectionMade { protocol: ProtocolId(1) });
/// ```
#[derive(Default, Debug)]
pub struct DenseIds {
    numbering: [std::collections::HashMap<u64, u64>; 4],
}

impl DenseIds {
    /// `step` with its ids numbered.
    pub fn number(&mut self, mut step: callorder_trace::Step) -> callorder_trace::Step {
        step.event = step.event.map_ids(&mut |kind, id| {
            let ids = &mut self.numbering[kind as usize];
            let next = ids.len() as u64 + 1;
            *ids.entry(id).or_insert(next)
        });
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check_reader, CheckOptions};
    use crate::report::Verdict;
    use callorder_checker::Profile;
    use callorder_trace::name_hash;

    #[test]
    fn small_workloads_are_legal_and_counted() {
        for (events, wave) in [(1, 1), (50, 3), (200, 7)] {
            let workload = Workload { events, wave };
            let mut text = Vec::new();
            let written = workload.write(&mut text).unwrap();
            assert_eq!(written, workload.count());
            let report = check_reader("w", &text[..], &CheckOptions::new(Profile::Strict));
            assert_eq!(report.verdict, Verdict::Legal, "{report:?}");
            assert!(report.complete);
            assert_eq!(report.events, written);
        }
    }

    /// The benchmark's figure is the checker's fast paths on this
    /// workload: they must judge it as the general path does.
    #[test]
    fn the_fast_paths_judge_the_workload_as_the_general_path_does() {
        use callorder_checker::Checker;
        use callorder_trace::TraceReader;

        let mut text = Vec::new();
        Workload {
            events: 20_000,
            wave: 40,
        }
        .write(&mut text)
        .unwrap();
        let mut ids = DenseIds::default();
        let mut fast = Checker::new(Profile::Strict);
        let mut general = Checker::new(Profile::Strict).with_fast_paths(false);
        for record in TraceReader::new(&text[..]) {
            let step = ids.number(record.unwrap().step);
            fast.step(&step).unwrap();
            general.step(&step).unwrap();
            assert_eq!(
                fast.live_objects(),
                general.live_objects(),
                "seq {}",
                step.seq
            );
        }
        assert!(fast.is_complete() && general.is_complete());
        assert_eq!(fast.coverage(), general.coverage());
    }

    /// Pinned against the reference generator's output for `--events 2000
    /// --wave 10`: its length and `name_hash` of its whole text.
    #[test]
    fn matches_the_reference_generator() {
        let mut text = Vec::new();
        Workload {
            events: 2000,
            wave: 10,
        }
        .write(&mut text)
        .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            (text.len(), name_hash(&text)),
            (REFERENCE_LEN, REFERENCE_HASH)
        );
    }

    const REFERENCE_LEN: usize = 184_750;
    const REFERENCE_HASH: u64 = 0xa220_b57f_e2d5_7ea6;
}
