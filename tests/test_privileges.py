"""Least privilege, checked on real processes: ids, groups and capabilities read from
/proc/<pid>/status while sockscope runs, and the owner of what it writes.

sockscope is started as sudo starts it (root, SUDO_UID/SUDO_GID = 65534, see
tests/sudo_like.py), as a plain user without CAP_NET_RAW, and as a user holding
CAP_NET_RAW (+ CAP_NET_ADMIN) the way a capability launcher hands them on.
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.privileges import CAP_NET_RAW, read_privileges

sys.path.insert(0, str(Path(__file__).parent))
import sudo_like
from sudo_like import NOBODY

pytestmark = pytest.mark.timeout(120)
NET_RAW = 1 << CAP_NET_RAW
DEMO = Path(__file__).resolve().parent.parent / "tui" / "data" / "demo.pcapng"


def _skip(reason: str) -> None:
    print(f"SKIP: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture
def root_only() -> None:
    if os.geteuid() != 0:
        _skip("starting sockscope as sudo does needs root")
    for tool in ("setpriv", "unshare"):
        if shutil.which(tool) is None:
            _skip(f"{tool} (util-linux) is not installed")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder uid 65534 may write to (pytest's tmp_path is root's, mode 0700)."""
    d = Path(tempfile.mkdtemp(prefix="sockscope-priv-"))
    os.chown(d, NOBODY, NOBODY)
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _wait_dropped_with_socket(proc: subprocess.Popen, timeout: float = 20.0, caps: int | None = None):
    """Poll the process until it holds an AF_PACKET socket and runs as 65534 (with ``caps`` permitted)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sockscope exited early with {proc.returncode}")
        try:
            last = read_privileges(proc.pid)
        except OSError:
            last = None
        if (
            last is not None
            and last.uids[1] == NOBODY
            and (caps is None or last.cap_permitted == caps)
            and sudo_like.socket_inodes_of(proc.pid) & sudo_like.packet_socket_inodes()
        ):
            return last
        time.sleep(0.05)
    raise AssertionError(f"no raw socket + dropped ids within {timeout}s; last seen {last}")


def _owners(folder: Path) -> set[tuple[int, int]]:
    return {(p.stat().st_uid, p.stat().st_gid) for p in [folder, *folder.rglob("*")]}


# ----------------------------------------------------------------------------- through sudo
@pytest.mark.live
@pytest.mark.netns
def test_report_through_sudo_runs_as_invoking_user_and_files_are_theirs(root_only, netns, shared_dir):
    save = shared_dir / "snaps"
    proc = subprocess.Popen(
        sudo_like.sockscope_argv(
            "report", "-i", netns.host, "--duration", "3", "--format", "json", "--save", str(save)
        ),
        env=sudo_like.sudo_env(),
        cwd=shared_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        held = _wait_dropped_with_socket(proc)
        netns.exec("ping", "-c", "3", "-i", "0.2", "-W", "1", netns.host_ip, check=False)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert held.uids == (NOBODY,) * 4, held
    assert held.gids == (NOBODY,) * 4, held
    assert held.groups == (), held
    assert held.cap_effective == held.cap_permitted == held.cap_bounding == 0, held
    assert held.no_new_privs
    assert proc.returncode == 0, err
    assert '"packets"' in out
    folders = [p for p in save.iterdir() if p.is_dir()]
    assert folders, f"no snapshot folder under {save}: {err}"
    files = list(folders[0].iterdir())
    assert any(f.suffix == ".pcapng" for f in files), files
    assert _owners(save) == {(NOBODY, NOBODY)}


@pytest.mark.live
@pytest.mark.netns
def test_monitor_through_sudo_keeps_only_net_raw_and_saves_as_the_user(root_only, netns, shared_dir):
    """The monitor may open another interface from the picker, so it keeps CAP_NET_RAW and nothing else;
    the snapshot it writes on exit (SIGTERM here) belongs to the invoking user."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        sudo_like.sockscope_argv("-i", netns.host, "--snapshot-on-exit", "--snapshot-dir", str(shared_dir / "snaps")),
        env=sudo_like.sudo_env(TERM="xterm-256color", COLUMNS="100", LINES="30"),
        cwd=shared_dir,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    drain.start()
    try:
        held = _wait_dropped_with_socket(proc, timeout=30)
        netns.exec("ping", "-c", "2", "-i", "0.2", "-W", "1", netns.host_ip, check=False)
        time.sleep(1.0)  # the monitor's first screen
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop.set()
        drain.join(2)
        os.close(master)
    assert held.uids == (NOBODY,) * 4, held
    assert held.gids == (NOBODY,) * 4, held
    assert held.groups == ()
    assert held.cap_effective == held.cap_permitted == held.cap_bounding == NET_RAW, held
    assert held.no_new_privs
    assert proc.returncode == 0
    saved = shared_dir / "snaps"
    assert [p for p in saved.iterdir() if p.is_dir()], "no snapshot written on exit"
    assert _owners(saved) == {(NOBODY, NOBODY)}


def _drain(fd: int, stop: threading.Event) -> None:
    """Read the pty so the app never blocks on a full terminal buffer."""
    import select

    while not stop.is_set():
        try:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                os.read(fd, 65536)
        except OSError:
            return


def test_unreadable_code_keeps_root_with_a_warning(root_only, shared_dir):
    """Dropping to a user who cannot read Python's import paths would break later imports: say so instead."""
    hidden = Path(tempfile.mkdtemp(prefix="sockscope-hidden-"))
    os.chmod(hidden, 0o700)
    try:
        code = (
            "from tui.privileges import PrivilegeError, drop_privileges, read_privileges\n"
            "try:\n    drop_privileges()\nexcept PrivilegeError as e:\n    print('ERR', e)\n"
            "print('UID', read_privileges().uids[1])\n"
        )
        env = sudo_like.sudo_env(PYTHONPATH=f"{sudo_like.REPO}:{hidden}")
        r = sudo_like.run([*sudo_like.mount_wrapper(), sys.executable, "-c", code], env=env, cwd=shared_dir)
    finally:
        shutil.rmtree(hidden, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    assert f"cannot read {hidden}" in r.stdout
    assert "UID 0" in r.stdout


def test_not_through_sudo_nothing_changes(root_only):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    code = (
        "from tui.privileges import drop_privileges, read_privileges\nprint(drop_privileges(), read_privileges().uids)"
    )
    r = sudo_like.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(sudo_like.REPO)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False (0, 0, 0, 0)"


# ----------------------------------------------------------------------------- capabilities
_CAPS_PROBE = """
import socket, sys
from tui.privileges import drop_privileges, read_privileges
def can_open():
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        return True
    except PermissionError:
        return False
before = read_privileges()
print("before", hex(before.cap_effective), can_open())
print("dropped", drop_privileges(keep_net_raw=sys.argv[1] == "keep"))
after = read_privileges()
print("after", after.uids[1], hex(after.cap_effective), hex(after.cap_permitted), can_open())
"""


@pytest.mark.parametrize("mode", ["keep", "all"])
def test_capability_launcher_keeps_net_raw_only_or_nothing(root_only, mode):
    """Started with CAP_NET_RAW + CAP_NET_ADMIN (as a launcher passes them): keep NET_RAW only, or none."""
    argv = sudo_like.as_user_argv([sys.executable, "-c", _CAPS_PROBE, mode], caps="+net_raw,+net_admin")
    r = sudo_like.run(argv, env={"PYTHONPATH": str(sudo_like.REPO), "PATH": os.environ["PATH"]}, cwd="/")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["before"] == f"{(1 << 12 | NET_RAW):#x} True"  # CAP_NET_ADMIN is 12
    assert lines["dropped"] == "True"
    if mode == "keep":
        assert lines["after"] == f"{NOBODY} {NET_RAW:#x} {NET_RAW:#x} True"
    else:
        assert lines["after"] == f"{NOBODY} 0x0 0x0 False"


# ----------------------------------------------------------------------------- no privilege
def test_without_net_raw_live_fails_clearly_and_file_replay_works(root_only, shared_dir):
    env = {"PYTHONPATH": str(sudo_like.REPO), "PATH": os.environ["PATH"], "HOME": str(shared_dir)}
    live = sudo_like.run(
        sudo_like.as_user_argv([sys.executable, "-m", "tui", "report", "-i", "lo", "--duration", "1"]),
        env=env,
        cwd=shared_dir,
    )
    assert live.returncode != 0
    assert "CAP_NET_RAW" in live.stderr and "sudo" in live.stderr, live.stderr
    assert "Traceback" not in live.stderr, live.stderr
    replay = sudo_like.run(
        sudo_like.as_user_argv([sys.executable, "-m", "tui", "report", "-r", str(DEMO), "--format", "json"]),
        env=env,
        cwd=shared_dir,
    )
    assert replay.returncode == 0, replay.stderr
    import json

    report = json.loads(replay.stdout)
    assert report["source"]["kind"] == "file" and report["packets"] > 0


# ----------------------------------------------------------------------------- launcher
@pytest.mark.live
@pytest.mark.netns
def test_launcher_gives_net_raw_to_its_group_only_and_sockscope_drops_it(root_only, netns, shared_dir):
    """tui.launcher: a venv-local interpreter copy with CAP_NET_RAW, mode 0750 for one group."""
    from tui import launcher

    venv = shared_dir / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text((Path(sys.prefix) / "pyvenv.cfg").read_text())
    (venv / "lib").symlink_to(Path(sys.prefix) / "lib")
    copy, wrapper = launcher.install(venv / "bin", NOBODY)
    caps = subprocess.run(["getcap", str(copy)], capture_output=True, text=True).stdout
    assert "cap_net_raw" in caps and "cap_net_admin" not in caps, caps
    assert copy.stat().st_mode & 0o777 == 0o750 and copy.stat().st_gid == NOBODY

    env = {"PATH": os.environ["PATH"], "HOME": str(shared_dir)}
    argv = sudo_like.as_user_argv([str(wrapper), "report", "-i", netns.host, "--duration", "2", "--format", "json"])
    proc = subprocess.Popen(argv, env=env, cwd=shared_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        held = _wait_dropped_with_socket(proc, caps=0)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert '"packets"' in out
    assert held.uids[1] == NOBODY and held.cap_effective == held.cap_permitted == 0, held  # dropped once open

    # Outside the group: not even executable.
    code = (
        "import os, sys\n"
        f"os.setgroups([]); os.setresgid(100, 100, 100); os.setresuid({NOBODY}, {NOBODY}, {NOBODY})\n"
        "try:\n    os.execv(sys.argv[1], [sys.argv[1], '-c', ''])\n"
        "except PermissionError as e:\n    print('denied', e); sys.exit(3)\n"
    )
    other = sudo_like.run([*sudo_like.mount_wrapper(), sys.executable, "-c", code, str(copy)], env=env, cwd=shared_dir)
    assert other.returncode == 3 and "denied" in other.stdout, other
