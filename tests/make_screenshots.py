"""Write screenshots/*.svg: the picker, the monitor on the demo capture, and a packet's detail.

Same deterministic input as the snapshot tests (the demo replayed to its end, a fixed list
of links for the picker), at 120x40 and 80x24.

As root it also writes monitor-live.svg: the monitor capturing live inside a test namespace
while real servers (tests/demo_servers.py) and clients (sessions held open a moment, and
tests/make_demo_capture.py's MQTT and RTP), each a process with its own name, talk there —
so the Processes panel and the flows table's process column show real owners, which a
replayed file cannot.  Not deterministic, so not a snapshot test; ``--no-live`` leaves it out.

    .venv/bin/python tests/make_screenshots.py [OUT_DIR] [--no-live]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from test_ui_snapshots import LINKS, NAMESPACES, namespaces_listed  # noqa: E402
from ui_support import DEMO, options, replayed  # noqa: E402

from tui.app import SockscopeApp  # noqa: E402

SHOTS = [
    # (file name, which app, keys pressed first, size)
    ("picker", "picker", (), (120, 40)),
    ("monitor", "demo", (), (120, 40)),
    ("monitor-80x24", "demo", (), (80, 24)),
    ("packet-detail", "demo", ("5", "down", "down", "enter"), (120, 40)),
    ("flow-detail", "demo", ("enter",), (120, 40)),
]


async def shoot(kind: str, keys: tuple[str, ...], size: tuple[int, int]) -> str:
    if kind == "picker":
        app = SockscopeApp(options(), watch_links=False, links=lambda: list(LINKS), namespaces=lambda: list(NAMESPACES))
    else:
        args, engine = replayed(DEMO)
        app = SockscopeApp(args, engine=engine, watch_links=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.1)
        if kind == "picker":
            await namespaces_listed(pilot)
        if keys:
            await pilot.press(*keys)
        await pilot.pause(0.2)
        return app.export_screenshot(title="sockscope")


# The live shot: (process name, what it runs).  Servers call demo_servers' functions;
# clients loop one of make_demo_capture's, every run bounded by SECONDS.
LIVE_SIZE = (120, 40)
LIVE_SECONDS = 14.0  # the servers' and clients' lifetime: the whole shot fits in it
_NAMED = """
import ctypes, os, sys, tempfile, time
sys.path.insert(0, {here!r})
ctypes.CDLL(None).prctl(15, {name!r}.encode(), 0, 0, 0)  # PR_SET_NAME: the command name shown
"""
SERVERS = [
    ("httpd", "tmp = tempfile.mkdtemp(); d.serve_http(A, A6, tmp)"),
    ("dnsd", "d.serve_dns(A)"),
    ("ftpd", "tmp = tempfile.mkdtemp(); d.serve_ftp(A, tmp)"),
    ("brokerd", "d.serve_mqtt_and_rtp(A)"),
    ("mail+sshd", "import asyncio; asyncio.run(d.serve_async(A, END - time.monotonic())); sys.exit()"),
]
CLIENTS = [
    # (name, user, one round, pause between rounds in seconds).  Sessions are held a moment
    # (slow reads, several requests per connection): a socket closed within the attributor's
    # 0.5 s tick has no owner to show.
    ("fetcher", "nobody", "slow_get('/big', 'files.example.net'); slow_get('/', 'www.example.org')", 0.3),
    ("tls-agent", "root", "slow_get('/big', 'api.example.com', tls=True)", 0.3),
    ("resolver", "nobody", "resolve('www.example.org', 'mail.example.org', 'cdn.example.net')", 0.2),
    ("mailer", "root", "mail_session()", 0.5),
    ("mirror", "root", "ftp_session()", 1.0),
    ("deploy", "root", "ssh_session()", 0.5),
    ("sensor", "nobody", "c.mqtt_publish(A)", 0.3),
    (
        "softphone",
        "root",
        "stop = threading.Event(); threading.Timer(END - time.monotonic(), stop.set).start(); "
        "c.rtp_stream(A, stop); sys.exit()",
        0.0,
    ),
]
# Client sessions (not formatted: plain Python run after the prelude).
SESSIONS = """
import asyncio, ftplib, smtplib, socket, ssl
from dnslib import DNSRecord

TLS = ssl.create_default_context()
TLS.check_hostname, TLS.verify_mode = False, ssl.CERT_NONE


def slow_get(path, host, tls=False):
    raw = socket.create_connection((A, 443 if tls else 80), timeout=5)
    s = TLS.wrap_socket(raw, server_hostname=host) if tls else raw
    with s:
        s.sendall(f"GET {path} HTTP/1.1\\r\\nHost: {host}\\r\\nConnection: close\\r\\n\\r\\n".encode())
        for _ in range(100):
            if not s.recv(6000):
                break
            time.sleep(0.05)


DNS = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
DNS.settimeout(2)


def resolve(*names):
    for name in names:
        DNS.sendto(DNSRecord.question(name).pack(), (A, 53))
        DNS.recv(1500)
        time.sleep(0.1)


def mail_session():
    with smtplib.SMTP(A, 25, local_hostname="client.example.org", timeout=5) as smtp:
        for i in range(3):
            smtp.sendmail("alice@example.org", ["bob@example.org"], f"Subject: report {i}\\r\\n\\r\\nnumbers\\r\\n")
            time.sleep(0.3)


def ftp_session():
    with ftplib.FTP(A, timeout=5) as ftp:
        ftp.login()
        for _ in range(2):
            ftp.retrbinary("RETR report.bin", lambda b: None)
            time.sleep(0.5)


def ssh_session():
    import asyncssh

    async def go():
        async with asyncssh.connect(A, username="deploy", password="demo", known_hosts=None) as conn:
            for cmd in ("uptime", "df -h", "systemctl status web"):
                await conn.run(cmd)
                await asyncio.sleep(0.4)

    asyncio.run(go())
"""
SERVER_CODE = (
    _NAMED
    + """
import demo_servers as d
A, A6, END = {addr!r}, {addr6!r}, time.monotonic() + {seconds}
{body}
print('ready', flush=True)
time.sleep(max(END - time.monotonic(), 0))
"""
)
CLIENT_CODE = (
    _NAMED
    + """
import pwd, threading
import make_demo_capture as c
# Everything imported before dropping root: the interpreter's files may be root's alone.
import asyncssh, dnslib, email.parser, encodings.idna, ftplib, http.client, smtplib, ssl, urllib.request
if {user!r} != 'root':
    os.setgid(pwd.getpwnam({user!r}).pw_gid)
    os.setuid(pwd.getpwnam({user!r}).pw_uid)
A, A6, END = {addr!r}, {addr6!r}, time.monotonic() + {seconds}
{sessions}
rounds = 0
while time.monotonic() < END - 1 and rounds < 200:
    try:
        {body}
    except Exception:  # a server gone at the end, a refused connection: next round
        pass
    rounds += 1
    time.sleep({pause})
"""
)


def live_unavailable() -> str | None:
    """Why the live shot cannot be made here (None: it can)."""
    import netns

    return netns.can_make_netns()


async def _wait(pilot, cond, timeout: float) -> bool:
    """Poll ``cond`` with short pauses: under live capture the app is never idle for long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await pilot.pause(0.05)
    return cond()


def _ready(p: subprocess.Popen, timeout: float = 20.0) -> None:
    import peers

    line = peers.read_line(p, timeout)
    if line != "ready":
        raise RuntimeError(f"server {p.args[-1][:60]!r} said {line!r}")


async def shoot_live(ns, size: tuple[int, int] = LIVE_SIZE) -> str:
    """The monitor on the namespace's loopback while its servers and clients talk."""
    from tui.screens.monitor import MonitorScreen
    from tui.widgets.flows import FlowsPanel
    from tui.widgets.processes import ProcessesPanel

    fields = {"here": str(HERE), "addr": ns.peer_ip, "addr6": ns.peer_ip6, "seconds": LIVE_SECONDS}
    for name, body in SERVERS:
        code = SERVER_CODE.format(name=name, body=body, **{**fields, "seconds": LIVE_SECONDS + 5})
        p = ns.python(code, stdout=subprocess.PIPE, text=True)
        _ready(p)
    app = SockscopeApp(options("-i", "lo", "--netns", ns.name), watch_links=False)
    try:
        async with app.run_test(size=size) as pilot:
            await _wait(pilot, lambda: isinstance(app.screen, MonitorScreen), 5)
            await _wait(pilot, lambda: app.attributor is not None and app.attributor.stats.ticks > 0, 5)
            for name, user, body, pause in CLIENTS:
                code = CLIENT_CODE.format(name=name, user=user, body=body, pause=pause, sessions=SESSIONS, **fields)
                ns.python(code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            panel = app.screen.query_one(ProcessesPanel)
            names = {n for n, *_ in SERVERS + CLIENTS}

            def named() -> set[str]:
                return {u.label for u in panel.usage_rows.values() if u.known} & names

            await _wait(pilot, lambda: len(named()) >= len(names) - 1, 8)
            await pilot.press("R")  # flows sorted by rate: what is talking now, from several processes
            await _wait(pilot, lambda: False, 1.5)  # rates and sparklines fill in
            flows = app.screen.query_one(FlowsPanel)

            def top_owned() -> bool:  # the attributor has caught up with the flows on top (busy machine)
                top = list(flows.flows.values())[:5]
                return bool(top) and all(f.pid is not None or f.owner_note for f in top)

            await _wait(pilot, top_owned, 3)
            flows.move_cursor(row=0)  # the busiest flow, not the one selected before sorting
            flows.scroll_home(animate=False)
            await _wait(pilot, lambda: False, 0.3)
            print(f"live shot: {len(named())} of {len(names)} processes named: {sorted(named())}")
            svg = app.export_screenshot(title="sockscope")
            app.exit()
    finally:
        app.stop_attribution()
    return svg


def live(out: Path) -> bool:
    """Write ``out``/monitor-live.svg; False (with the reason printed) when it cannot be made here."""
    import netns

    reason = live_unavailable()
    if reason:
        print(f"skipped monitor-live.svg: {reason}", file=sys.stderr)
        return False
    ns = netns.create("shot")
    try:
        svg = asyncio.run(shoot_live(ns))
    finally:
        netns.destroy(ns)
    (out / "monitor-live.svg").write_text(svg)
    print(f"wrote {out / 'monitor-live'}.svg ({LIVE_SIZE[0]}x{LIVE_SIZE[1]}, live)")
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    flags = {a for a in argv if a.startswith("--")}
    dirs = [a for a in argv if not a.startswith("--")]
    if flags - {"--no-live"}:
        print(f"unknown option(s): {sorted(flags - {'--no-live'})}", file=sys.stderr)
        return 2
    out = Path(dirs[0]) if dirs else HERE.parent / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    for name, kind, keys, size in SHOTS:
        svg = asyncio.run(shoot(kind, keys, size))
        (out / f"{name}.svg").write_text(svg)
        print(f"wrote {out / name}.svg ({size[0]}x{size[1]})")
    if "--no-live" not in flags:
        live(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
