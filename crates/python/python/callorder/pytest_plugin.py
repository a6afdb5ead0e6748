"""The pytest plugin: ``pytest --callorder`` records each test's traffic on
Twisted's real reactor and fails a test whose trace is illegal.

Options:

- ``--callorder``: turn recording on;
- ``--callorder-profile strict|twisted``: the profile traces are held to
  (default ``strict``);
- ``--callorder-traces DIR``: where each test's trace is written (default:
  a ``callorder`` directory under pytest's temporary directory).

A test's recording starts before its setup and ends after its teardown
(``end`` with ``scope: "test"``: the reactor runs on). An illegal trace
fails the test's teardown with the violation as ``callorder check`` prints
it, and the path of the trace. The summary lists the warnings of legal
traces (obligations left unmet, under the ``twisted`` profile) and the
factories still alive at a test's end (after ``gc.collect()``) that the
test case does not hold.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Generator, Optional

import pytest

import callorder

_KEY = pytest.StashKey[Any]()  # the test's Recording


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("callorder", "callback order of Twisted code (callorder)")
    group.addoption(
        "--callorder",
        action="store_true",
        default=False,
        help="record each test's Twisted reactor traffic and fail a test whose callback order is illegal",
    )
    group.addoption(
        "--callorder-profile",
        choices=callorder.PROFILES,
        default="strict",
        help="the profile traces are held to (default: strict)",
    )
    group.addoption(
        "--callorder-traces",
        metavar="DIR",
        default=None,
        help="write each test's trace to DIR (default: under pytest's temporary directory)",
    )


class _Gate:
    def __init__(self, config: pytest.Config) -> None:
        from callorder.twisted import _recorder

        self.recorder = _recorder
        self.profile: str = config.getoption("callorder_profile")
        directory: Optional[str] = config.getoption("callorder_traces")
        if directory is None:
            # pytest's temporary directory for this run (its tmpdir plugin
            # has configured it: this plugin's configure runs last).
            factory = getattr(config, "_tmp_path_factory", None)
            directory = (
                str(factory.getbasetemp() / "callorder") if factory is not None else tempfile.mkdtemp(prefix="callorder-")
            )
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.leaks: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self.checked = 0
        self.illegal = 0
        _recorder.install()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        from callorder.twisted._gate import trace_path

        active = self.recorder.active()
        if active is not None and not active.finished:
            active.finish(scope="test")
        item.stash[_KEY] = self.recorder.start(trace_path(self.directory, item.nodeid))
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when != "teardown":
            return report
        recording = item.stash.get(_KEY, None)
        if recording is None:
            return report
        from callorder.twisted._gate import explain, summary_line

        recording.finish(scope="test")
        verdict = recording.check(self.profile)
        self.checked += 1
        leak = summary_line(recording)
        if leak is not None:
            self.leaks.append((item.nodeid, leak))
        for w in verdict.warnings:
            self.warnings.append((item.nodeid, f"warning: {w.rule}: {w.message}"))
        if verdict.verdict != "legal":
            self.illegal += 1
            report.outcome = "failed"
            report.longrepr = explain(verdict, recording, item.nodeid)
        return report

    def pytest_report_header(self) -> str:
        return f"callorder: recording Twisted callbacks, profile {self.profile}, traces in {self.directory}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("callorder")
        terminalreporter.write_line(
            f"{self.checked} traces checked ({self.profile}): {self.illegal} not legal; traces in {self.directory}"
        )
        for nodeid, line in self.warnings + self.leaks:
            terminalreporter.write_line(f"{nodeid}: {line}")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("callorder"):
        config.pluginmanager.register(_Gate(config), "callorder-gate")


def pytest_unconfigure(config: pytest.Config) -> None:
    gate = config.pluginmanager.get_plugin("callorder-gate")
    if gate is not None:
        gate.recorder.uninstall()
        config.pluginmanager.unregister(gate)
