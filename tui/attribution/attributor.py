"""Who owns each flow: a background refresher that ties flows to sockets and processes.

Never per packet.  The engine keeps each new flow in a bounded queue; every
``interval`` (0.5 s) this thread takes them (``Engine.take_new_flows``; when the queue
overflowed, a copy of the whole table instead), takes one sock_diag dump of the namespace
being captured, matches the new flows' endpoints to sockets, and maps the sockets'
inodes to processes through /proc, walking /proc only for inodes it has not met (and
stopping as soon as all are found).  Every ``slow_interval`` (5 s) it also looks at every
socket, so that one closing before its flow is examined still has a last known owner.
The owners found in a pass go back in one ``Engine.apply_owners`` call: this thread never
reads the flow table or writes a flow without the engine's lock.

Caches are bounded and expire; a flow's owner, once set, stays with it (a socket that
closes keeps the owner it had).  Flows that can have no local owner get an ``Owner``
whose ``reason`` says why: not TCP/UDP, not a local address, socket gone before seen.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from tui.attribution.cgroups import ContainerNames
from tui.attribution.procfs import ProcessInfo, find_socket_owners, read_process, user_name
from tui.attribution.sockdiag import SockDiag, SockEntry

NOT_TRANSPORT = "not TCP or UDP"
NOT_LOCAL = "not a local address"
SOCKET_GONE = "socket closed before it was seen"
NO_PROCESS = "no process holds the socket"
NOT_VISIBLE = "its process is not visible without root"
PROCESS_GONE = "process ended before it was seen"

_ANY4 = b"\0" * 4
_ANY6 = b"\0" * 16
_LOOP6 = b"\0" * 15 + b"\1"


@dataclass(frozen=True, slots=True)
class Owner:
    """The local process behind a flow, or why there is none (``reason``)."""

    pid: int | None
    process: str | None  # command name
    user: str | None
    container: str | None = None  # docker:web, k8s:ns/pod, systemd:nginx.service, ...
    cmdline: str | None = None
    uid: int | None = None
    reason: str | None = None  # set when the owner is unknown
    local_src: bool | None = None  # per flow: whether the owner's socket is the flow's src end

    @property
    def known(self) -> bool:
        return self.pid is not None

    @classmethod
    def unknown(cls, reason: str, user: str | None = None, uid: int | None = None) -> Owner:
        return cls(None, None, user, None, None, uid, reason)


@dataclass(slots=True)
class AttributorStats:
    """What the refresher has done (for the benchmark and the UI's status line)."""

    ticks: int = 0
    dumps: int = 0
    sockets: int = 0  # in the last dump
    scans: int = 0  # walks of /proc
    resolved: int = 0  # flows given a process
    unknown: int = 0  # flows given a reason instead
    busy_s: float = 0.0  # time spent in ticks
    errors: list[str] = field(default_factory=list)


def entry_key(e: SockEntry) -> tuple:
    """The one index key of a socket: exact connection, bound address, or wildcard port."""
    if e.rport or e.remote not in (_ANY4, _ANY6):
        return ("x", e.proto, e.local, e.lport, e.remote, e.rport)
    if e.local in (_ANY4, _ANY6):
        return ("w", e.proto, e.lport, len(e.local))
    return ("b", e.proto, e.local, e.lport)


def _candidates(
    proto: str, a: bytes, ap: int, b: bytes, bp: int, a_local: bool, b_local: bool
) -> list[tuple[tuple, bool]]:
    """(key, whether it is the ``a`` end) to look a flow up by, best first: its connection
    seen from either end (the first sender's end first), then sockets bound to a local
    endpoint's address or port (of the ends known to be local)."""
    keys = [(("x", proto, a, ap, b, bp), True), (("x", proto, b, bp, a, ap), False)]
    if a_local:
        keys.append((("b", proto, a, ap), True))
        keys.append((("w", proto, ap, len(a)), True))
        if len(a) == 4:
            keys.append((("w", proto, ap, 16), True))
    if b_local:
        keys.append((("b", proto, b, bp), False))
        keys.append((("w", proto, bp, len(b)), False))
        if len(b) == 4:
            keys.append((("w", proto, bp, 16), False))
    return keys


class _TtlCache:
    """A dict with per-entry expiry and a size cap (oldest insertions go first)."""

    def __init__(self, ttl: float, cap: int) -> None:
        self.ttl = ttl
        self.cap = cap
        self._d: dict = {}

    def get(self, key, now: float):
        hit = self._d.get(key)
        if hit is None:
            return None
        if hit[1] < now:
            del self._d[key]
            return None
        return hit[0]

    def put(self, key, value, now: float) -> None:
        d = self._d
        if key in d:
            del d[key]
        elif len(d) >= self.cap:
            for k in list(d)[: max(1, self.cap // 10)]:
                del d[k]
        d[key] = (value, now + self.ttl)

    def expire(self, now: float) -> None:
        for k in [k for k, (_, t) in self._d.items() if t < now]:
            del self._d[k]

    def __len__(self) -> int:
        return len(self._d)


class Attributor:
    """Fills ``flow.owner`` for an engine's flows from one network namespace's sockets.

    ``netns`` (a /run/netns name, ``pid:N`` or a path; None for our own) must be the
    namespace whose traffic is captured: sockets are looked up there.
    """

    def __init__(
        self,
        engine,
        netns: str | None = None,
        interval: float = 0.5,
        slow_interval: float = 5.0,
        ttl: float = 120.0,
        cap: int = 65_536,
        retries: int = 2,
        proc: str = "/proc",
    ) -> None:
        self.engine = engine
        self.netns = netns
        self.interval = interval
        self.slow_interval = slow_interval
        self.retries = retries
        self.proc = proc
        self.cap = cap
        self._queue = engine.watch_new_flows(cap)
        self._owned: list[tuple[Any, Owner]] = []  # owners found in this pass, applied at its end
        self.stats = AttributorStats()
        self._inode_pid = _TtlCache(ttl, cap)
        self._procs = _TtlCache(min(ttl, 30.0), 8192)
        self._recent = _TtlCache(ttl, cap)
        self._users: dict[int, str] = {}
        self._names = ContainerNames()
        self._pending: list[list] = []
        self._sides: dict[int, tuple[Owner, Owner, Owner]] = {}  # owner -> its src-end and dst-end copies
        self._locals: frozenset[bytes] = frozenset()
        self._locals_at = -1e9
        self._diag: SockDiag | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_full = 0.0

    # ------------------------------------------------------------ lifetime
    def open(self) -> None:
        """Open the diag socket here (in the namespace this thread is in)."""
        if self._diag is None:
            self._diag = SockDiag()

    def close(self) -> None:
        self.engine.unwatch_new_flows(self._queue)
        if self._diag is not None:
            self._diag.close()
            self._diag = None

    def start(self) -> threading.Thread:
        self._stop.clear()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="sockscope-attribution", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self._thread

    def stop(self, timeout: float = 5.0, final: bool = True) -> None:
        """Stop the thread; with ``final``, one last pass first so late flows get owners."""
        self._final = final
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self, ready: threading.Event) -> None:
        from tui.netns_list import entered

        self._final = True
        try:
            with entered(self.netns):
                try:
                    self.open()
                    self.tick(full=True)
                finally:
                    ready.set()
                while not self._stop.wait(self.interval):
                    self.tick()
                if self._final:
                    self.tick()
                self.close()
        except Exception as exc:  # attribution is optional: report, never take the capture down
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            ready.set()

    @property
    def error(self) -> str | None:
        return self.stats.errors[-1] if self.stats.errors else None

    # --------------------------------------------------------------- work
    def tick(self, full: bool | None = None) -> None:
        """One pass: new flows (and retries) against one dump; every ``slow_interval`` all sockets."""
        t0 = time.perf_counter()
        now = time.monotonic()
        if full is None:
            full = now >= self._next_full
        if full:
            self._next_full = now + self.slow_interval
        self.stats.ticks += 1
        try:
            todo = self._take_new(full)
            if todo or full:
                self._resolve(todo, full, now)
        finally:
            if self._owned:
                owned, self._owned = self._owned, []
                self.engine.apply_owners(owned)
        self.stats.busy_s += time.perf_counter() - t0

    def _take_new(self, full: bool) -> list[list]:
        fresh, lost = self.engine.take_new_flows()
        if lost or (full and self.stats.ticks == 1):
            # The queue lost flows (a flood) or the capture began before us: sweep the table.
            fresh.extend(self.engine.live_flows())
        todo = []
        for f in fresh:
            if f.owner is not None:  # (only apply_owners, from this thread, sets it)
                continue
            if f.proto not in ("TCP", "UDP") or f.family not in (4, 6):
                self._settle(f, _NOT_TRANSPORT)
                continue
            todo.append([f, 0])
        todo.extend(self._pending)
        return todo

    def is_local(self, addr: bytes) -> bool:
        if addr in self._locals:
            return True
        if len(addr) == 4:
            return addr[0] == 127
        return addr == _LOOP6

    def _refresh_locals(self) -> None:
        import socket as _s

        from pyroute2 import IPRoute

        addrs = set()
        with IPRoute() as ipr:
            for msg in ipr.get_addr():
                for name in ("IFA_LOCAL", "IFA_ADDRESS"):
                    a = msg.get_attr(name)
                    if a:
                        fam = _s.AF_INET6 if ":" in a else _s.AF_INET
                        try:
                            addrs.add(_s.inet_pton(fam, a.split("%")[0]))
                        except OSError:
                            pass
        self._locals = frozenset(addrs)

    def _resolve(self, todo: list[list], full: bool, now: float) -> None:
        assert self._diag is not None, "open() first"
        entries = self._diag.dump()
        self.stats.dumps += 1
        self.stats.sockets = len(entries)
        if full or now - self._locals_at > self.slow_interval:
            self._refresh_locals()
            self._locals_at = now
        index: dict[tuple, SockEntry] = {}
        for e in entries:
            k = entry_key(e)
            old = index.get(k)
            if old is None or (not old.inode and e.inode):
                index[k] = e
        is_local = self.is_local
        recent = self._recent
        index_get = index.get
        inode_known = self._inode_pid.get
        matched: list[tuple[list, SockEntry, bool]] = []
        still: list[list] = []
        need: set[int] = set()
        for item in todo:
            f = item[0]
            proto, a, ap, b, bp = f.proto, f.src, f.sport, f.dst, f.dport
            a_local, b_local = is_local(a), is_local(b)
            if not a_local and not b_local:
                self._settle(f, _NOT_LOCAL)
                continue
            entry = None
            side = True
            # Exact connection first (the first sender's end, then the other), then bound sockets.
            for k, is_a in _candidates(proto, a, ap, b, bp, a_local, b_local):
                e = index_get(k)
                if e is not None and e.inode:
                    entry, side = e, is_a
                    break
            if entry is None:
                for k, side in _candidates(proto, a, ap, b, bp, a_local, b_local):
                    old = recent.get(k, now)
                    if old is not None:
                        self._settle(f, old, side)
                        break
                else:
                    item[1] += 1
                    if item[1] > self.retries:
                        self._settle(f, _SOCKET_GONE)
                    else:
                        still.append(item)
                continue
            matched.append((item, entry, side))
            if inode_known(entry.inode, now) is None:
                need.add(entry.inode)
        if full:
            for e in entries:
                if e.inode and self._inode_pid.get(e.inode, now) is None:
                    need.add(e.inode)
        if need:
            self.stats.scans += 1
            for ino, pid in find_socket_owners(need, self.proc).items():
                self._inode_pid.put(ino, pid, now)
        memo: dict[int, Owner | None] = {}
        for item, e, side in matched:
            owner = memo.get(e.inode, _MISSING)
            if owner is _MISSING:
                owner = memo[e.inode] = self._owner_of(e, now)
            if owner is None:
                item[1] += 1
                if item[1] > self.retries:
                    why = NO_PROCESS if os.geteuid() == 0 else NOT_VISIBLE
                    self._settle(item[0], Owner.unknown(why, user_name(e.uid, self._users), e.uid))
                else:
                    still.append(item)
                continue
            self._settle(item[0], owner, side)
            recent.put(entry_key(e), owner, now)
        if full:
            for e in entries:
                if e.inode:
                    owner = self._owner_of(e, now)
                    if owner is not None and owner.known:
                        recent.put(entry_key(e), owner, now)
            recent.expire(now)
            self._inode_pid.expire(now)
            self._procs.expire(now)
        self._pending = still[: self.cap]

    def _owner_of(self, e: SockEntry, now: float) -> Owner | None:
        pid = self._inode_pid.get(e.inode, now)
        if pid is None:
            return None
        owner = self._procs.get(pid, now)
        if owner is None:
            info = read_process(pid, self.proc, self._users)
            if info is not None:
                owner = self._owner_from(info)
            else:
                owner = Owner(pid, None, user_name(e.uid, self._users), uid=e.uid, reason=PROCESS_GONE)
            self._procs.put(pid, owner, now)
        return owner

    def _owner_from(self, info: ProcessInfo) -> Owner:
        container = self._names.label(info.place) if info.place is not None else None
        return Owner(info.pid, info.comm, info.user, container, info.cmdline, info.uid)

    def _settle(self, flow, owner: Owner, local_src: bool | None = None) -> None:
        if local_src is not None and owner.known:
            sides = self._sides.get(id(owner))
            if sides is None or sides[0] is not owner:
                if len(self._sides) >= self.cap:
                    self._sides.clear()
                sides = (owner, replace(owner, local_src=True), replace(owner, local_src=False))
                self._sides[id(owner)] = sides
            owner = sides[1] if local_src else sides[2]
        self._owned.append((flow, owner))
        if owner.known:
            self.stats.resolved += 1
        else:
            self.stats.unknown += 1


_MISSING: Any = object()
_NOT_TRANSPORT = Owner.unknown(NOT_TRANSPORT)
_NOT_LOCAL = Owner.unknown(NOT_LOCAL)
_SOCKET_GONE = Owner.unknown(SOCKET_GONE)


@contextlib.contextmanager
def attributing(engine, netns: str | None = None, **kw) -> Iterator[Attributor]:
    """Run an Attributor for the length of a block (stopped with one last pass)."""
    att = Attributor(engine, netns, **kw)
    att.start()
    try:
        yield att
    finally:
        att.stop()
