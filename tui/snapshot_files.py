"""Saving a snapshot: the ring as pcapng, the report as JSON, the screen as SVG, in a new folder.

Called from a worker thread (the UI's `s` key, `--snapshot-on-exit`) or from
`sockscope report --save`.  Guarantees:

- every save gets a folder of its own (``<interface>-<YYYYmmdd-HHMMSS>``, then ``-2``, ``-3``
  ...), claimed with an atomic ``mkdir``, so two saves at once never touch each other's files;
- each file is written under a hidden ``.partial`` name, flushed to disk and only then
  renamed, so a crash never leaves a half file under a real name;
- on any failure (full disk, read-only, permission) everything this save created is removed
  and a ``SnapshotError`` (an ``OSError``) says plainly what went wrong;
- started through sudo, the folder and files belong to the invoking user, not root.

The engine knows nothing of this module; it only reads ``Engine.snapshot``.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from tui import __version__
from tui.linktypes import NAMES as LINKTYPE_NAMES
from tui.pcapng_writer import DEFAULT_SNAPLEN, PcapngWriter
from tui.privileges import invoking_ids
from tui.report import report_dict
from tui.snapshot import OUT, PacketRow, Snapshot

CAPTURE = "capture.pcapng"
SUMMARY = "summary.json"
SCREEN = "screen.svg"
DEFAULT_DIR = "snapshots"
ALL_FRAMES = 1 << 62  # `recent` large enough for any ring
MAX_SUFFIX = 1000


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    """Where a snapshot went and what it holds."""

    folder: Path
    packets: int
    bytes: int
    interfaces: tuple[str, ...]
    capture: Path
    summary: Path
    screen: Path | None
    seconds: float  # time the save took

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.capture, self.summary, self.screen) if p is not None)


class SnapshotError(OSError):
    """A snapshot could not be saved; ``errno`` is the cause.

    ``str()`` says where and why (``<path>: the disk is full ...; nothing was kept``), for the
    caller to put after its own "Snapshot not saved:".
    """

    def __init__(self, code: int | None, message: str, filename: str | None = None) -> None:
        super().__init__(code, message, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message


def save_snapshot(
    engine: Any,
    directory: str | os.PathLike[str] = DEFAULT_DIR,
    snap: Snapshot | None = None,
    svg: str | None = None,
    names: Mapping[str, str | None] | None = None,
) -> SnapshotResult:
    """Save the engine's ring, a report of the same instant and ``svg`` (if given) in a new folder.

    ``snap`` is the moment the user looked at.  It is used for the summary when it is still
    the engine's current state and holds every flow; otherwise (capture went on, or its flow
    list was cut to the top N for display) a full snapshot is taken together with the ring,
    under the engine's lock, so summary and capture always describe the same instant and a
    report of the saved capture gives the summary's counts.
    ``names`` (reverse DNS, as `report --resolve` prints them) go into the summary too.
    Raises SnapshotError (an OSError) with a clear message; nothing half-written remains.
    """
    started = time.perf_counter()
    # The ring with each frame's class, copied under the engine's lock (cheap: no flows).
    fresh: Snapshot = engine.snapshot(top=0, recent=ALL_FRAMES)
    if snap is not None and len(snap.flows) >= snap.active_flows and snap.seq == fresh.seq:
        summary_snap = snap
    else:
        fresh = engine.snapshot(top=None, recent=ALL_FRAMES)
        summary_snap = replace(fresh, recent=())
    rows = fresh.recent
    interfaces = dict(fresh.interfaces)
    if snap is not None:
        for ifindex, entry in snap.interfaces.items():
            interfaces.setdefault(ifindex, entry)

    base = Path(directory)
    made_dirs = _make_base(base)
    folder = _claim_folder(base, _folder_name(summary_snap))
    owner = _owner()
    written: list[Path] = []
    try:
        for d in (*made_dirs, folder):
            _chown(d, owner)
        capture = folder / CAPTURE
        counts: dict[str, Any] = {}

        def write_capture(fh: BinaryIO) -> None:
            counts.update(write_pcapng(fh, rows, interfaces, summary_snap))

        _write_atomic(capture, write_capture, owner)
        written.append(capture)
        summary = folder / SUMMARY
        report = report_dict(summary_snap, names=dict(names) if names is not None else None)
        # Byte for byte what `sockscope report --format json` prints.
        body = json.dumps(report, ensure_ascii=True).encode("ascii") + b"\n"
        _write_atomic(summary, lambda fh: fh.write(body), owner)
        written.append(summary)
        screen = None
        if svg is not None:
            screen = folder / SCREEN
            text = svg.encode("utf-8", "replace")
            _write_atomic(screen, lambda fh: fh.write(text), owner)
            written.append(screen)
        _fsync_dir(folder)
    except BaseException as exc:
        for path in written:
            _unlink(path)
        _remove_empty(folder)
        for d in reversed(made_dirs):
            _remove_empty(d)
        if isinstance(exc, OSError):
            raise _explain(exc, folder) from exc
        raise
    return SnapshotResult(
        folder=folder,
        packets=counts["packets"],
        bytes=counts["bytes"],
        interfaces=counts["interfaces"],
        capture=capture,
        summary=summary,
        screen=screen,
        seconds=time.perf_counter() - started,
    )


def write_pcapng(
    fh: BinaryIO, rows: Sequence[PacketRow], interfaces: Mapping[int, tuple[str, int]], snap: Snapshot | None = None
) -> dict[str, Any]:
    """Write ``rows`` as one pcapng section: an interface block per (ifindex, link type) met.

    Each packet carries its direction and a comment with its flow and class, so Wireshark
    can filter on what sockscope decided (``frame.comment contains "use_case=web"``).
    """
    # One interface block per (ifindex, link type), in order of first appearance; a frame
    # of another link type than its interface claims gets a block of its own.
    keys: dict[tuple[int, int], int] = {}
    snaplens: dict[tuple[int, int], int] = {}
    for r in rows:
        k = (r.ifindex, r.linktype)
        n = len(r.data)
        if snaplens.get(k, -1) < n:
            snaplens[k] = n
    comment = None
    if snap is not None:
        comment = (
            f"sockscope snapshot of {snap.source_kind} {snap.source_name}: "
            f"{len(rows)} of {snap.packets} packets seen" + (f", capture filter {snap.bpf!r}" if snap.bpf else "")
        )
    writer = PcapngWriter(fh, comment=comment, os_name=_os_name(), app=f"sockscope {__version__}")
    names: list[str] = []
    for k in snaplens:  # insertion order = first appearance
        ifindex, linktype = k
        name = interfaces.get(ifindex, (f"if{ifindex}", linktype))[0]
        kind = LINKTYPE_NAMES.get(linktype, f"link type {linktype}")
        keys[k] = writer.add_interface(
            linktype, name, max(DEFAULT_SNAPLEN, snaplens[k]), description=f"{name} ({kind}, ifindex {ifindex})"
        )
        names.append(name)
    live = snap is not None and snap.source_kind == "live"
    write = writer.write_packet
    for r in rows:
        # Direction: a live capture knows it for every frame; a replayed file only knows
        # "outgoing" for sure (its "incoming" may just mean "not recorded").
        direction = r.direction if live or r.direction == OUT else None
        note = f"sockscope flow={r.flow_id} use_case={r.use_case}" + (f" app={r.app}" if r.app else "")
        write(keys[(r.ifindex, r.linktype)], r.ts_ns, r.data, r.wire_len, direction, note)
    return {"packets": writer.packets, "bytes": writer.bytes, "interfaces": tuple(names)}


# ------------------------------------------------------------------ folders
def _folder_name(snap: Snapshot) -> str:
    """``<interface>-<local time>``: the interface, or the file's name for a replay."""
    name = snap.source_name or "capture"
    if snap.source_kind == "file":
        name = Path(name).stem or "capture"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:48] or "capture"
    return f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


def _make_base(base: Path) -> list[Path]:
    """Create the snapshot directory (and missing parents); return those this call made."""
    missing: list[Path] = []
    p = base
    try:
        while not p.exists():
            missing.append(p)
            if p.parent == p:
                break
            p = p.parent
    except OSError as exc:  # e.g. a parent we may not search
        raise _explain(exc, p) from exc
    made: list[Path] = []
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            for m in reversed(made):
                _remove_empty(m)
            raise _explain(exc, d) from exc
        made.append(d)
    if not base.is_dir():
        raise SnapshotError(errno.ENOTDIR, f"{base}: not a directory; nothing was kept", str(base))
    return made


def _claim_folder(base: Path, name: str) -> Path:
    """A new, empty folder of our own: ``mkdir`` is atomic, so concurrent saves never share one."""
    for i in range(1, MAX_SUFFIX + 1):
        folder = base / (name if i == 1 else f"{name}-{i}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise _explain(exc, folder) from exc
        return folder
    raise SnapshotError(errno.EEXIST, f"{base}: {MAX_SUFFIX} folders named {name}* already exist")


# -------------------------------------------------------------------- files
def _write_atomic(path: Path, fill: Callable[[BinaryIO], object], owner: tuple[int, int] | None) -> None:
    """Write through a hidden temporary name, flush to disk, then rename into place."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "xb", buffering=1 << 20) as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _chown(tmp, owner)
        os.replace(tmp, path)
    except BaseException as exc:
        _unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a failed write names no file: say which one it was
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _owner() -> tuple[int, int] | None:
    """The user behind sudo, when we are root through sudo (files then belong to them)."""
    ids = invoking_ids()
    if ids is None or os.geteuid() != 0 or ids[0] == 0:
        return None
    return ids


def _chown(path: Path, owner: tuple[int, int] | None) -> None:
    if owner is not None:
        os.chown(path, owner[0], owner[1])


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _remove_empty(folder: Path) -> None:
    try:
        for leftover in folder.glob(".*.partial"):
            _unlink(leftover)
        folder.rmdir()
    except OSError:
        pass


def _os_name() -> str:
    return f"{platform.system()} {platform.release()}"


_CAUSES = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is not a directory",
}


def _explain(exc: OSError, where: Path) -> SnapshotError:
    """Turn an OSError into a sentence that says what failed, where, and that nothing was kept."""
    if isinstance(exc, SnapshotError):
        return exc
    cause = _CAUSES.get(exc.errno or 0) or (exc.strerror or str(exc))
    target = str(exc.filename or where)
    m = re.fullmatch(r"(.*/)?\.(.+)\.partial", target)
    if m:  # name the file the user will look for, not our temporary one
        target = (m.group(1) or "") + m.group(2)
    hint = ""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        hint = "; choose another folder with --snapshot-dir"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "; free some space or choose another folder with --snapshot-dir"
    return SnapshotError(exc.errno, f"{target}: {cause}; nothing was kept{hint}", str(target))
