"""Processes from /proc: which process holds a socket inode, and who that process is.

A socket's inode (from sock_diag) appears as ``socket:[<inode>]`` among the links in
/proc/<pid>/fd of every process holding it.  Walking all of them costs a readlink per
open file on the machine, so callers ask for a set of inodes at once and the walk stops
as soon as all are found (newest processes first: new sockets usually belong to them).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from dataclasses import dataclass

from tui.attribution.cgroups import CgroupPlace, parse_cgroup

CMDLINE_MAX = 4096


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as /proc showed it."""

    pid: int
    comm: str  # the command name (what `ps -o comm` shows)
    cmdline: str  # arguments joined by spaces, bounded
    uid: int
    user: str
    place: CgroupPlace | None  # container or systemd unit, when the cgroup names one


def _pids(proc: str) -> list[int]:
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    pids = [int(n) for n in names if n.isdigit()]
    pids.sort(reverse=True)
    return pids


def _held_sockets(proc: str) -> Iterator[tuple[int, Iterator[int]]]:
    """(pid, that process's socket inodes) for every process, newest first.

    Processes that vanish or deny access mid-walk are skipped.
    """
    for pid in _pids(proc):
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        yield pid, _socket_inodes(fd_dir, fds)


def _socket_inodes(fd_dir: str, fds: list[str]) -> Iterator[int]:
    readlink = os.readlink
    for fd in fds:
        try:
            target = readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            try:
                yield int(target[8:-1])
            except ValueError:
                continue


def find_socket_owners(inodes: set[int], proc: str = "/proc") -> dict[int, int]:
    """inode -> pid for as many of ``inodes`` as are held open by some process.

    The walk ends early once every inode is found.
    """
    wanted = set(inodes)
    found: dict[int, int] = {}
    if not wanted:
        return found
    for pid, held in _held_sockets(proc):
        for ino in held:
            if ino in wanted:
                wanted.discard(ino)
                found[ino] = pid
        if not wanted:
            break
    return found


def user_name(uid: int, cache: dict[int, str] | None = None) -> str:
    """The login name for ``uid``, or the number as text when it has none."""
    if cache is not None and uid in cache:
        return cache[uid]
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    if cache is not None:
        cache[uid] = name
    return name


def read_process(pid: int, proc: str = "/proc", users: dict[int, str] | None = None) -> ProcessInfo | None:
    """What /proc says about ``pid``, or None when it has gone."""
    base = f"{proc}/{pid}"
    try:
        with open(f"{base}/comm", "rb") as fh:
            comm = fh.read(64).rstrip(b"\n").decode("utf-8", "replace")
        with open(f"{base}/cmdline", "rb") as fh:
            raw = fh.read(CMDLINE_MAX)
        uid = os.stat(base).st_uid
    except OSError:
        return None
    cmdline = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    try:
        with open(f"{base}/cgroup", encoding="utf-8", errors="replace") as fh:
            place = parse_cgroup(fh.read(16_384))
    except OSError:
        place = None
    return ProcessInfo(pid, comm, cmdline or f"[{comm}]", uid, user_name(uid, users), place)
