"""The lab's periodic workers: one daemon thread each, stopped together with the lab."""

from __future__ import annotations

import logging
import threading
import time

LOG = logging.getLogger(__name__)


class Periodic:
    """A daemon thread named ``name`` that, every ``interval`` seconds until :meth:`stop`, calls :meth:`poll` when
    ``poll_interval`` seconds have passed since its last call (and on the first pass), then :meth:`tick`.

    ``poll`` is for reading the AWS at its own, slower pace; ``tick`` for acting on what was read. A call that
    raises is logged and the next one runs: a worker of the lab outlives a failed AWS call.
    """

    def __init__(self, name: str, interval: float, poll_interval: float | None = None) -> None:
        self._name = name
        self._interval = interval
        self._poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        """Read what the worker follows (nothing unless a subclass says so)."""

    def tick(self) -> None:
        """Act (nothing unless a subclass says so)."""

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        next_poll = 0.0
        while not self._stop.wait(self._interval):
            if self._poll_interval is not None and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self._poll_interval
                self._call(self.poll)
            self._call(self.tick)

    def _call(self, step) -> None:
        try:
            step()
        except Exception:
            LOG.exception("%s: %s failed", self._name, step.__name__)
