"""Holding as little privilege as capture needs.

The raw socket is opened first; after that nothing needs root, so a process started
through sudo becomes the invoking user again (and loses root's supplementary groups).
"""

from __future__ import annotations

import os


def invoking_ids() -> tuple[int, int] | None:
    """(uid, gid) of the user behind sudo, or None when not started through sudo."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if not uid or not gid or not uid.isdigit() or not gid.isdigit():
        return None
    return int(uid), int(gid)


def drop_privileges() -> bool:
    """Become the sudo-invoking user if we are root through sudo; True when dropped."""
    ids = invoking_ids()
    if os.geteuid() != 0 or ids is None or ids[0] == 0:
        return False
    uid, gid = ids
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    return True
