"""JSON lines: one line per flow record, to a file that log rotation may move, or stdout.

A record is the report's flow (``tui.report``: the same keys and types) plus what a
consumer of a stream needs: the event and why it was made, the host and interface,
counts each way and the deltas since the flow's previous line (README, "Many hosts").

Rotation-safe as logrotate expects: before each batch the path is checked, and a file
that was renamed or removed (another inode, or none) is closed and the path opened
anew; SIGHUP forces the same.  Each batch is one ``write`` on an ``O_APPEND``
descriptor; a write that fails part-way (a full disk) is cut back to where the batch
began, so a line is never split, and the failed lines are counted.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterable
from typing import Any

from tui.export.stats import ExportStats
from tui.export.tracker import FlowRecord

# One encoder for every line (json.dumps with separators builds a new one per call).
# ``ensure_ascii`` escapes every control character from the wire, so a name with a
# newline in it cannot break a line.
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
_quote = json.encoder.encode_basestring_ascii  # the same C function the encoder uses for strings


def record_dict(r: FlowRecord, host: str, source: dict[str, str], now: float | None = None) -> dict[str, Any]:
    """The JSON object of one record (keys documented in the README)."""
    v = r.delta.view
    d = r.delta
    return {
        # -- the report's flow, exactly (tui/report.py report_dict)
        "proto": v.proto,
        "src": v.src,
        "sport": v.sport,
        "dst": v.dst,
        "dport": v.dport,
        "app": v.app,
        "use_case": v.use_case,
        "reason": v.reason,
        "name": v.name,
        "packets": v.packets,
        "bytes": v.bytes,
        "first_seen": v.first_seen,
        "last_seen": v.last_seen,
        "pid": v.pid,
        "process": v.process,
        "user": v.user,
        "container": v.container,
        # -- for a stream of records
        "event": r.event,
        "end_reason": r.reason,
        "flow_id": v.id,
        "host": host,
        "source": source,
        "interface": r.interface,
        "family": v.family,
        "tcp_state": v.state or None,
        "owner_note": v.owner_note,
        "packets_ab": v.packets_ab,
        "bytes_ab": v.bytes_ab,
        "packets_ba": v.packets_ba,
        "bytes_ba": v.bytes_ba,
        "interval_start": r.start,
        "packets_delta": d.packets,
        "bytes_delta": d.bytes,
        "packets_ab_delta": d.packets_ab,
        "bytes_ab_delta": d.bytes_ab,
        "packets_ba_delta": d.packets_ba,
        "bytes_ba_delta": d.bytes_ba,
        "exported_at": round(time.time() if now is None else now, 6),
    }


def encode(records: Iterable[FlowRecord], host: str, source: dict[str, str]) -> list[bytes]:
    """One line per record, the keys and values of ``record_dict`` (ASCII: see ``_ENCODER``).

    Built from pieces rather than through a dict: the line costs a third of the time, which
    matters when thousands of flows end each second."""
    now = repr(round(time.time(), 6))
    host_src = f'"host":{_s(host)},"source":{_ENCODER.encode(source)},'
    return [_line(r, host_src, now) for r in records]


def _s(text: str | None) -> str:
    return "null" if text is None else _quote(text)


def _i(n: int | None) -> str:
    return "null" if n is None else str(n)


def _line(r: FlowRecord, host_src: str, now: str) -> bytes:
    v = r.delta.view
    d = r.delta
    return (
        f'{{"proto":{_quote(v.proto)},"src":{_quote(v.src)},"sport":{_i(v.sport)},"dst":{_quote(v.dst)},'
        f'"dport":{_i(v.dport)},"app":{_s(v.app)},"use_case":{_quote(v.use_case)},"reason":{_s(v.reason)},'
        f'"name":{_s(v.name)},"packets":{v.packets},"bytes":{v.bytes},"first_seen":{v.first_seen!r},'
        f'"last_seen":{v.last_seen!r},"pid":{_i(v.pid)},"process":{_s(v.process)},"user":{_s(v.user)},'
        f'"container":{_s(v.container)},"event":{_quote(r.event)},"end_reason":{_quote(r.reason)},'
        f'"flow_id":{v.id},{host_src}"interface":{_s(r.interface)},"family":{v.family},'
        f'"tcp_state":{_s(v.state or None)},"owner_note":{_s(v.owner_note)},"packets_ab":{v.packets_ab},'
        f'"bytes_ab":{v.bytes_ab},"packets_ba":{v.packets_ba},"bytes_ba":{v.bytes_ba},'
        f'"interval_start":{r.start!r},"packets_delta":{d.packets},"bytes_delta":{d.bytes},'
        f'"packets_ab_delta":{d.packets_ab},"bytes_ab_delta":{d.bytes_ab},"packets_ba_delta":{d.packets_ba},'
        f'"bytes_ba_delta":{d.bytes_ba},"exported_at":{now}}}\n'
    ).encode("ascii")


class JsonlWriter:
    """Appends records to ``path`` (``-``: stdout), following rotation; never raises on I/O."""

    def __init__(self, path: str, stats: ExportStats, log=None) -> None:
        self.path = path
        self.stats = stats
        self.host = socket.gethostname()
        self._fd: int | None = None
        self._ino: tuple[int, int] | None = None
        self._reopen = False
        self._log = log or (lambda msg: print(f"sockscope export: {msg}", file=sys.stderr, flush=True))
        self._last_error: str | None = None
        self.reopened = 0

    def request_reopen(self) -> None:
        """SIGHUP: reopen the path before the next batch (safe to call from a signal handler)."""
        self._reopen = True

    def open(self) -> str | None:
        """Open now; the error text when that fails (the writer still retries at each batch)."""
        self._ensure_open()
        return self._last_error

    def _ensure_open(self) -> bool:
        if self.path == "-":
            if self._fd is None:
                self._fd = sys.stdout.fileno()
            return True
        if self._fd is not None and not self._reopen:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._ino:
                    return True
            except OSError:
                pass  # removed or renamed away: open it again below
        self._close_file()
        self._reopen = False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            self._error(f"cannot open {self.path}: {exc.strerror}")
            return False
        st = os.fstat(fd)
        if self._ino is not None:
            self.reopened += 1
        self._fd, self._ino = fd, (st.st_dev, st.st_ino)
        return True

    def write(self, records: list[FlowRecord], source: dict[str, str]) -> None:
        if not records:
            return
        lines = encode(records, self.host, source)
        if not self._ensure_open():
            self.stats.failed += len(lines)
            self.stats.errors += 1
            return
        blob = b"".join(lines)
        fd = self._fd
        start = None
        if self.path != "-":
            try:
                start = os.fstat(fd).st_size
            except OSError:
                start = None
        done = 0
        try:
            while done < len(blob):
                n = os.write(fd, blob[done:])
                if n <= 0:
                    raise OSError(errno.EIO, "nothing written")
                done += n
        except BrokenPipeError:
            self.stats.failed += len(lines)
            self.stats.errors += 1
            self._error("the reader of stdout went away; lines are counted as not sent")
            return
        except OSError as exc:
            self._cut_back(fd, start, done)
            self.stats.failed += len(lines)
            self.stats.errors += 1
            what = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
            self._error(f"cannot write to {self.path}: {what}; {len(lines)} lines not written")
            return
        self.stats.sent += len(lines)
        if self._last_error is not None:
            self._log(f"writing to {self.path} again")
            self._last_error = None

    def _cut_back(self, fd: int, start: int | None, done: int) -> None:
        """Part of a batch reached the file: remove it, so no line is half there."""
        if done and start is not None:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass

    def _error(self, msg: str) -> None:
        if msg != self._last_error:  # once per kind of trouble, not once per batch
            self._log(msg)
        self._last_error = msg

    def _close_file(self) -> None:
        if self._fd is not None and self.path != "-":
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def close(self) -> None:
        if self._fd is not None and self.path != "-":
            try:
                os.fsync(self._fd)
            except OSError:
                pass
        self._close_file()
