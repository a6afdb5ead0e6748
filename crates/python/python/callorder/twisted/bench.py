"""The recorder's cost on a loopback echo benchmark.

::

    python -m callorder.twisted.bench [--connections 10] [--round-trips 2000] [--runs 5]

Each run is a fresh process on the real reactor (epoll): an echo server
and ``--connections`` clients, one after another, each making
``--round-trips`` request/answer round trips of 64 bytes over 127.0.0.1,
then closing. It is run without the recorder (not even installed) and with
it (every callback and action recorded, the trace written to a file), the
two alternating; the best wall time and CPU time of each are kept. It
prints both, their ratios (goal: at most 2.0), the events recorded, and
the time to check the trace with :func:`callorder.check`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

MESSAGE = b"x" * 64


def _workload(connections: int, round_trips: int) -> None:
    from twisted.internet import protocol, reactor

    class Echo(protocol.Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class Client(protocol.Protocol):
        def connectionMade(self) -> None:
            self.left = round_trips
            self.pending = len(MESSAGE)
            self.transport.write(MESSAGE)

        def dataReceived(self, data: bytes) -> None:
            self.pending -= len(data)
            if self.pending:
                return
            self.left -= 1
            if self.left:
                self.pending = len(MESSAGE)
                self.transport.write(MESSAGE)
            else:
                self.transport.loseConnection()

    class ClientFactory(protocol.ClientFactory):
        protocol = Client
        noisy = False

        def clientConnectionLost(self, connector: object, reason: object) -> None:
            state["done"] += 1
            if state["done"] == connections:
                port.stopListening().addCallback(lambda _: reactor.stop())
            else:
                reactor.connectTCP("127.0.0.1", number, self)

    server = protocol.Factory.forProtocol(Echo)
    server.noisy = False
    state = {"done": 0}
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    number = port.getHost().port
    reactor.connectTCP("127.0.0.1", number, ClientFactory())
    reactor.run()


def _one(mode: str, connections: int, round_trips: int, trace: str) -> dict:
    """One run in this process: its wall and CPU time, and the events recorded."""
    recording = None
    start = time.perf_counter()
    cpu = time.process_time()
    if mode == "recorded":
        from callorder.twisted import _recorder

        recording = _recorder.start(trace)
    _workload(connections, round_trips)
    if recording is not None:
        recording.finish()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu": time.process_time() - cpu, "events": 0 if recording is None else recording.seq}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callorder.twisted.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--one", choices=("plain", "recorded"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one, args.connections, args.round_trips, args.trace)))
        return 0

    directory = tempfile.mkdtemp(prefix="callorder-bench-")
    trace = os.path.join(directory, "echo.jsonl")
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    events = 0
    for _ in range(args.runs):
        for mode in ("plain", "recorded"):
            out = subprocess.run(
                [sys.executable, "-m", "callorder.twisted.bench", "--one", mode, "--trace", trace,
                 "--connections", str(args.connections), "--round-trips", str(args.round_trips)],
                check=True, capture_output=True, text=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            best[mode] = min(best.get(mode, float("inf")), result["seconds"])
            best_cpu[mode] = min(best_cpu.get(mode, float("inf")), result["cpu"])
            events = max(events, result["events"])
    import callorder

    start = time.perf_counter()
    verdict = callorder.check(trace)
    check_seconds = time.perf_counter() - start
    round_trips = args.connections * args.round_trips
    print(f"echo_round_trips: {round_trips} ({args.connections} connections x {args.round_trips}), best of {args.runs}")
    print(f"unrecorded_s: {best['plain']:.3f} ({round_trips / best['plain']:.0f} round trips/s)")
    print(f"recorded_s: {best['recorded']:.3f} ({round_trips / best['recorded']:.0f} round trips/s, {events} events)")
    print(f"recorded_over_unrecorded: {best['recorded'] / best['plain']:.2f} (goal <= 2.0)")
    # CPU time of the process (user + system): what the recorder costs,
    # whatever else the machine runs.
    print(f"unrecorded_cpu_s: {best_cpu['plain']:.3f}, recorded_cpu_s: {best_cpu['recorded']:.3f}, ratio {best_cpu['recorded'] / best_cpu['plain']:.2f}")
    print(f"check_s: {check_seconds:.3f} ({verdict.verdict}, {verdict.events} events)")
    os.remove(trace)
    os.rmdir(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
