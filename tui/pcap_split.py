"""A classic pcap file split over worker processes: walked once, routed once, each frame read by one worker.

Reading and routing every frame in every worker cost each of them about as much as one
engine (README, Performance).  Here, before the fork, ``index`` walks the record headers
once (an unpack each, no frame built: about 0.35 us a record); after it, worker k routes
the k-th slice of the records (tui.shard.route_teach) into one byte per record in shared
memory and tells the others through a pipe; then each worker builds only the frames it
keeps, its own and, for its shadow, the other workers' name-teaching ones.

Only classic pcap files read without pacing and without a filter, that walk cleanly to
their end, take this path; anything else (pcapng, damage, old libpcap files with swapped
lengths, more than 127 workers) is read the general way (tui.parallel.ShardSource).
"""

from __future__ import annotations

import mmap
import os
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress

from tui import shard
from tui.snapshot import IN
from tui.sources.pcapfile import BATCH, PCAP_MAGICS, PcapSource

TEACH_BIT = 0x80  # in a record's route byte: the frame may teach names; the low 7 bits are its worker
MAX_WORKERS = 0x7F
NS = 1_000_000_000


@dataclass
class PcapIndex:
    """Where each record of a clean classic pcap is, and what one engine's reader would report."""

    source: PcapSource
    endian: str
    ns_mult: int
    linktype: int
    heads: array  # offset of each record header
    first_ts: float | None  # of the first frame (one engine's first_ts)
    last_ts: float | None  # as one engine's reader leaves it: the last frame of a BATCH with a stamp

    def __len__(self) -> int:
        return len(self.heads)


def index(source: object) -> PcapIndex | None:
    """The index of ``source``, or None when it is not a file this path reads exactly like PcapSource."""
    if type(source) is not PcapSource or source._format != "pcap" or source.speed or source._buf is None:
        return None
    buf = source._buf
    n = len(buf)
    if n < 24:
        return None
    endian, ns_mult = PCAP_MAGICS[buf[:4]]
    vmaj, vmin, _zone, _sig, _snaplen, network = struct.unpack_from(endian + "HHiIII", buf, 4)
    if vmaj != 2 or vmin < 4:  # the readers that swap lengths (libpcap before 2.4): the general path
        return None
    unpack = struct.Struct(endian + "IIII").unpack_from
    incl_of = struct.Struct(endian + "8xI").unpack_from
    heads = array("q")
    add = heads.append
    off = 24
    limit = 1 << 24
    while off < n:
        if off + 16 > n:
            return None
        incl = incl_of(buf, off)[0]
        if incl > limit or off + 16 + incl > n:
            return None  # damage: PcapSource says where, the general path keeps its words
        add(off)
        off += 16 + incl
    first_ts = last_ts = None
    if heads:
        sec, frac = unpack(buf, heads[0])[:2]
        first_ts = (sec * NS + frac * ns_mult) / 1e9
        end = len(heads) - 1
        while end >= 0:  # the last frame of each of the reader's batches, from the end
            sec, frac = unpack(buf, heads[end])[:2]
            if sec * NS + frac * ns_mult:
                last_ts = (sec * NS + frac * ns_mult) / 1e9
                break
            end = (end // BATCH) * BATCH - 1
    return PcapIndex(source, endian, ns_mult, network & 0x03FFFFFF, heads, first_ts, last_ts)


class Routes:
    """The route byte of every record, in shared memory, filled slice by slice by the workers.

    Made before the fork.  ``fill(k)`` routes slice k and says so to the others (one pipe per
    slice, written only by its worker: if that worker dies the pipe ends and ``wait`` raises).
    """

    def __init__(self, idx: PcapIndex, n: int) -> None:
        self.idx = idx
        self.n = n
        self.codes = mmap.mmap(-1, max(len(idx), 1))  # anonymous and shared: the forked workers see one
        # The latest time stamp so far within its slice, per record, and per slice whether its
        # stamps never go back, its first and its latest (one engine's clock: see kept_frames).
        self.stamps = memoryview(mmap.mmap(-1, 8 * max(len(idx), 1))).cast("q")
        self.slices = memoryview(mmap.mmap(-1, 24 * n)).cast("q")
        self.pipes = [os.pipe() for _ in range(n)]
        self.ready = [False] * n
        self.built: dict[int, tuple[bool, list]] = {}  # slice -> (shadow, the frames fill kept for its worker)

    def bounds(self, j: int) -> tuple[int, int]:
        total = len(self.idx)
        return j * total // self.n, (j + 1) * total // self.n

    def keep_own_pipe(self, k: int) -> None:
        """In worker k after the fork: close the write ends of the other slices' pipes."""
        for j in range(self.n):
            if j != k:
                self.release(j)

    def fill(self, k: int, shadow: bool = True) -> None:
        """Route slice k (this worker's share of the work) and tell the other workers.

        The frames of the slice that worker k keeps (``kept_frames``: its own, and with
        ``shadow`` the others' teaching ones) are built on the way, for ``kept_frames``.
        """
        idx = self.idx
        lo, hi = self.bounds(k)
        buf = idx.source._buf
        heads = idx.heads
        unpack = struct.Struct(idx.endian + "IIII").unpack_from
        route = shard.route_teach
        lt, n, mult = idx.linktype, self.n, idx.ns_mult
        teaches = shard.TEACHES
        built: list[tuple[int, tuple, bool]] = []
        keep = built.append
        try:
            out = bytearray(hi - lo)
            latest = array("q", bytes(8 * (hi - lo)))
            last = first = -1
            mono = 1
            for i in range(lo, hi):
                h = heads[i]
                sec, frac, incl, orig = unpack(buf, h)
                data = buf[h + 16 : h + 16 + incl]
                r = route(data, lt, n)
                ts = sec * NS + frac * mult
                if r & teaches:
                    out[i - lo] = (r & 0xFF) | TEACH_BIT
                    if shadow or r & 0xFF == k:
                        keep((i, (ts, 0, IN, orig if orig > incl else incl, data, lt), r & 0xFF == k))
                else:
                    out[i - lo] = r
                    if r == k:
                        keep((i, (ts, 0, IN, orig if orig > incl else incl, data, lt), True))
                if ts >= last:
                    last = ts
                else:
                    mono = 0
                latest[i - lo] = last
            self.built[k] = (shadow, built)
            if hi > lo:
                first = latest[0]
            self.codes[lo:hi] = bytes(out)
            self.stamps[lo:hi] = latest
            self.slices[3 * k : 3 * k + 3] = array("q", (mono, first, last))
            os.write(self.pipes[k][1], b"r" * (n - 1))
            self.ready[k] = True
        finally:
            self.release(k)

    def release(self, k: int) -> None:
        """Close worker k's end of its pipe (done, or failed: the others then stop waiting)."""
        r, w = self.pipes[k]
        if w >= 0:
            os.close(w)
            self.pipes[k] = (r, -1)

    def wait(self, j: int) -> None:
        """Until worker j has routed its slice."""
        if self.ready[j]:
            return
        if os.read(self.pipes[j][0], 1) != b"r":
            raise RuntimeError(f"worker {j} ended before it routed its share of the file")
        self.ready[j] = True

    def close(self) -> None:
        for r, _w in self.pipes:
            try:
                os.close(r)
            except OSError:
                pass


def kept_frames(routes: Routes, k: int, shadow: bool) -> Iterator[tuple[tuple, bool, int]]:
    """Worker k's frames in file order, as ``(frame, own, clock)``: its own, and with ``shadow``
    the other workers' teaching frames.  ``clock`` is the latest second of any frame so far,
    or -1 where stamps have never gone back (then it is the frame's own second)."""
    idx = routes.idx
    buf = idx.source._buf
    heads = idx.heads
    unpack = struct.Struct(idx.endian + "IIII").unpack_from
    mult, lt = idx.ns_mult, idx.linktype
    # route byte -> 1 (this worker's), 2 (another's, teaching: the shadow's) or 0 (skipped)
    table = bytes(1 if c & MAX_WORKERS == k else 2 if shadow and c & TEACH_BIT else 0 for c in range(256))
    before = -1  # the latest stamp of the slices before this one
    for j in range(routes.n):
        routes.wait(j)
        lo, hi = routes.bounds(j)
        mono, first, latest = routes.slices[3 * j : 3 * j + 3]
        stamps = None if mono and first >= before else routes.stamps
        built = routes.built.pop(j, None) if j == k else None
        if built is not None and built[0] == shadow:  # built while routing this slice
            for i, frame, own in built[1]:
                yield frame, own, -1 if stamps is None else max(before, stamps[i]) // NS
            if latest > before:
                before = latest
            continue
        kinds = routes.codes[lo:hi].translate(table)
        for i in compress(range(lo, hi), kinds):  # the skipped records cost no Python step
            h = heads[i]
            sec, frac, incl, orig = unpack(buf, h)
            ts = sec * NS + frac * mult
            frame = (ts, 0, IN, orig if orig > incl else incl, buf[h + 16 : h + 16 + incl], lt)
            if stamps is None:
                yield frame, kinds[i - lo] == 1, -1
            else:
                yield frame, kinds[i - lo] == 1, max(before, stamps[i]) // NS
        if latest > before:
            before = latest
