"""IP fragment reassembly, bounded: which transport ports a fragment belongs to.

Only a datagram's first fragment carries the transport header.  The reassembler
remembers, per datagram (family, source, destination, identification, protocol), the
ports its first fragment showed, so the engine can count every fragment in the real
transport flow; and it joins the fragments' bytes so the classifier sees the whole
datagram once the last missing piece is in.

Everything is bounded: at most ``max_datagrams`` datagrams are pending (the oldest goes
first), each holds at most ``max_datagram_bytes`` and ``max_pieces`` pieces, all of them
together at most ``max_bytes``, and a datagram is forgotten ``timeout`` seconds (capture
time) after its first fragment.  Overlapping fragments are an attack or a broken sender
(RFC 5722 has IPv6 receivers drop the whole datagram; Linux does the same for IPv4): the
datagram's bytes are dropped and only its ports are kept.  An exact duplicate is ignored.
The original frames are never changed: reassembly copies.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from struct import Struct

MAX_DATAGRAMS = 1024
MAX_DATAGRAM_BYTES = 65_535
MAX_PIECES = 256
MAX_BYTES = 4 << 20
TIMEOUT = 30.0  # seconds, as Linux's ipfrag_time

_H = Struct("!H")
_IP6 = Struct("!4sHBB16s16s")


@dataclass(slots=True)
class Datagram:
    """What is known of one fragmented datagram."""

    key: tuple  # (family, src, dst, identification, protocol)
    first_ts: float  # capture time of its first frame seen (any fragment)
    ports: tuple[int, int] | None = None  # (sport, dport) once the first fragment is seen
    header: bytes = b""  # the first fragment's IP header (for the reassembled datagram)
    pieces: list[tuple[int, int, bytes]] | None = field(default_factory=list)  # None: given up
    held: int = 0  # bytes in ``pieces``
    total: int = -1  # the datagram's data length, once its last fragment is seen
    done: bool = False  # reassembled (and handed out) already
    # Fragments counted before the first one arrived, on a port-less flow:
    # [flow, whether they went as its src side, packets, bytes] (see Engine).
    orphans: list | None = None


@dataclass(slots=True)
class Reassembler:
    """Pending datagrams by key, oldest first.

    An OrderedDict, not a dict: taking the oldest of a plain dict after many removals at
    its front scans the removed slots, which a flood of new datagrams would make slow.
    """

    max_datagrams: int = MAX_DATAGRAMS
    max_datagram_bytes: int = MAX_DATAGRAM_BYTES
    max_pieces: int = MAX_PIECES
    max_bytes: int = MAX_BYTES
    timeout: float = TIMEOUT
    pending: OrderedDict[tuple, Datagram] = field(default_factory=OrderedDict)
    held: int = 0  # bytes held over all datagrams
    evicted: int = 0  # datagrams dropped for room (not by timeout)
    expired: int = 0
    overlaps: int = 0  # datagrams given up for overlapping pieces or a bound

    def add(self, data: bytes, frag: tuple, ts: float, ports: tuple[int, int] | None) -> tuple[Datagram, bytes | None]:
        """Take one fragment (``frag`` as tui.decode describes it); ``ports`` if it is the first.

        Returns the datagram's record and, when this fragment completed it, the whole
        datagram (an IP header and all the data) for the classifier; else None.
        """
        key, offset, more, start, end, hdr_off = frag
        pending = self.pending
        dg = pending.get(key)
        if dg is None:
            self._expire(ts)
            if len(pending) >= self.max_datagrams:
                self.held -= pending.popitem(last=False)[1].held
                self.evicted += 1
            dg = pending[key] = Datagram(key, ts)
        elif ts - dg.first_ts > self.timeout:  # a stale one with the same id: start again
            self._drop(key)
            self.expired += 1
            dg = pending[key] = Datagram(key, ts)
        if ports is not None and dg.ports is None:
            dg.ports = ports
            dg.header = bytes(data[hdr_off:start])
        pieces = dg.pieces
        if pieces is None or dg.done:
            return dg, None
        size = end - start
        stop = offset + size
        if stop > self.max_datagram_bytes or len(pieces) >= self.max_pieces or (more and size & 7):
            # Too big, too many pieces, or a non-last piece not a multiple of 8 bytes.
            self._give_up(dg)
            return dg, None
        for p_start, p_stop, p_bytes in pieces:
            if p_start < stop and offset < p_stop:
                if p_start == offset and p_stop == stop and p_bytes == data[start:end]:
                    return dg, None  # an exact duplicate
                self._give_up(dg)
                return dg, None
        if not more:
            if dg.total >= 0 and dg.total != stop:
                self._give_up(dg)
                return dg, None
            dg.total = stop
        elif dg.total >= 0 and stop > dg.total:
            self._give_up(dg)
            return dg, None
        if self.held + size > self.max_bytes:
            self._make_room(size, key)
        pieces.append((offset, stop, bytes(data[start:end])))
        dg.held += size
        self.held += size
        if dg.total >= 0 and dg.held == dg.total and dg.header:
            return dg, self._join(dg)
        return dg, None

    def _join(self, dg: Datagram) -> bytes:
        """The reassembled datagram; the pieces are freed (the record stays, for its ports)."""
        assert dg.pieces is not None
        body = b"".join(p[2] for p in sorted(dg.pieces))
        self.held -= dg.held
        dg.held = 0
        dg.pieces = None
        dg.done = True
        h = dg.header
        if dg.key[0] == 4:
            # Total length set, flags and fragment offset cleared (checksum left as it was).
            return h[:2] + _H.pack(len(h) + len(body)) + h[4:6] + b"\0\0" + h[8:] + body
        first, _plen, _nxt, hop, src, dst = _IP6.unpack_from(h, 0)
        return _IP6.pack(first, len(body), dg.key[4], hop, src, dst) + body

    def _give_up(self, dg: Datagram) -> None:
        self.overlaps += 1
        self.held -= dg.held
        dg.held = 0
        dg.pieces = None

    def _drop(self, key: tuple) -> None:
        dg = self.pending.pop(key)
        self.held -= dg.held

    def _expire(self, ts: float) -> None:
        pending = self.pending
        limit = ts - self.timeout
        while pending:
            key = next(iter(pending))
            if pending[key].first_ts >= limit:
                break
            self.held -= pending.popitem(last=False)[1].held
            self.expired += 1

    def _make_room(self, size: int, keep: tuple) -> None:
        """Drop the oldest datagrams holding bytes until ``size`` more fit (never ``keep``)."""
        need = self.held + size - self.max_bytes
        victims = []
        for key, d in self.pending.items():
            if need <= 0:
                break
            if d.held and key != keep:
                victims.append(key)
                need -= d.held
        for key in victims:
            self._drop(key)
            self.evicted += 1
