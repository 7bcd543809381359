"""Real server and client processes for attribution tests, each with its own command name.

A process names itself with prctl(PR_SET_NAME), as daemons do, so a test can assert the
command name the kernel reports for it.  Both print one line when their socket is up and
exit on their own after ``hold`` seconds: every run is bounded.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

_PRELUDE = """
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, {name!r}.encode(), 0, 0, 0)
fam = socket.AF_INET6 if ':' in {addr!r} else socket.AF_INET
kind = socket.SOCK_STREAM if {proto!r} == 'TCP' else socket.SOCK_DGRAM
"""

SERVER = (
    _PRELUDE
    + """
s = socket.socket(fam, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(({addr!r}, {port}))
if kind == socket.SOCK_STREAM:
    s.listen(8)
print('ready', flush=True)
deadline = time.monotonic() + {hold}
keep = []
while time.monotonic() < deadline:
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        if kind == socket.SOCK_STREAM:
            c, _ = s.accept()
            keep.append(c)
            c.settimeout(2)
            c.recv(100)
            c.send(b'pong')
        else:
            data, peer = s.recvfrom(100)
            s.sendto(b'pong', peer)
    except OSError:
        break
"""
)

CLIENT = (
    _PRELUDE
    + """
s = socket.socket(fam, kind)
s.settimeout(3)
if {wait_go}:
    s.bind(('::' if fam == socket.AF_INET6 else '0.0.0.0', 0))
    print('bound', s.getsockname()[1], flush=True)
    sys.stdin.readline()
if kind == socket.SOCK_STREAM:
    s.connect(({addr!r}, {port}))
    s.send(b'ping')
    s.recv(100)
else:
    s.sendto(b'ping', ({addr!r}, {port}))
    s.recvfrom(100)
print('done', s.getsockname()[1], flush=True)
if {hold} > 0:
    time.sleep({hold})
s.close()
"""
)


def start(
    popen: Callable[..., subprocess.Popen] | None,
    code: str,
    **fields,
) -> subprocess.Popen:
    """Start ``code`` (SERVER or CLIENT) with ``fields``; ``popen`` runs it inside a namespace."""
    fields.setdefault("wait_go", False)
    fields.setdefault("hold", 2.0)
    text = code.format(**fields)
    kw = {"stdout": subprocess.PIPE, "stdin": subprocess.PIPE, "text": True}
    if popen is None:
        return subprocess.Popen([sys.executable, "-c", text], **kw)
    return popen(text, **kw)


def read_line(p: subprocess.Popen, timeout: float = 5.0) -> str:
    """One line of the peer's output, failing the test if it does not come in time."""
    import select

    ready, _, _ = select.select([p.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"peer {p.args!r} said nothing in {timeout} s")
    line = p.stdout.readline()
    if not line:
        raise AssertionError(f"peer exited with {p.wait(2)} before answering")
    return line.strip()
