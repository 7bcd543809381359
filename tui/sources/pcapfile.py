"""Replay of pcap and pcapng files, with struct and mmap (no scapy: it is far too slow here).

Reading stops at the first structural error; the frames before it are delivered and
``end_reason`` says what went wrong and at which byte offset, so a damaged capture
still gives everything it holds.

Record lengths are read as libpcap and Wireshark read them: files written by libpcap
before format 2.3 hold the captured and original lengths swapped, and both tools swap
them back.  nDPI's ``fuzz-2021-10-13.pcap`` is such a file (version 2.0): read that way
it holds one 197-byte packet that was 524,501 bytes on the wire, then two stray bytes,
which is exactly what tshark and capinfos count (1 packet, 524,501 bytes) and warn
about; read naively its first record would claim more bytes than the file has.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from collections.abc import Iterator
from itertools import islice

from tui.snapshot import IN, OUT
from tui.sources.errors import SourceError

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
BATCH = 256


class CaptureFileError(SourceError):
    """The file is not a capture we can read at all."""


class PcapSource:
    """Frames from a pcap or pcapng file.

    ``speed`` None replays as fast as possible; 1.0 at the recorded pace (2.0 twice as fast).
    """

    kind = "file"

    def __init__(self, path: str, speed: float | None = None) -> None:
        self.path = path
        self.name = path
        self.speed = speed
        self.end_reason: str | None = None
        self.warning: str | None = None  # set when the file ended early or was damaged
        self.frames_read = 0
        self._ifaces: dict[int, tuple[str, int]] = {}
        try:
            self._fh = open(path, "rb")  # noqa: SIM115 - kept open for the mmap's life
        except OSError as exc:
            raise CaptureFileError(f"cannot open {path}: {exc.strerror or exc}") from exc
        try:
            size = os.fstat(self._fh.fileno()).st_size
            if size == 0:
                raise CaptureFileError(f"{path}: empty file, not a pcap or pcapng capture")
            self._buf = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
        except CaptureFileError:
            self._fh.close()
            raise
        except (OSError, ValueError) as exc:
            self._fh.close()
            raise CaptureFileError(f"cannot read {path}: {exc}") from exc
        head = self._buf[:4]
        if head in PCAP_MAGICS:
            self._format = "pcap"
        elif len(head) == 4 and struct.unpack("<I", head)[0] == PCAPNG_SHB:
            self._format = "pcapng"
        else:
            self.close()
            raise CaptureFileError(f"{path}: not a pcap or pcapng file (first bytes {head.hex() or 'missing'})")

    # ----------------------------------------------------------------- API
    def stats(self) -> tuple[int, int]:
        return (0, 0)

    def interfaces(self) -> dict[int, tuple[str, int]]:
        return dict(self._ifaces)

    def close(self) -> None:
        buf = getattr(self, "_buf", None)
        if buf is not None:
            try:
                buf.close()
            except BufferError:
                pass  # a memoryview still points in; the file closes with the process
            self._buf = None
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()
            self._fh = None

    def frames(self) -> Iterator[tuple]:
        """Every frame of the file, in order; on damage, stop and set ``end_reason``."""
        damage: list[str] = []
        for frame in self._guarded(damage):
            self.frames_read += 1
            yield frame
        self._ended(damage)

    def batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        if not self.speed:
            yield from self._fast_batches(stop)
            return
        batch: list[tuple] = []
        pace_wall = pace_ts = None
        for frame in self.frames():
            batch.append(frame)
            if pace_wall is None:
                pace_wall, pace_ts = time.monotonic(), frame[0]
            due = pace_wall + (frame[0] - pace_ts) / 1e9 / self.speed
            delay = due - time.monotonic()
            if delay > 0.005:
                yield batch
                batch = []
                if stop.wait(min(delay, 1.0)):
                    return
                if delay > 1.0:  # a long gap in the recording: skip ahead
                    pace_wall, pace_ts = time.monotonic(), frame[0]
            if len(batch) >= BATCH:
                yield batch
                batch = []
                if stop.is_set():
                    return
        if batch:
            yield batch

    def _fast_batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        """``batches`` without pacing: BATCH frames per C-level ``islice``, no Python step per frame.

        The same batches, counts and end reasons as the paced loop (tests/test_pcapfile.py).
        """
        damage: list[str] = []
        frames = self._guarded(damage)
        while batch := list(islice(frames, BATCH)):
            self.frames_read += len(batch)
            yield batch
            if stop.is_set() and len(batch) == BATCH:
                return
        self._ended(damage)

    def _ended(self, damage: list[str]) -> None:
        """The file was read to its end, or to the damage that stopped it: say which."""
        if damage:
            self.warning = f"{self.path}: {damage[0]}; {self.frames_read} packets read before it"
            self.end_reason = self.warning
        else:
            self.end_reason = "end of file"

    def _guarded(self, damage: list[str]) -> Iterator[tuple]:
        """The file's frames; damage ends them, its text put in ``damage`` (raising would lose
        the frames of a batch already read)."""
        try:
            yield from self._pcap_frames() if self._format == "pcap" else self._pcapng_frames()
        except _Damaged as exc:
            damage.append(exc.args[0])

    # ------------------------------------------------------------- readers
    def _pcap_frames(self) -> Iterator[tuple]:
        buf = self._buf
        n = len(buf)
        if n < 24:
            raise _Damaged("file header cut short at offset 0")
        endian, ns_mult = PCAP_MAGICS[buf[:4]]
        vmaj, vmin, _zone, _sig, _snaplen, network = struct.unpack_from(endian + "HHiIII", buf, 4)
        linktype = network & 0x03FFFFFF
        # Files from libpcap before 2.3 hold the two lengths the other way round; libpcap
        # and Wireshark swap them back (for 2.3, only where they are plainly reversed).
        swap = 2 if (vmaj == 2 and vmin < 3) or vmaj == 543 else 1 if (vmaj == 2 and vmin == 3) else 0
        self._ifaces[0] = (os.path.basename(self.path), linktype)
        header = struct.Struct(endian + "IIII").unpack_from
        off = 24
        limit = 1 << 24  # the record must still fit in the file; this only stops absurd claims
        sec_ns = 1_000_000_000
        while off < n:  # the loop of every frame of a pcap: kept to the fewest steps
            if off + 16 > n:
                raise _Damaged(f"record header cut short at offset {off}")
            sec, frac, incl, orig = header(buf, off)
            if swap and (swap == 2 or incl > orig):
                incl, orig = orig, incl
            start = off + 16
            end = start + incl
            if end > n or incl > limit:
                if incl > limit:
                    raise _Damaged(f"record at offset {off} claims {incl} bytes, more than any frame can hold")
                raise _Damaged(f"packet data cut short at offset {off} (needs {incl} bytes, {n - start} left)")
            yield (sec * sec_ns + frac * ns_mult, 0, IN, orig if orig > incl else incl, buf[start:end], linktype)
            off = end

    def _pcapng_frames(self) -> Iterator[tuple]:
        buf = self._buf
        n = len(buf)
        off = 0
        e = "<"
        section = -1
        iface_base = 0
        # per section: interface id -> (global index, linktype, ns per tick, snaplen)
        ifs: list[tuple[int, int, float, int]] = []
        while off < n:
            if off + 12 > n:
                raise _Damaged(f"block header cut short at offset {off}")
            btype = struct.unpack_from(e + "I", buf, off)[0]
            if btype == PCAPNG_SHB:
                bom = buf[off + 8 : off + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    e = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    e = ">"
                else:
                    raise _Damaged(f"bad byte-order magic in section header at offset {off}")
                section += 1
                iface_base = len(self._ifaces)
                ifs = []
            blen = struct.unpack_from(e + "I", buf, off + 4)[0]
            if blen < 12 or blen % 4:
                raise _Damaged(f"block at offset {off} has an invalid length {blen}")
            if off + blen > n:
                raise _Damaged(f"block at offset {off} cut short (needs {blen} bytes, {n - off} left)")
            body = off + 8
            bend = off + blen - 4
            if struct.unpack_from(e + "I", buf, bend)[0] != blen:
                raise _Damaged(f"block at offset {off}: trailing length differs from the leading {blen}")
            if btype == 1:  # Interface Description Block
                if bend - body < 8:
                    raise _Damaged(f"interface block at offset {off} too short")
                linktype, _res, snaplen = struct.unpack_from(e + "HHI", buf, body)
                tick_ns, name = _idb_options(buf, body + 8, bend, e)
                gid = iface_base + len(ifs)
                ifs.append((gid, linktype, tick_ns, snaplen))
                self._ifaces[gid] = (name or f"if{len(ifs) - 1}", linktype)
            elif btype == 6 or btype == 2:  # Enhanced / obsolete Packet Block
                if btype == 6:
                    if bend - body < 20:
                        raise _Damaged(f"packet block at offset {off} too short")
                    ifid, hi, lo, cap, orig = struct.unpack_from(e + "IIIII", buf, body)
                    data_off = body + 20
                else:
                    if bend - body < 20:
                        raise _Damaged(f"packet block at offset {off} too short")
                    ifid, _drops, hi, lo, cap, orig = struct.unpack_from(e + "HHIIII", buf, body)
                    data_off = body + 20
                if ifid >= len(ifs):
                    raise _Damaged(f"packet block at offset {off} names interface {ifid}, which was never described")
                if data_off + cap > bend:
                    raise _Damaged(f"packet block at offset {off} claims {cap} bytes, more than the block holds")
                gid, linktype, tick_ns, _snap = ifs[ifid]
                direction = IN
                opt = data_off + ((cap + 3) & ~3)
                if btype == 6 and opt + 4 <= bend:
                    flags = _epb_flags(buf, opt, bend, e)
                    if flags & 3 == 2:
                        direction = OUT
                ticks = (hi << 32) | lo
                ts_ns = ticks * 1000 if tick_ns == 1000.0 else _ticks_to_ns(ticks, tick_ns)
                yield (ts_ns, gid, direction, max(orig, cap), buf[data_off : data_off + cap], linktype)
            elif btype == 3:  # Simple Packet Block: first interface, no timestamp
                if not ifs:
                    raise _Damaged(f"simple packet block at offset {off} before any interface block")
                orig = struct.unpack_from(e + "I", buf, body)[0]
                gid, linktype, _tick, snap = ifs[0]
                cap = min(orig, snap or orig, bend - body - 4)
                yield (0, gid, IN, orig, buf[body + 4 : body + 4 + cap], linktype)
            off += blen


class _Damaged(Exception):
    """Internal: the file's structure is broken at a given offset."""


def _iter_options(buf: mmap.mmap, p: int, end: int, e: str) -> Iterator[tuple[int, int, int]]:
    while p + 4 <= end:
        code, length = struct.unpack_from(e + "HH", buf, p)
        if code == 0:
            return
        if p + 4 + length > end:
            return
        yield code, p + 4, length
        p += 4 + ((length + 3) & ~3)


def _idb_options(buf: mmap.mmap, p: int, end: int, e: str) -> tuple[float, str | None]:
    tick_ns = 1000.0  # default resolution: microseconds
    name = None
    for code, vo, length in _iter_options(buf, p, end, e):
        if code == 9 and length >= 1:  # if_tsresol
            r = buf[vo]
            tick_ns = (2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -(r & 0x7F)) * 1e9
        elif code == 2 and length:  # if_name
            name = bytes(buf[vo : vo + length]).rstrip(b"\0").decode("utf-8", "replace")
    return tick_ns, name


def _ticks_to_ns(ticks: int, tick_ns: float) -> int:
    """Exact for decimal resolutions (a float product loses the low digits of ns timestamps)."""
    whole = round(tick_ns)
    if whole >= 1 and abs(tick_ns - whole) < 1e-6:
        return ticks * whole
    per_ns = round(1.0 / tick_ns)  # e.g. 10 ticks per ns for if_tsresol 10
    if per_ns and abs(per_ns * tick_ns - 1.0) < 1e-9:
        return ticks // per_ns
    return int(ticks * tick_ns)


def _epb_flags(buf: mmap.mmap, p: int, end: int, e: str) -> int:
    for code, vo, length in _iter_options(buf, p, end, e):
        if code == 2 and length == 4:
            return struct.unpack_from(e + "I", buf, vo)[0]
    return 0
