#!/usr/bin/env python3
"""Twisted's side of the loopback benchmark (benches/loopback.rs).

How many client life cycles per second Twisted 26.10's epoll reactor runs
over real loopback TCP, against the peer the Rust bench serves (it reads
the client's 5-byte greeting, sends 4 chunks of 100, 1000, 10 and 4000
bytes, and closes). A life cycle, as the Rust clients run it:

    connectTCP / connector.connect() -> startedConnecting
    buildProtocol, connectionMade    (writes b"hello")
    dataReceived, as the kernel chunks the 5110 bytes
    connectionLost(ConnectionDone), clientConnectionLost, which connects
    the same connector again until its share is done

With --inflight K, K connectors run at once, each its share of the life
cycles. The garbage collector is off while a run is timed. The last line is
the median of the runs:

    lifecycles_per_s=N

Run with a Python that has Twisted:
    python3 -m venv .venv && .venv/bin/pip install twisted==26.10.0
    .venv/bin/python crates/tokio-reactor/benches/twisted_epoll.py HOST:PORT [-n 5000] [--inflight 1] [--runs 3]
"""

import argparse
import gc
import statistics
import subprocess
import sys
import time

EXPECTED = 100 + 1000 + 10 + 4000


def one_run(host, port, n, inflight):
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import protocol, reactor

    class Client(protocol.Protocol):
        def connectionMade(self):
            self.received = 0
            self.transport.write(b"hello")

        def dataReceived(self, data):
            self.received += len(data)

        def connectionLost(self, reason):
            if self.received != EXPECTED:
                self.factory.errors += 1

    class Clients(protocol.ClientFactory):
        protocol = Client

        def __init__(self, per_connector, connectors):
            self.per_connector = per_connector
            self.left = {}
            self.running = connectors
            self.errors = 0

        def startedConnecting(self, connector):
            self.left.setdefault(connector, self.per_connector)

        def clientConnectionLost(self, connector, reason):
            self.left[connector] -= 1
            if self.left[connector] > 0:
                connector.connect()
            else:
                self.finished()

        def clientConnectionFailed(self, connector, reason):
            self.errors += 1
            self.finished()

        def finished(self):
            self.running -= 1
            if self.running == 0:
                reactor.callLater(0, reactor.stop)

    per = max(1, n // inflight)
    clients = Clients(per, inflight)
    started = []

    def go():
        started.append(time.perf_counter())
        for _ in range(inflight):
            reactor.connectTCP(host, port, clients)

    reactor.callWhenRunning(go)
    reactor.run()
    elapsed = time.perf_counter() - started[0]
    if clients.errors:
        sys.exit(f"{clients.errors} life cycles failed")
    return per * inflight / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("peer")
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    host, port = args.peer.rsplit(":", 1)
    if args.runs > 1:
        # A reactor runs once per process: each run is a process of its own.
        rates = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, args.peer, "-n", str(args.n),
                 "--inflight", str(args.inflight), "--runs", "1"],
                check=True, capture_output=True, text=True,
            ).stdout
            rates.append(float(out.strip().splitlines()[-1].split("=")[1]))
        print(f"lifecycles_per_s={statistics.median(rates):.0f}")
        return
    gc.disable()
    rate = one_run(host, int(port), args.n, args.inflight)
    print(f"lifecycles_per_s={rate:.0f}")


if __name__ == "__main__":
    main()
