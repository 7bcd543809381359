"""Live capture from an AF_PACKET socket with a TPACKET_V3 memory-mapped ring.

The kernel fills blocks of frames in a shared ring; one ``poll`` wake-up hands us a
whole block, and we copy each frame out and give the block back.  Where the ring
cannot be set up, ``recv_into`` on the same socket takes over.  The kernel's own
counters (PACKET_STATISTICS) report what it dropped, so no loss is silent.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

from tui import linktypes as lt
from tui.snapshot import IN, OUT
from tui.sources.errors import SourceError

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_IGNORE_OUTGOING = 23
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
PACKET_FANOUT = 18
PACKET_FANOUT_DATA = 22
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_CBPF = 6
PACKET_FANOUT_FLAG_UNIQUEID = 0x2000
DROP_ALL = (0x06, 0, 0, 0)  # BPF "ret #0": the socket takes nothing
TP_STATUS_USER = 1
TP_STATUS_KERNEL = 0
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6

_BLOCK_HDR = struct.Struct("=IIIIIIQ")  # version, offset_to_priv, status, num_pkts, offset_first, blk_len, seq
_PKT_HDR = struct.Struct("=IIIIIIHH")  # next_offset, sec, nsec, snaplen, len, status, mac, net
_PKT_HDR_LEAN = struct.Struct("=IIIIIIH")  # the same without tp_net
_PKTTYPE_AT = 48 + 10  # sll_pkttype: TPACKET3_HDRLEN, then family, protocol, ifindex, hatype
_PKT_VLAN = struct.Struct("=IIHH")  # rxhash, vlan_tci, vlan_tpid, padding
_SLL = struct.Struct("=HHiHBB")  # family, protocol, ifindex, hatype, pkttype, halen
_STATS = struct.Struct("=III")
TPACKET3_HDRLEN = 48  # TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
RECV_BATCH = 256  # frames per batch in the recv_into fallback


class CaptureError(SourceError):
    """Live capture cannot start or cannot go on."""


def no_privilege_message(iface: str) -> str:
    return (
        f"cannot capture on {iface}: opening a raw socket needs CAP_NET_RAW. "
        "Run as root (sudo sockscope ...), or grant the capability to a launcher "
        "(see README, 'Privileges'); replaying a file with -r needs no privilege."
    )


class LiveSource:
    """Frames from one interface (or all, ``any``) as they cross it."""

    kind = "live"

    def __init__(
        self,
        iface: str,
        bpf: str | None = None,
        promisc: bool = False,
        block_size: int = 1 << 20,
        block_count: int = 32,
        block_timeout_ms: int = 20,
        use_ring: bool = True,
        snaplen: int = 262_144,
        hold: bool = False,
    ) -> None:
        self.name = iface
        self.iface = iface
        self.end_reason: str | None = None
        self.snaplen = snaplen
        self._stats = [0, 0]
        self._types: dict[int, int] = {}  # ifindex -> linktype
        self._names: dict[int, str] = {}
        self._ring: mmap.mmap | None = None
        self._lo = False
        self._block_size = block_size
        self._block_count = block_count
        if iface == "any":
            self.ifindex = 0
        else:
            try:
                self.ifindex = socket.if_nametoindex(iface)
            except OSError:
                raise CaptureError(f"no such interface: {iface!r} (see `ip link` for the names)") from None
        # A bad filter is an error before anything is opened.
        insns = compile_bpf(bpf) if bpf else None
        # ``hold``: take nothing until release() (a socket joining a fanout group must be bound
        # first, and until it has joined it would get every packet, not its share).
        self._insns = insns
        if hold:
            insns = [DROP_ALL]
        try:
            # Protocol 0: the socket receives nothing until bind(), so the filter and the
            # ring are in place before the first packet arrives.
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            raise CaptureError(no_privilege_message(iface)) from None
        try:
            if use_ring:
                self._setup_ring(block_timeout_ms)
            if insns:
                attach_insns(self.sock, insns)
            if iface == "any":
                _bind_all(self.sock)
            else:
                self.sock.bind((iface, ETH_P_ALL))
            if iface != "any" and self._hatype(self.ifindex) == lt.ARPHRD_LOOPBACK:
                try:  # loopback: count each packet once, as tcpdump does
                    self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                except OSError:
                    pass  # older kernel: the per-frame check below does it
            if promisc and iface != "any":
                mreq = struct.pack("iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b"")
                self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError as exc:
            self.close()
            if exc.errno == errno.ENODEV:
                raise CaptureError(f"no such interface: {iface!r}") from None
            if exc.errno == errno.ENETDOWN:
                raise CaptureError(f"interface {iface} is down") from None
            raise CaptureError(f"cannot capture on {iface}: {exc.strerror or exc}") from None

    # --------------------------------------------------------------- set-up
    def _setup_ring(self, timeout_ms: int) -> None:
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            frame_size = 2048
            req = struct.pack(
                "=IIIIIII",
                self._block_size,
                self._block_count,
                frame_size,
                self._block_size * self._block_count // frame_size,
                timeout_ms,
                0,
                0,
            )
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self._ring = mmap.mmap(
                self.sock.fileno(),
                self._block_size * self._block_count,
                mmap.MAP_SHARED,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
        except OSError:
            self._ring = None  # fall back to recv_into
            # The socket may have been switched to V3 already; a fresh one is simplest.
            self.sock.close()
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)

    def join_fanout(self, group: int, program: list[tuple[int, int, int, int]] | None = None) -> int:
        """Join fanout group ``group`` (0: make a new group with an id the kernel picks).

        With ``program`` (classic BPF, see tui.shard) the group's members share the packets
        by what it returns, otherwise by the kernel's flow hash; every member passes the same.
        Returns the group id.
        """
        kind = PACKET_FANOUT_CBPF if program else PACKET_FANOUT_HASH
        new = group == 0
        try:
            flags = kind | (PACKET_FANOUT_FLAG_UNIQUEID if new else 0)
            self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT, (group & 0xFFFF) | (flags << 16))
            if new:
                group = struct.unpack("=I", self.sock.getsockopt(SOL_PACKET, PACKET_FANOUT, 4))[0] & 0xFFFF
                if program:  # the program belongs to the group: set once, by its first member
                    _set_fanout_program(self.sock, program)
        except OSError as exc:
            raise CaptureError(f"cannot share the capture on {self.iface} between workers: {exc.strerror}") from None
        return group

    def release(self) -> None:
        """End ``hold``: from now on the socket takes its packets (through the capture filter)."""
        try:
            if self._insns:
                attach_insns(self.sock, self._insns)
            else:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
        except OSError as exc:
            raise CaptureError(f"cannot start the capture on {self.iface}: {exc.strerror}") from None

    @property
    def uses_ring(self) -> bool:
        return self._ring is not None

    def _hatype(self, ifindex: int) -> int:
        try:
            name = socket.if_indextoname(ifindex)
            with open(f"/sys/class/net/{name}/type") as fh:
                return int(fh.read())
        except (OSError, ValueError):
            return 1

    def _linktype(self, ifindex: int, hatype: int) -> int:
        t = self._types.get(ifindex)
        if t is None:
            t = self._types[ifindex] = lt.from_arphrd(hatype)
            try:
                self._names[ifindex] = socket.if_indextoname(ifindex)
            except OSError:
                self._names[ifindex] = f"if{ifindex}"
        return t

    # ----------------------------------------------------------------- API
    def interfaces(self) -> dict[int, tuple[str, int]]:
        return {i: (self._names.get(i, f"if{i}"), t) for i, t in self._types.items()}

    def stats(self) -> tuple[int, int]:
        """Kernel counters since open: (packets seen by the socket, packets dropped)."""
        try:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
        except OSError:
            return (self._stats[0], self._stats[1])
        packets, drops = _STATS.unpack_from(raw.ljust(12, b"\0"))[:2]
        self._stats[0] += packets  # the kernel resets them on every read
        self._stats[1] += drops
        return (self._stats[0], self._stats[1])

    def close(self) -> None:
        if self._ring is not None:
            try:
                self._ring.close()
            except BufferError:
                pass
            self._ring = None
        try:
            self.sock.close()
        except OSError:
            pass

    def batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        if self._ring is not None:
            return self._ring_batches(stop)
        return self._recv_batches(stop)

    def _gone(self) -> bool:
        if self.ifindex == 0:
            return False
        try:
            socket.if_indextoname(self.ifindex)
        except OSError:
            return True
        return False

    def _check_error(self) -> None:
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err in (errno.ENETDOWN, errno.ENODEV, errno.ENXIO) or self._gone():
            if self._gone():
                self.end_reason = f"interface {self.iface} was removed"
                raise _Ended
            # Down is not gone: the interface may come back up; keep reading.
            return
        if err:
            raise CaptureError(f"capture on {self.iface} failed: {errno.errorcode.get(err, err)}")

    # --------------------------------------------------------------- ring
    def _ring_batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        ring = self._ring
        assert ring is not None
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        bsize = self._block_size
        nblocks = self._block_count
        idx = 0
        idle = 0
        lo_types = lt.ARPHRD_LOOPBACK
        # Bound to one interface: every frame has its ifindex and link type, so a block is
        # read by the lean loop in _block_one_iface.
        fixed_type = None
        if self.ifindex:
            hatype = self._hatype(self.ifindex)
            fixed_type = self._linktype(self.ifindex, hatype)
            self._lo = hatype == lo_types
        try:
            while not stop.is_set():
                base = idx * bsize
                status = struct.unpack_from("=I", ring, base + 8)[0]
                if not status & TP_STATUS_USER:
                    events = poller.poll(100)
                    if events and events[0][1] & select.POLLERR:
                        self._check_error()
                    if not events:
                        idle += 1
                        if idle % 10 == 0 and self._gone():
                            self.end_reason = f"interface {self.iface} was removed"
                            return
                        yield []
                    continue
                idle = 0
                _v, _p, _st, num, first, _blen, _seq = _BLOCK_HDR.unpack_from(ring, base)
                if fixed_type is not None:
                    batch = self._block_one_iface(ring, base + first, num, fixed_type)
                    struct.pack_into("=I", ring, base + 8, TP_STATUS_KERNEL)
                    idx = (idx + 1) % nblocks
                    yield batch
                    continue
                batch = []
                append = batch.append
                p = base + first
                unpack_pkt = _PKT_HDR.unpack_from
                unpack_sll = _SLL.unpack_from
                for _ in range(num):
                    nxt, sec, nsec, snap, wlen, pstatus, mac, _net = unpack_pkt(ring, p)
                    _fam, _proto, ifindex, hatype, pkttype, _halen = unpack_sll(ring, p + TPACKET3_HDRLEN)
                    if pkttype == PACKET_OUTGOING and hatype == lo_types:
                        p += nxt
                        continue  # loopback: the same packet comes back in as incoming
                    data = ring[p + mac : p + mac + snap]
                    if pstatus & TP_STATUS_VLAN_VALID:
                        data, wlen = _reinsert_vlan(ring, p, data, wlen, pstatus)
                    append(
                        (
                            sec * 1_000_000_000 + nsec,
                            ifindex,
                            OUT if pkttype == PACKET_OUTGOING else IN,
                            wlen,
                            data,
                            self._types.get(ifindex) or self._linktype(ifindex, hatype),
                        )
                    )
                    p += nxt
                # Give the block back to the kernel.
                struct.pack_into("=I", ring, base + 8, TP_STATUS_KERNEL)
                idx = (idx + 1) % nblocks
                yield batch
        except _Ended:
            return

    def _block_one_iface(self, ring: mmap.mmap, p: int, num: int, linktype: int) -> list[tuple]:
        """The frames of one ring block on a single interface (the common case, kept lean)."""
        batch: list[tuple] = []
        append = batch.append
        unpack = _PKT_HDR_LEAN.unpack_from
        ifindex = self.ifindex
        lo = self._lo
        for _ in range(num):
            nxt, sec, nsec, snap, wlen, pstatus, mac = unpack(ring, p)
            if ring[p + _PKTTYPE_AT] == PACKET_OUTGOING:
                if lo:  # loopback: the same packet comes back in as incoming
                    p += nxt
                    continue
                direction = OUT
            else:
                direction = IN
            data = ring[p + mac : p + mac + snap]
            if pstatus & TP_STATUS_VLAN_VALID:
                data, wlen = _reinsert_vlan(ring, p, data, wlen, pstatus)
            append((sec * 1_000_000_000 + nsec, ifindex, direction, wlen, data, linktype))
            p += nxt
        return batch

    # --------------------------------------------------------------- recv
    def _recv_batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        """One blocking read per wake-up, then whatever else is queued (up to a batch)."""
        sock = self.sock
        sock.settimeout(0.1)
        buf = bytearray(self.snaplen)
        view = memoryview(buf)
        cap = len(buf)
        try:
            while not stop.is_set():
                batch: list[tuple] = []
                flags = socket.MSG_TRUNC  # the return value is then the length on the wire
                while len(batch) < RECV_BATCH:
                    try:
                        n, addr = sock.recvfrom_into(view, 0, flags)
                    except (TimeoutError, BlockingIOError):
                        break
                    except OSError as exc:
                        if exc.errno in (errno.ENETDOWN, errno.ENODEV, errno.ENXIO):
                            self._check_error()
                            break
                        raise CaptureError(f"capture on {self.iface} failed: {exc.strerror}") from None
                    flags = socket.MSG_TRUNC | socket.MSG_DONTWAIT
                    ifname, _proto, pkttype, hatype = addr[0], addr[1], addr[2], addr[3]
                    if pkttype == PACKET_OUTGOING and hatype == lt.ARPHRD_LOOPBACK:
                        continue
                    ifindex = self.ifindex or _index(ifname)
                    batch.append(
                        (
                            time.time_ns(),
                            ifindex,
                            OUT if pkttype == PACKET_OUTGOING else IN,
                            n,
                            bytes(view[: min(n, cap)]),
                            self._types.get(ifindex) or self._linktype(ifindex, hatype),
                        )
                    )
                if not batch and self._gone():
                    self.end_reason = f"interface {self.iface} was removed"
                    return
                yield batch
        except _Ended:
            return


def _bind_all(sock: socket.socket) -> None:
    """Bind to every interface (ifindex 0), which Python's bind() cannot express by name."""
    libc = ctypes.CDLL(None, use_errno=True)
    addr = struct.pack("=HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P_ALL), 0, 0, 0, 0, b"")
    if libc.bind(sock.fileno(), ctypes.c_char_p(addr), len(addr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class _Ended(Exception):
    """Internal: the interface went away."""


def _index(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0


def _reinsert_vlan(ring: mmap.mmap, p: int, data: bytes, wlen: int, status: int) -> tuple[bytes, int]:
    """Put back the 802.1Q tag the NIC stripped, so the frame is as it was on the wire."""
    _hash, tci, tpid, _pad = _PKT_VLAN.unpack_from(ring, p + _PKT_HDR.size)
    if not status & TP_STATUS_VLAN_TPID_VALID or not tpid:
        tpid = 0x8100
    if len(data) < 12:
        return data, wlen
    return data[:12] + struct.pack("!HH", tpid, tci) + data[12:], wlen + 4


# ------------------------------------------------------------------- BPF
class BpfError(SourceError):
    """A capture filter that does not compile."""


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def compile_bpf(expr: str, linktype: int = lt.ETHERNET) -> list[tuple[int, int, int, int]]:
    """Compile a tcpdump-syntax filter with libpcap into (code, jt, jf, k) instructions."""
    try:
        from scapy.arch.common import compile_filter
        from scapy.error import Scapy_Exception
    except ImportError as exc:  # pragma: no cover - scapy is a dependency
        raise BpfError(f"cannot compile filters: {exc}") from None
    try:
        prog = compile_filter(expr, linktype=linktype)
    except ImportError:
        raise BpfError("capture filters need libpcap (apt-get install libpcap0.8)") from None
    except Scapy_Exception as exc:
        raise BpfError(f"bad capture filter {expr!r}: {str(exc).strip()}") from None
    insns = [(i.code, i.jt, i.jf, i.k) for i in prog.bf_insns[: prog.bf_len]]
    return insns


def attach_insns(sock: socket.socket, insns: list[tuple[int, int, int, int]]) -> None:
    """Attach a compiled filter program to a socket (SO_ATTACH_FILTER)."""
    arr = (_SockFilter * len(insns))(*[_SockFilter(*i) for i in insns])
    prog = _SockFprog(len(insns), ctypes.cast(arr, ctypes.POINTER(_SockFilter)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(prog))


def _set_fanout_program(sock: socket.socket, insns: list[tuple[int, int, int, int]]) -> None:
    """The fanout group's demultiplexing program (PACKET_FANOUT_DATA), for PACKET_FANOUT_CBPF."""
    arr = (_SockFilter * len(insns))(*[_SockFilter(*i) for i in insns])
    prog = _SockFprog(len(insns), ctypes.cast(arr, ctypes.POINTER(_SockFilter)))
    sock.setsockopt(SOL_PACKET, PACKET_FANOUT_DATA, bytes(prog))


def open_fanout(iface: str, n: int, bpf: str | None = None, promisc: bool = False, **kw) -> list[LiveSource]:
    """``n`` sources on ``iface`` that share its packets, each flow to one (tui.shard's rule).

    Every socket joins one fanout group (a fresh id from the kernel, so two captures never
    mix) while holding packets back; only when all have joined do they start taking them,
    so no packet reaches two of them.
    """
    from tui.shard import fanout_program

    sources: list[LiveSource] = []
    try:
        group = 0
        program = fanout_program(n)
        for _ in range(n):
            src = LiveSource(iface, bpf=bpf, promisc=promisc, hold=True, **kw)
            sources.append(src)
            group = src.join_fanout(group, program)
        for src in sources:
            src.release()
    except BaseException:
        for src in sources:
            src.close()
        raise
    return sources
