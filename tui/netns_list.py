"""Network namespaces: which exist, what interfaces each holds, and capturing inside one.

Named namespaces live as files under /run/netns (``ip netns add``); containers usually
have unnamed ones, reachable as /proc/<pid>/ns/net of any process inside.  Both are
found and told apart by the namespace's inode.  A thread may enter a namespace with
``setns`` on its own (other threads stay where they are): sockets it makes there stay in
that namespace, which is how a raw socket captures inside a container from the host.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tui.sources.wrapped import WrappedSource

CLONE_NEWNET = 0x40000000
RUN_NETNS = "/run/netns"


@dataclass(frozen=True, slots=True)
class NamespaceInterface:
    """One interface as seen inside its namespace."""

    index: int
    name: str
    kind: str  # veth, loopback, bridge, ... ("ether" when the kernel gives no kind)
    state: str  # up | down | unknown
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Namespace:
    """A network namespace; ``spec`` is what ``netns_path`` and ``open_live_source`` take."""

    inode: int
    name: str  # "host", the /run/netns name, or "pid 1234 (nginx)"
    kind: str  # host | named | process
    path: str  # a file that refers to it (/run/netns/NAME or /proc/PID/ns/net)
    pids: tuple[int, ...] = ()  # a few processes inside (for people; bounded)
    interfaces: tuple[NamespaceInterface, ...] = field(default=())
    error: str | None = None  # why the interfaces could not be listed

    @property
    def spec(self) -> str | None:
        """None for the host namespace (no setns needed), else the path to enter."""
        return None if self.kind == "host" else self.path


# ----------------------------------------------------------------- entering
def netns_path(spec: str) -> str:
    """A namespace file for ``spec``: a /run/netns name, ``pid:N`` or a number (a pid), or a path."""
    if spec.startswith("/"):
        return spec
    if spec.startswith("pid:"):
        spec = spec[4:]
    if spec.isdigit():
        return f"/proc/{spec}/ns/net"
    if "/" in spec or spec in (".", ".."):
        raise ValueError(f"not a namespace name: {spec!r}")
    return f"{RUN_NETNS}/{spec}"


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


@contextlib.contextmanager
def entered(spec: str | None) -> Iterator[None]:
    """Run the block with this thread inside the namespace ``spec`` (None: stay put).

    Sockets made in the block keep their namespace after it.  Raises OSError with a
    readable message when the namespace does not exist or cannot be entered.
    """
    if spec is None:
        yield
        return
    path = netns_path(spec)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise OSError(2, f"no such network namespace: {spec}") from None
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def netns_label(path: str) -> str:
    """Short text for a namespace path: its /run/netns name, or ``pid N``."""
    if path.startswith(RUN_NETNS + "/"):
        return path[len(RUN_NETNS) + 1 :]
    parts = path.split("/")
    if len(parts) == 5 and parts[1] == "proc" and parts[2].isdigit():
        return f"pid {parts[2]}"
    return path


def namespace_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


# ------------------------------------------------------------------ listing
def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as fh:
            return fh.read(64).strip().decode("utf-8", "replace")
    except OSError:
        return "?"


def _label(pid: int) -> str:
    """``pid 1234 (nginx)``, with the container when the cgroup names one."""
    from tui.attribution.cgroups import ContainerNames, parse_cgroup

    text = f"pid {pid} ({_comm(pid)})"
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            place = parse_cgroup(fh.read(16_384))
    except OSError:
        place = None
    if place is not None and place.kind != "systemd":
        text += f" {ContainerNames().label(place)}"
    return text


def find_namespaces(max_pids: int = 3) -> list[Namespace]:
    """Every network namespace reachable from here (host first), without their interfaces."""
    found: dict[int, Namespace] = {}
    pids_of: dict[int, list[int]] = {}
    host_path = "/proc/self/ns/net"
    host = namespace_inode(host_path)
    if host is not None:
        path = "/proc/1/ns/net" if namespace_inode("/proc/1/ns/net") == host else host_path
        found[host] = Namespace(host, "host", "host", path)
    try:
        names = sorted(os.listdir(RUN_NETNS))
    except OSError:
        names = []
    for name in names:
        ino = namespace_inode(f"{RUN_NETNS}/{name}")
        if ino is not None and ino not in found:
            found[ino] = Namespace(ino, name, "named", f"{RUN_NETNS}/{name}")
    try:
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    except OSError:
        pids = []
    for pid in pids:
        ino = namespace_inode(f"/proc/{pid}/ns/net")
        if ino is None:
            continue
        lst = pids_of.setdefault(ino, [])
        if len(lst) < max_pids:
            lst.append(pid)
        if ino not in found:
            found[ino] = Namespace(ino, _label(pid), "process", f"/proc/{pid}/ns/net")
    out = []
    for ino, ns in found.items():
        out.append(Namespace(ns.inode, ns.name, ns.kind, ns.path, tuple(pids_of.get(ino, ()))))
    return out


def _interfaces_here() -> tuple[NamespaceInterface, ...]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        addrs: dict[int, list[str]] = {}
        for msg in ipr.get_addr():
            a = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if a:
                addrs.setdefault(msg["index"], []).append(f"{a}/{msg['prefixlen']}")
        out = []
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            if kind is None:
                kind = "loopback" if link["flags"] & 0x8 else "ether"
            state = (link.get_attr("IFLA_OPERSTATE") or "unknown").lower()
            if state == "unknown" and link["flags"] & 0x1:
                state = "up"
            out.append(
                NamespaceInterface(
                    link["index"],
                    link.get_attr("IFLA_IFNAME") or f"if{link['index']}",
                    kind,
                    state,
                    tuple(addrs.get(link["index"], ())),
                )
            )
    return tuple(sorted(out, key=lambda i: i.index))


def interfaces_in(spec: str | None) -> tuple[NamespaceInterface, ...]:
    """The interfaces inside a namespace, listed by a short-lived thread that enters it."""
    result: list[tuple[NamespaceInterface, ...]] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            with entered(spec):
                result.append(_interfaces_here())
        except BaseException as exc:
            error.append(exc)

    t = threading.Thread(target=work, name="sockscope-netns-list", daemon=True)
    t.start()
    t.join(10)
    if error:
        raise error[0]
    if not result:
        raise TimeoutError(f"listing interfaces in {spec} took too long")
    return result[0]


def list_namespaces(include_empty: bool = False) -> list[Namespace]:
    """Namespaces with their interfaces, for the picker (host first, then named, then processes).

    Namespaces whose only interface is loopback are left out unless ``include_empty``.
    Blocking (a netlink query per namespace): call it from a worker thread.
    """
    out = []
    for ns in find_namespaces():
        try:
            ifaces = interfaces_in(ns.spec)
            err = None
        except (OSError, TimeoutError) as exc:
            ifaces, err = (), str(exc)
        if not include_empty and ns.kind != "host" and err is None and all(i.kind == "loopback" for i in ifaces):
            continue
        out.append(Namespace(ns.inode, ns.name, ns.kind, ns.path, ns.pids, ifaces, err))
    order = {"host": 0, "named": 1, "process": 2}
    out.sort(key=lambda n: (order.get(n.kind, 3), n.name))
    return out


def group_rows(namespaces: Iterable[Namespace]) -> list[tuple[str, str | None, NamespaceInterface | None]]:
    """Rows for a grouped picker: a header (title, spec, None) then (title, spec, interface) per interface."""
    rows: list[tuple[str, str | None, NamespaceInterface | None]] = []
    for ns in namespaces:
        rows.append((ns.name, ns.spec, None))
        for iface in ns.interfaces:
            rows.append((ns.name, ns.spec, iface))
    return rows


# ---------------------------------------------------------------- capturing
class NamespacedSource(WrappedSource):
    """A LiveSource whose socket lives in another namespace, read by a thread inside it.

    The raw socket is opened after entering the namespace (so errors show at once, on the
    caller's thread); the capture thread enters it too while reading, so interface index
    lookups (names, removal checks) answer for that namespace and not the host.
    """

    def __init__(self, iface: str, netns: str, **live_kw) -> None:
        from tui.sources.live import CaptureError, LiveSource

        self.netns = netns
        try:
            with entered(netns):
                inner = LiveSource(iface, **live_kw)
        except OSError as exc:
            raise CaptureError(f"cannot capture in namespace {netns}: {exc.strerror or exc}") from None
        super().__init__(inner)
        self.name = f"{iface}@{netns_label(netns)}"

    def batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        me = threading.get_ident()
        cm = entered(self.netns)
        cm.__enter__()
        try:
            yield from self.inner.batches(stop)
        finally:
            if threading.get_ident() == me:
                cm.__exit__(None, None, None)


def open_live_source(iface: str, netns: str | None = None, **live_kw):
    """A live source on ``iface``, inside namespace ``netns`` when given (name, pid or path)."""
    if netns is None:
        from tui.sources.live import LiveSource

        return LiveSource(iface, **live_kw)
    return NamespacedSource(iface, netns_path(netns), **live_kw)
