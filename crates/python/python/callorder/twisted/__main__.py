"""``python -m callorder.twisted``: record and check a Twisted program, or
Twisted's trial, on the real reactor.

::

    python -m callorder.twisted run --out DIR [--profile P] -- prog.py [args]
    python -m callorder.twisted trial [--profile P] [--traces DIR] [trial args]

``run`` runs a program under the recorder (its trace is ``DIR/prog.jsonl``,
with ``shutdown`` where the reactor's shutdown began), checks it, and exits
as ``callorder check`` does: 0 legal, 1 illegal, 2 malformed or a usage
error. ``trial`` runs trial with one trace per test case (ended with
``scope: "test"`` after the test's cleanup and trial's reactor check),
prints each violation with its test's name, and exits with trial's exit
code or the checker's, whichever is worse. Its own options come first;
everything after them is trial's (so trial's own ``--profile`` is not
reachable). Not with ``-j``: trial's workers are other processes.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import tempfile
import traceback
from typing import Any, Optional, Sequence

import callorder

from . import _gate, _recorder


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m callorder.twisted",
        description="Record a Twisted program's callbacks on the real reactor and check their order.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a program under the recorder and check its trace")
    run.add_argument("--out", required=True, metavar="DIR", help="directory for the trace")
    run.add_argument("--profile", choices=callorder.PROFILES, default="strict")
    run.add_argument("program", nargs=argparse.REMAINDER, help="-- prog.py [args]")
    trial = commands.add_parser("trial", help="run trial with one trace per test case")
    trial.add_argument("--profile", choices=callorder.PROFILES, default="strict")
    trial.add_argument("--traces", metavar="DIR", default=None, help="directory for the traces (default: a temporary one)")
    trial.add_argument("trial_args", nargs="*", metavar="TRIAL_ARGS", help="arguments for trial, its options included")
    return parser


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        parser.error("run: expected -- PROGRAM [ARGS]")
    path = program[0]
    if not os.path.isfile(path):
        parser.error(f"run: {path}: no such file")
    name = os.path.splitext(os.path.basename(path))[0]
    # A program may run long: its events go to the file as it runs.
    recording = _recorder.start(_gate.trace_path(args.out, name), stream=True)
    sys.argv = program
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            print(f"callorder: {path} exited with {e.code}", file=sys.stderr)
    except BaseException:
        print(f"callorder: {path} raised:", file=sys.stderr)
        traceback.print_exc()
    recording.finish()
    verdict = recording.check(args.profile)
    out = sys.stderr if verdict.verdict != "legal" else sys.stdout
    out.write(_gate.explain(verdict, recording))
    leak = _gate.summary_line(recording)
    if leak is not None:
        print(f"callorder: {leak}", file=sys.stderr)
    return verdict.exit_code


class _TrialGate:
    """Wraps trial's ``SynchronousTestCase.run``: one recording per test."""

    def __init__(self, profile: str, directory: str) -> None:
        self.profile = profile
        self.directory = directory
        self.verdicts: list[tuple[str, Any, _recorder.Recording]] = []

    def install(self) -> None:
        from twisted.trial import _synctest

        _recorder.install()
        run = _synctest.SynchronousTestCase.run
        gate = self

        def recorded_run(test: Any, result: Any) -> None:
            active = _recorder.active()
            if active is not None and not active.finished:
                active.finish(scope="test")
            recording = _recorder.start(_gate.trace_path(gate.directory, test.id()))
            try:
                run(test, result)
            finally:
                recording.finish(scope="test")
                gate.verdicts.append((test.id(), recording.check(gate.profile), recording))

        recorded_run.__doc__ = run.__doc__
        _synctest.SynchronousTestCase.run = recorded_run  # type: ignore[method-assign]

    def report(self) -> int:
        worst = 0
        bad = [(name, v, r) for name, v, r in self.verdicts if v.verdict != "legal"]
        print(f"\ncallorder: {len(self.verdicts)} traces checked ({self.profile}), {len(bad)} not legal; traces in {self.directory}")
        for name, verdict, recording in bad:
            worst = max(worst, verdict.exit_code)
            sys.stdout.write(_gate.explain(verdict, recording, name))
        for name, _verdict, recording in self.verdicts:
            leak = _gate.summary_line(recording)
            if leak is not None:
                print(f"callorder: {name}: {leak}")
        return worst


def _trial(args: argparse.Namespace) -> int:
    directory = args.traces or tempfile.mkdtemp(prefix="callorder-trial-")
    os.makedirs(directory, exist_ok=True)
    gate = _TrialGate(args.profile, os.path.abspath(directory))
    gate.install()
    from twisted.scripts import trial

    sys.argv = ["trial", *args.trial_args]
    try:
        trial.run()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return max(code, gate.report())


def _split_trial(argv: list[str]) -> tuple[list[str], list[str]]:
    """``trial``'s own options (those before everything meant for trial:
    ``--profile``, ``--traces``, ``-h``) and trial's arguments, in order."""
    ours, rest = argv[:1], argv[1:]
    while rest:
        head = rest[0]
        if head in ("--profile", "--traces") and len(rest) > 1:
            ours += rest[:2]
            rest = rest[2:]
        elif head.startswith(("--profile=", "--traces=")) or head in ("-h", "--help"):
            ours.append(head)
            rest = rest[1:]
        else:
            break
    return ours, rest


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["trial"]:
        # Everything after this gate's own options is trial's, options
        # included (--reporter=text, -e, ...), which argparse would refuse.
        ours, rest = _split_trial(argv)
        args = parser.parse_args(ours)
        args.trial_args = rest
        return _trial(args)
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args, parser)
    return _trial(args)


if __name__ == "__main__":
    sys.exit(main())
