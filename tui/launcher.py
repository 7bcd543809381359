"""A capture launcher: CAP_NET_RAW for sockscope without sudo, and without touching the system Python.

    sudo .venv/bin/python -m tui.launcher install --group netcap    # then: .venv/bin/sockscope-netraw ...
    sudo .venv/bin/python -m tui.launcher remove

Linux ignores file capabilities on scripts, so the capability has to sit on an
interpreter binary.  Put on the system's python3 it would let every Python program of
every user sniff and forge packets.  Instead ``install`` copies the interpreter into
this virtual environment (``bin/sockscope-python``: it uses this venv's packages only),
gives that copy CAP_NET_RAW alone, and lets only ``--group`` (and root) execute it (mode
0750).  ``bin/sockscope-netraw`` starts sockscope with it in isolated mode (-I: no
PYTHON* variables, no user site, no current directory on the import path).  sockscope
then keeps CAP_NET_RAW only where the monitor may open another interface and drops it
everywhere else (tui.privileges).  Anyone in the group can still run any Python code
with CAP_NET_RAW through the copy: choose the group as you would for wireshark's dumpcap.
"""

from __future__ import annotations

import argparse
import grp
import os
import shutil
import subprocess
import sys
from pathlib import Path

PYTHON_NAME = "sockscope-python"
WRAPPER_NAME = "sockscope-netraw"


def venv_bin() -> Path:
    if sys.prefix == sys.base_prefix:
        raise SystemExit("sockscope.launcher: run this with the virtual environment's python (.venv/bin/python)")
    return Path(sys.prefix) / "bin"


def install(bin_dir: Path, group: str | int | None) -> tuple[Path, Path]:
    """Copy the interpreter into ``bin_dir`` with CAP_NET_RAW and write the wrapper; (copy, wrapper)."""
    if os.geteuid() != 0:
        raise SystemExit("sockscope.launcher: install needs root (sudo), to set the capability")
    setcap = shutil.which("setcap") or next(
        (p for p in ("/usr/sbin/setcap", "/sbin/setcap") if os.path.exists(p)), None
    )
    if setcap is None:
        raise SystemExit("sockscope.launcher: setcap not found (apt-get install libcap2-bin)")
    gid = 0
    if group is not None:
        gid = group if isinstance(group, int) else grp.getgrnam(group).gr_gid
    real = Path(os.path.realpath(sys.executable))
    copy = bin_dir / PYTHON_NAME
    tmp = copy.with_suffix(".tmp")
    shutil.copy2(real, tmp)
    os.chown(tmp, 0, gid)
    os.chmod(tmp, 0o750 if group is not None else 0o755)
    subprocess.run([setcap, "cap_net_raw+ep", str(tmp)], check=True)
    os.replace(tmp, copy)
    wrapper = bin_dir / WRAPPER_NAME
    wrapper.write_text(f'#!/bin/sh\nexec "{copy}" -I -m tui "$@"\n')
    os.chmod(wrapper, 0o755)
    return copy, wrapper


def remove(bin_dir: Path) -> None:
    for name in (PYTHON_NAME, WRAPPER_NAME):
        try:
            (bin_dir / name).unlink()
        except FileNotFoundError:
            pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tui.launcher", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ins = sub.add_parser("install", help="make bin/sockscope-netraw (CAP_NET_RAW on a venv-local interpreter copy)")
    ins.add_argument("--group", help="only this group (and root) may run it (recommended)")
    sub.add_parser("remove", help="delete the copy and the wrapper")
    args = ap.parse_args(argv)
    bin_dir = venv_bin()
    if args.cmd == "remove":
        remove(bin_dir)
        print(f"removed {bin_dir / PYTHON_NAME} and {bin_dir / WRAPPER_NAME}")
        return 0
    copy, wrapper = install(bin_dir, args.group)
    who = f"members of {args.group}" if args.group else "every user (give --group to restrict it)"
    print(f"{copy}: CAP_NET_RAW, runnable by {who}\nstart sockscope with: {wrapper} [options]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
