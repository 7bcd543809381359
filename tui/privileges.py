"""Holding as little privilege as capture needs.

Only one thing in sockscope needs privilege: creating the AF_PACKET socket
(CAP_NET_RAW).  Binding it, attaching a filter, mapping its ring and reading it need
none.  So the raw socket is opened first and then, in order of preference:

- started through sudo (root with SUDO_UID/SUDO_GID): become the invoking user, with
  no supplementary groups, an empty capability bounding set and ``no_new_privs``, so
  everything written afterwards (snapshots, logs) belongs to that user;
- started with file capabilities (``setcap cap_net_raw+ep`` on a launcher): clear the
  capability sets;
- ``keep_net_raw=True`` (the monitor, whose picker may open another interface later):
  the same, except that CAP_NET_RAW stays in the permitted and effective sets.

Capabilities are per thread in Linux: call these from the thread that opens sockets,
before other threads start where possible (uid changes reach every thread, because
glibc applies set*id calls to all of them; capability sets do not).
"""

from __future__ import annotations

import ctypes
import errno
import os
import pwd
import sys
from dataclasses import dataclass

CAP_NET_RAW = 13

PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class PrivilegeError(Exception):
    """Privileges could not be dropped as asked; the message says why and what to do."""


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


@dataclass(frozen=True, slots=True)
class Privileges:
    """What this process holds, read from /proc/<pid>/status (for messages and tests)."""

    uids: tuple[int, int, int, int]  # real, effective, saved, filesystem
    gids: tuple[int, int, int, int]
    groups: tuple[int, ...]
    cap_effective: int  # bit masks, bit n = capability n
    cap_permitted: int
    cap_bounding: int
    no_new_privs: bool


def read_privileges(pid: int | str = "self") -> Privileges:
    """The ids and capability sets of process ``pid`` (default: this one)."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.strip()

    def ids(key: str) -> tuple[int, int, int, int]:
        a, b, c, d = (int(x) for x in fields[key].split())
        return a, b, c, d

    return Privileges(
        uids=ids("Uid"),
        gids=ids("Gid"),
        groups=tuple(int(g) for g in fields.get("Groups", "").split()),
        cap_effective=int(fields.get("CapEff", "0"), 16),
        cap_permitted=int(fields.get("CapPrm", "0"), 16),
        cap_bounding=int(fields.get("CapBnd", "0"), 16),
        no_new_privs=fields.get("NoNewPrivs", "0") == "1",
    )


def invoking_ids() -> tuple[int, int] | None:
    """(uid, gid) of the user behind sudo, or None when not started through sudo."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if not uid or not gid or not uid.isdigit() or not gid.isdigit():
        return None
    return int(uid), int(gid)


def drop_privileges(keep_net_raw: bool = False) -> bool:
    """Give up what capture no longer needs; True when anything was dropped.

    Through sudo: become the invoking user (see the module docstring).  With file
    capabilities: clear them.  Plain root (not through sudo) stays root: there is no
    user to become, and root without capabilities still owns root's files.
    """
    ids = invoking_ids()
    if os.geteuid() == 0:
        if ids is None or ids[0] == 0:
            return False
        unreadable = _unreadable_as(ids[0], ids[1])
        if unreadable:
            raise PrivilegeError(
                f"staying root: the invoking user (uid {ids[0]}) cannot read {unreadable}, where Python "
                "loads code from; install sockscope where that user can read it (e.g. a venv in their home)",
            )
        _become(ids[0], ids[1], keep_net_raw)
        return True
    keep = 1 << CAP_NET_RAW if keep_net_raw else 0
    held = read_privileges()
    if held.cap_effective | held.cap_permitted == keep & held.cap_permitted:
        return False
    _capset(keep & held.cap_permitted)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    return True


def _become(uid: int, gid: int, keep_net_raw: bool) -> None:
    """Root -> ``uid``:``gid`` with no groups, keeping at most CAP_NET_RAW; raise if any step fails."""
    keep = 1 << CAP_NET_RAW if keep_net_raw else 0
    _drop_bounding(keep)  # needs CAP_SETPCAP, so while still root
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if keep:
        _prctl(PR_SET_KEEPCAPS, 1, check=True)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if keep:
        _prctl(PR_SET_KEEPCAPS, 0)
    _capset(keep)  # the uid change left ``keep`` permitted but nothing effective
    _prctl(PR_SET_NO_NEW_PRIVS, 1)  # no setuid program started later can regain root
    held = read_privileges()
    if held.uids != (uid,) * 4 or held.gids != (gid,) * 4 or held.groups or held.cap_permitted & ~keep:
        raise OSError(errno.EPERM, f"privileges not dropped as asked: {held}")
    _user_environment(uid)


def _unreadable_as(uid: int, gid: int) -> str | None:
    """The first import path ``uid`` could not read (checked in a forked child), else None.

    Python imports lazily: dropping to a user who cannot read the interpreter's library
    (a venv made by root under /root, say) would fail later at some random import.
    """
    paths = [p for p in dict.fromkeys(sys.path) if p and os.path.isdir(p)]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: only os calls, then _exit
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            for i, p in enumerate(paths):
                if not os.access(p, os.R_OK | os.X_OK):
                    os.write(w, str(i).encode())
                    code = 1
                    break
        except BaseException:
            code = 2
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        out = fh.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    if out.isdigit() and int(out) < len(paths):
        return paths[int(out)]
    return "its import paths"


def _user_environment(uid: int) -> None:
    """HOME and the user names of the user we became (sudo leaves root's HOME on many systems)."""
    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        return
    os.environ["HOME"] = pw.pw_dir
    os.environ["USER"] = os.environ["LOGNAME"] = pw.pw_name


def _drop_bounding(keep: int) -> None:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            last = int(fh.read())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        if not keep >> cap & 1:
            _prctl(PR_CAPBSET_DROP, cap)


_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg: int = 0, check: bool = False) -> int:
    rc = _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if rc != 0 and check:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return rc


def _capset(mask: int) -> None:
    """Set this thread's effective and permitted capabilities to ``mask`` (inheritable: none)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        word = mask >> (32 * i) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = word
        data[i].inheritable = 0
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
