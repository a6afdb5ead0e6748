#!/usr/bin/env python3
"""Twisted's side of the harness benchmark (benches/lifecycle.rs).

How many client life cycles per second Twisted 26.10 itself drives through
a Factory/Protocol pair, in memory, with its own test fakes
(twisted.internet.testing.MemoryReactor and StringTransport). The life cycle
is the one the Rust bench drives through the mock reactor, callback for
callback, in the order Twisted's tcp.Connector and tcp.Client call them:

    doStart            -> startFactory (the count goes 0 to 1)
    connectTCP         -> startedConnecting (MemoryReactor calls it)
    buildProtocol
    makeConnection     -> connectionMade, which writes 5 bytes
    dataReceived x 4   (100, 1000, 10 and 4000 bytes: the same 4 chunks
                        every time, as the Rust bench shares its payloads)
    connectionLost     (ConnectionDone)
    clientConnectionLost
    doStop             -> stopFactory (the count goes 1 to 0)

One factory serves every life cycle. The garbage collector is off while a
run is timed (as timeit does), so a collection does not land in one run and
not another. The last line is the median of the runs:

    lifecycles_per_s=N

Run with a Python that has Twisted:
    python3 -m venv .venv && .venv/bin/pip install twisted==26.10.0
    .venv/bin/python crates/harness/benches/twisted_fakes.py [-n 20000] [--runs 3]
"""

import argparse
import gc
import statistics
import sys
import time

CHUNKS = (b"a" * 100, b"b" * 1000, b"c" * 10, b"d" * 4000)
GREETING = b"hello"
# MemoryReactor records every connectTCP; drop the records this often so
# that a long run does not measure a growing list.
FORGET_EVERY = 1024


def client_factory():
    """A fresh ClientFactory whose protocol writes on connect and counts bytes."""
    from twisted.internet.protocol import ClientFactory, Protocol

    class Counting(Protocol):
        received = 0
        closed = False

        def connectionMade(self):
            self.transport.write(GREETING)

        def dataReceived(self, data):
            self.received += len(data)

        def connectionLost(self, reason):
            self.closed = True

    class Factory(ClientFactory):
        protocol = Counting
        noisy = False  # no log line per start and stop

        def startedConnecting(self, connector):
            pass

        def clientConnectionLost(self, connector, reason):
            pass

    return Factory()


def timed_run(lifecycles):
    """Drives `lifecycles` life cycles; returns life cycles per second."""
    from twisted.internet.address import IPv4Address
    from twisted.internet.error import ConnectionDone
    from twisted.internet.testing import MemoryReactor, StringTransport
    from twisted.python.failure import Failure

    factory = client_factory()
    reactor = MemoryReactor()
    peer = IPv4Address("TCP", "127.0.0.1", 8000)
    done = Failure(ConnectionDone())

    gc.collect()
    was_on = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for n in range(1, lifecycles + 1):
            factory.doStart()
            connector = reactor.connectTCP("127.0.0.1", 8000, factory)
            protocol = factory.buildProtocol(peer)
            protocol.makeConnection(StringTransport())
            for chunk in CHUNKS:
                protocol.dataReceived(chunk)
            protocol.connectionLost(done)
            factory.clientConnectionLost(connector, done)
            factory.doStop()
            if n % FORGET_EVERY == 0:
                reactor.tcpClients.clear()
                reactor.connectors.clear()
        elapsed = time.perf_counter() - start
    finally:
        if was_on:
            gc.enable()
    if protocol.received != sum(map(len, CHUNKS)) or not protocol.closed:
        sys.exit("the last life cycle did not run to its end")
    return lifecycles / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="life cycles per run")
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the median is printed")
    args = parser.parse_args()

    import twisted

    print(f"# twisted {twisted.__version__}, python {sys.version.split()[0]}, "
          f"{args.n} life cycles per run, {args.runs} runs")
    rates = []
    for run in range(1, args.runs + 1):
        rates.append(timed_run(args.n))
        print(f"# run {run}: lifecycles_per_s={rates[-1]:.0f}", flush=True)
    print(f"lifecycles_per_s={statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
