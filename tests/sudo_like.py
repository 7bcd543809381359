"""Run sockscope the way `sudo` would start it, for privilege tests.

sudo runs the program as root with SUDO_UID/SUDO_GID naming the invoking user.  The
tests use uid/gid 65534 (nobody/nogroup, present on every Debian/Ubuntu) rather than
creating users.  Where the interpreter lives under a directory that user cannot enter
(a pyenv under /root, as on the development machine), the command runs in a private
mount namespace in which that directory is a world-readable tmpfs holding only a bind
mount of the interpreter's tree: nothing changes on the host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NOBODY = 65534
REPO = Path(__file__).resolve().parent.parent


def _hidden_ancestor(path: Path) -> Path | None:
    """The highest ancestor of ``path`` that others cannot enter (mode lacks o+x)."""
    for parent in reversed(path.resolve().parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def mount_wrapper() -> list[str]:
    """argv prefix that makes the interpreter readable by others, or [] when it already is."""
    hidden = _hidden_ancestor(Path(sys.base_prefix))
    if hidden is None:
        return []
    child = Path(sys.base_prefix).resolve().relative_to(hidden).parts[0]
    script = (
        "set -e; stage=$(mktemp -d /tmp/ss-priv.XXXXXX); "
        f'mount --bind "{hidden}/{child}" "$stage"; '
        f'mount -t tmpfs -o mode=0755,size=1m tmpfs "{hidden}"; '
        f'mkdir -p "{hidden}/{child}"; mount --move "$stage" "{hidden}/{child}"; rmdir "$stage"; '
        'exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"]


def sudo_env(uid: int = NOBODY, gid: int = NOBODY, **extra: str) -> dict[str, str]:
    """The environment sudo leaves: root's HOME, SUDO_* naming the invoking user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    env.update(
        SUDO_UID=str(uid),
        SUDO_GID=str(gid),
        SUDO_USER="nobody",
        HOME="/root",
        PYTHONPATH=str(REPO),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def sockscope_argv(*args: str) -> list[str]:
    """argv that runs sockscope with this interpreter, wrapped as needed."""
    return [*mount_wrapper(), sys.executable, "-m", "tui", *args]


def as_user_argv(argv: list[str], uid: int = NOBODY, gid: int = NOBODY, caps: str | None = None) -> list[str]:
    """argv that runs ``argv`` as ``uid``:``gid`` with no groups; ``caps`` (e.g. "+net_raw") as ambient.

    Ambient capabilities are what a capability-granting launcher hands its child, so
    this stands in for `setcap cap_net_raw+ep` on a launcher.
    """
    setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    if caps:
        setpriv += [f"--inh-caps={caps}", f"--ambient-caps={caps}"]
    else:
        setpriv += ["--inh-caps=-all"]
    return [*mount_wrapper(), *setpriv, *argv]


def run(argv: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def packet_socket_inodes() -> set[int]:
    """Inodes of every open AF_PACKET socket (from /proc/net/packet)."""
    out: set[int] = set()
    with open("/proc/net/packet") as fh:
        next(fh)
        for line in fh:
            parts = line.split()
            if parts:
                out.add(int(parts[-1]))
    return out


def socket_inodes_of(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open."""
    out: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return out
    for name in names:
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out
