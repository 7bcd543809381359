"""Optional reverse DNS: names for addresses, looked up in the background.

Off unless asked for (``n`` in the monitor, ``--resolve`` in report).  ``name(addr)``
never blocks: it answers from the cache, or queues a lookup for a small pool of worker
threads and answers None for now.  Answers and failures are both cached (failures for
less time), the cache and the queue are bounded, and a full queue drops the request (it
is asked again the next time the address is shown).
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable

PENDING = object()


def reverse_lookup(addr: str) -> str | None:
    """The system resolver's name for an IP address (hosts file, DNS PTR), or None."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    sa = (addr, 0) if ip.version == 4 else (addr, 0, 0, 0)
    try:
        host, _ = socket.getnameinfo(sa, socket.NI_NAMEREQD)
    except (OSError, UnicodeError):
        return None
    return host or None


class Resolver:
    """A bounded, cached, asynchronous reverse resolver (see the module docstring)."""

    def __init__(
        self,
        workers: int = 2,
        cap: int = 4096,
        ttl: float = 600.0,
        fail_ttl: float = 120.0,
        queue_cap: int = 256,
        lookup: Callable[[str], str | None] = reverse_lookup,
        netns: str | None = None,
    ) -> None:
        self.cap = cap
        self.ttl = ttl
        self.fail_ttl = fail_ttl
        self.lookups = 0
        self.failures = 0
        self.dropped = 0
        self._lookup = lookup
        self._netns = netns
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=queue_cap)
        self._done = threading.Condition(self._lock)
        self._threads = [
            threading.Thread(target=self._work, name=f"sockscope-resolver-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------ readers
    def name(self, addr: str) -> str | None:
        """The cached name for ``addr``; a miss queues a lookup and answers None (never blocks)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(addr)
            if hit is not None and hit[1] >= now:
                return hit[0]
            if addr in self._pending:
                return None
            try:
                self._queue.put_nowait(addr)
            except queue.Full:
                self.dropped += 1
                return None
            self._pending.add(addr)
        return None

    def cached(self, addr: str) -> object:
        """The cached answer (a name or None for a cached failure), PENDING, or KeyError if never asked."""
        with self._lock:
            hit = self._cache.get(addr)
            if hit is not None and hit[1] >= time.monotonic():
                return hit[0]
            if addr in self._pending:
                return PENDING
        raise KeyError(addr)

    def resolve_all(self, addrs: Iterable[str], timeout: float = 5.0) -> dict[str, str | None]:
        """Names for ``addrs``, waiting at most ``timeout`` in all (for the headless report)."""
        wanted = list(dict.fromkeys(addrs))
        deadline = time.monotonic() + timeout
        for a in wanted:
            while self.name(a) is None and a not in self._pending and not self._known(a):
                if time.monotonic() >= deadline:  # queue full: wait for room, within the budget
                    break
                time.sleep(0.01)
        with self._lock:
            while any(a in self._pending for a in wanted):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._done.wait(left)
            now = time.monotonic()
            out = {}
            for a in wanted:
                hit = self._cache.get(a)
                out[a] = hit[0] if hit is not None and hit[1] >= now else None
        return out

    def _known(self, addr: str) -> bool:
        with self._lock:
            return addr in self._cache

    def close(self) -> None:
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break

    # ------------------------------------------------------------ workers
    def _work(self) -> None:
        if self._netns is not None:
            from tui.netns_list import entered

            with entered(self._netns):
                self._loop()
        else:
            self._loop()

    def _loop(self) -> None:
        while True:
            addr = self._queue.get()
            if addr is None:
                return
            try:
                name = self._lookup(addr)
            except Exception:
                name = None
            now = time.monotonic()
            with self._lock:
                self.lookups += 1
                if name is None:
                    self.failures += 1
                if len(self._cache) >= self.cap:
                    for k in list(self._cache)[: max(1, self.cap // 10)]:
                        del self._cache[k]
                self._cache[addr] = (name, now + (self.ttl if name else self.fail_ttl))
                self._pending.discard(addr)
                self._done.notify_all()
