"""Test hosts: network namespaces joined to the root namespace by a veth pair.

Each NetNS gets a unique name, addresses from the documentation ranges
(192.0.2.0/24 and 2001:db8::/32), and is always removed, even when a test fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

_counter = itertools.count()
CLONE_NEWNET = 0x40000000


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def can_make_netns() -> str | None:
    """None when network namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if run("ip", "-V", check=False).returncode != 0:
        return "iproute2 (`ip`) is not installed"
    return None


@dataclass
class NetNS:
    """A namespace ``name`` with ``peer`` inside and ``host`` in the root namespace.

    Subnet index ``n`` gives 192.0.2.(4n+1) on the host side and 192.0.2.(4n+2) inside,
    and 2001:db8:0:n::1 / ::2.
    """

    name: str
    host: str
    peer: str
    n: int
    host_ip: str = ""
    peer_ip: str = ""
    host_ip6: str = ""
    peer_ip6: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        net = ("192.0.2", "198.51.100", "203.0.113")[self.n // 64]
        k = self.n % 64
        self.host_ip = f"{net}.{4 * k + 1}"
        self.peer_ip = f"{net}.{4 * k + 2}"
        self.host_ip6 = f"2001:db8:0:{self.n:x}::1"
        self.peer_ip6 = f"2001:db8:0:{self.n:x}::2"

    def exec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.name, *args, check=check)

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        """Start a process inside the namespace (ended at teardown)."""
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)
        self.procs.append(p)
        return p

    def python(self, code: str, **kw) -> subprocess.Popen:
        """Run Python code inside the namespace with this interpreter."""
        return self.popen(sys.executable, "-c", code, **kw)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the body of the block with this thread inside the namespace.

        Sockets created in the block stay in the namespace after it ends.
        """
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            try:
                yield
            finally:
                libc.setns(own, CLONE_NEWNET)
        finally:
            os.close(own)
            os.close(target)


LEASES = "/run/sockscope-tests"


def _lease_subnet() -> int:
    """A subnet index no other test process holds (leases are files, so parallel runs agree)."""
    os.makedirs(LEASES, exist_ok=True)
    taken = _addresses_in_use()
    for n in range(1, 192):
        if f"2001:db8:0:{n:x}::1" in taken:  # a namespace left behind by a process that died
            continue
        path = f"{LEASES}/{n}"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:  # a lease left by a process that died
                with open(path) as fh:
                    pid = int(fh.read() or 0)
                if pid and not os.path.exists(f"/proc/{pid}"):
                    os.unlink(path)
            except (OSError, ValueError):
                pass
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return n
    raise RuntimeError("no free test subnet")


def _addresses_in_use() -> set[str]:
    """Addresses configured on the host's links now (a stale lease's subnet may still be)."""
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    return {w.split("/")[0] for line in out.splitlines() for w in line.split()[3:4]}


def _release_subnet(n: int) -> None:
    try:
        os.unlink(f"{LEASES}/{n}")
    except OSError:
        pass


def create(prefix: str = "ss") -> NetNS:
    """Make a namespace and veth pair; raise (after cleaning up) if anything fails."""
    i = next(_counter)
    tag = f"{prefix}{os.getpid() % 100000}x{i}"
    ns = NetNS(name=f"{tag}ns", host=f"{tag}h"[:15], peer=f"{tag}p"[:15], n=_lease_subnet())
    try:
        run("ip", "netns", "add", ns.name)
        run("ip", "link", "add", ns.host, "type", "veth", "peer", "name", ns.peer)
        run("ip", "link", "set", ns.peer, "netns", ns.name)
        # Quiet links make exact counts possible.  Before the links come up: no DAD
        # probes, no router solicitations, and the MLD reports a link sends when it
        # comes up squeezed into one burst (1 ms apart instead of up to a second).
        for key, value in _QUIET_IPV6.items():
            run("sysctl", "-qw", f"net.ipv6.conf.{ns.host}.{key}={value}", check=False)
            ns.exec("sysctl", "-qw", f"net.ipv6.conf.{ns.peer}.{key}={value}", check=False)
        watch = _open_watch(ns.host)
        run("ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host)
        run("ip", "-6", "addr", "add", f"{ns.host_ip6}/64", "dev", ns.host, "nodad")
        run("ip", "link", "set", ns.host, "up")
        ns.exec("ip", "addr", "add", f"{ns.peer_ip}/30", "dev", ns.peer)
        ns.exec("ip", "-6", "addr", "add", f"{ns.peer_ip6}/64", "dev", ns.peer, "nodad")
        ns.exec("ip", "link", "set", ns.peer, "up")
        ns.exec("ip", "link", "set", "lo", "up")
        # Static neighbours: no ARP or neighbour discovery on the wire.
        ns.exec("ip", "neigh", "replace", ns.host_ip, "lladdr", _mac(ns.host), "dev", ns.peer, check=False)
        run("ip", "neigh", "replace", ns.peer_ip, "lladdr", _peer_mac(ns), "dev", ns.host, check=False)
        ns.exec("ip", "-6", "neigh", "replace", ns.host_ip6, "lladdr", _mac(ns.host), "dev", ns.peer, check=False)
        run("ip", "-6", "neigh", "replace", ns.peer_ip6, "lladdr", _peer_mac(ns), "dev", ns.host, check=False)
        _wait_quiet(watch)
    except BaseException:
        destroy(ns)
        raise
    return ns


_QUIET_IPV6 = {
    "accept_dad": 0,
    "dad_transmits": 0,
    "router_solicitations": 0,
    "router_solicitation_delay": 0,
    "mldv1_unsolicited_report_interval": 1,
    "mldv2_unsolicited_report_interval": 1,
}


def _open_watch(ifname: str):
    """A packet socket on the host end, opened before the link is up, to see its start-up noise."""
    import socket

    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        s.bind((ifname, 3))
    except OSError:
        return None
    s.settimeout(0.05)
    return s


def _wait_quiet(watch, quiet: float = 0.15, idle_limit: float = 1.2, limit: float = 3.0) -> None:
    """Wait until the links' start-up noise has passed.

    Even with the sysctls above, each end sends a burst of MLD reports when the kernel
    marks the link ready (about half a second after `up`, whatever the settings).  The
    noise has passed when something was seen and then nothing for ``quiet`` seconds,
    or nothing at all for ``idle_limit`` seconds.
    """
    if watch is None:
        time.sleep(idle_limit)
        return
    start = last = time.monotonic()
    seen = False
    try:
        while True:
            now = time.monotonic()
            if now - start > limit or (seen and now - last >= quiet) or (not seen and now - start >= idle_limit):
                return
            try:
                watch.recv(65535)
            except TimeoutError:
                continue
            except OSError:  # ENETDOWN while the link comes up
                time.sleep(0.01)
                continue
            seen, last = True, time.monotonic()
    finally:
        watch.close()


def _mac(ifname: str) -> str:
    with open(f"/sys/class/net/{ifname}/address") as fh:
        return fh.read().strip()


def _peer_mac(ns: NetNS) -> str:
    return ns.exec("cat", f"/sys/class/net/{ns.peer}/address").stdout.strip()


def destroy(ns: NetNS) -> None:
    for p in ns.procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(3)
    run("ip", "link", "del", ns.host, check=False)
    run("ip", "netns", "del", ns.name, check=False)
    _release_subnet(ns.n)
