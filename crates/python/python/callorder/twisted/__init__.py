"""Record a real Twisted application's callbacks as trace format v1.

>>> from callorder import twisted as co_twisted
>>> recording = co_twisted.start()          # doctest: +SKIP
>>> ...                                     # run the reactor  # doctest: +SKIP
>>> recording.finish().check().verdict      # doctest: +SKIP
'legal'

The recorder wraps the reactor's ``connectTCP`` and ``listenTCP`` paths
(so endpoints, ``Agent`` and ``ReconnectingClientFactory`` are covered, all
built on them), and records every factory, connector, port, protocol,
transport and producer callback and action, with ``depth`` and ``within``.

- ``do_start``/``do_stop`` carry ``hooks: false`` when ``Factory``'s own
  ``doStart``/``doStop`` did not run on that factory (a forwarding
  factory such as ``endpoints._WrappingFactory``, or a duck-typed one);
- a callback the application called itself carries ``caller:
  "application"`` and ``site: "file.py:LINE"``;
- :meth:`Recording.finish` with ``scope="test"`` ends a test's trace while
  the reactor runs on.

The gates built on it: ``pytest --callorder`` (the plugin in
:mod:`callorder.pytest_plugin`), ``python -m callorder.twisted trial ...``
and ``python -m callorder.twisted run --out DIR -- prog.py``.
"""

from ._recorder import Leaks, Recording, active, install, start, uninstall

__all__ = ["Leaks", "Recording", "active", "install", "start", "uninstall"]
