"""Record the demo capture that ships with sockscope (tui/data/demo.pcapng).

Makes a test namespace, starts our demo servers in it (tests/demo_servers.py), and
captures on the host end of the veth while clients here talk to them: web (HTTP and
HTTPS with SNI), DNS, mail (SMTP), file transfer (FTP), remote access (SSH), messaging
(MQTT) and voice (an RTP stream). Needs root; all traffic stays on the veth pair, between
documentation addresses.

    .venv/bin/python tests/make_demo_capture.py [OUT] [--seconds N]
"""

from __future__ import annotations

import argparse
import asyncio
import ftplib
import os
import smtplib
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import netns as _netns  # noqa: E402

DEFAULT_OUT = REPO / "tui" / "data" / "demo.pcapng"


def rtp_stream(dst: str, stop: threading.Event, pps: int = 50) -> int:
    """A voice call's worth of RTP: PCMU, 20 ms packets, until ``stop``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", 16386))
    seq, ts, ssrc, sent = 1, 0, 0x5EED5C0B, 0
    start = time.monotonic()
    while not stop.is_set():
        hdr = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
        s.sendto(hdr + bytes([0xFF]) * 160, (dst, 16384))
        seq, ts, sent = seq + 1, ts + 160, sent + 1
        stop.wait(max(start + sent / pps - time.monotonic(), 0))
    s.close()
    return sent


def ping(addr: str, count: int = 3) -> int:
    """ICMP echo with a raw socket (root): the raw slice of the protocol panel."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(1)
    got = 0
    for seq in range(1, count + 1):
        body = struct.pack("!BBHHH", 8, 0, 0, 0x5C0B, seq) + b"sockscope demo ping"
        csum = _checksum(body)
        s.sendto(body[:2] + struct.pack("!H", csum) + body[4:], (addr, 0))
        try:
            s.recv(2048)
            got += 1
        except TimeoutError:
            pass
        time.sleep(0.1)
    s.close()
    return got


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def dns_query(server: str, name: str) -> None:
    from dnslib import DNSRecord

    DNSRecord.question(name).send(server, 53, timeout=2)


def http_get(url: str, host: str | None = None) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(req, timeout=5, context=ctx if url.startswith("https") else None) as resp:
        return len(resp.read())


def https_get(addr: str, sni: str, path: str = "/") -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((addr, 443), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=sni) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
        n = 0
        while chunk := s.recv(65536):
            n += len(chunk)
        return n


def send_mail(addr: str) -> None:
    with smtplib.SMTP(addr, 25, local_hostname="client.example.org", timeout=5) as smtp:
        smtp.sendmail(
            "alice@example.org",
            ["bob@example.org"],
            "Subject: sockscope demo\r\n\r\nThe capture you are looking at was made by our test servers.\r\n",
        )


def ftp_download(addr: str) -> int:
    got = bytearray()
    with ftplib.FTP(addr, timeout=5) as ftp:
        ftp.login()
        ftp.retrbinary("RETR report.bin", got.extend)
    return len(got)


def ssh_command(addr: str) -> str:
    import asyncssh

    async def go() -> str:
        async with asyncssh.connect(addr, username="demo", password="demo", known_hosts=None) as conn:
            result = await conn.run("uptime")
            return str(result.stdout)

    return asyncio.run(go())


def mqtt_publish(addr: str) -> None:
    with socket.create_connection((addr, 1883), timeout=5) as s:
        cid = b"sockscope-demo"
        var = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid
        s.sendall(bytes([0x10, len(var)]) + var)
        s.recv(4)
        for i in range(3):
            topic, msg = b"chat/room1", f"message {i}".encode()
            body = struct.pack("!H", len(topic)) + topic + msg
            s.sendall(bytes([0x30, len(body)]) + body)
            time.sleep(0.2)
        s.sendall(b"\xe0\x00")


def record(out: Path, seconds: float = 14.0) -> dict:
    """Run the demo traffic for about ``seconds`` and write it to ``out``; return counts."""
    from tui.classify import load_classifier
    from tui.engine import Engine
    from tui.snapshot_files import write_pcapng
    from tui.sources.live import LiveSource

    reason = _netns.can_make_netns()
    if reason:
        raise SystemExit(f"make_demo_capture: {reason}")
    ns = _netns.create("demo")
    try:
        server = ns.popen(
            sys.executable,
            str(HERE / "demo_servers.py"),
            ns.peer_ip,
            ns.peer_ip6,
            str(seconds + 10),
            stdout=__import__("subprocess").PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline and "ready" not in line:
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                raise SystemExit("make_demo_capture: the demo servers failed to start")
        engine = Engine(classifier=load_classifier(None), idle_timeout=None, ring_size=200_000)
        engine.start(LiveSource(ns.host))
        time.sleep(0.2)
        addr = ns.peer_ip
        stop = threading.Event()
        rtp = threading.Thread(target=rtp_stream, args=(addr, stop), daemon=True)
        rtp.start()
        ip6 = ns.peer_ip6
        # (name looked up first, then what is done with it)
        steps = [
            ("www.example.org", lambda: http_get(f"http://{addr}/", "www.example.org")),
            ("www.example.org", lambda: https_get(addr, "www.example.org")),
            ("mail.example.org", lambda: send_mail(addr)),
            ("files.example.net", lambda: ftp_download(addr)),
            ("shell.example.net", lambda: ssh_command(addr)),
            ("chat.example.org", lambda: mqtt_publish(addr)),
            ("gw.example.net", lambda: ping(addr)),
            ("www.example.org", lambda: http_get(f"http://[{ip6}]/", "www.example.org")),
            ("files.example.net", lambda: http_get(f"http://{addr}/big", "files.example.net")),
            ("api.example.com", lambda: https_get(addr, "api.example.com", "/big")),
        ]
        start = time.monotonic()
        gap = seconds / (len(steps) + 1)
        for i, (name, step) in enumerate(steps):
            dns_query(addr, name)
            step()
            time.sleep(max(start + (i + 1) * gap - time.monotonic(), 0.05))
        done = steps
        stop.set()
        rtp.join(3)
        time.sleep(0.3)
        engine.stop()
        snap = engine.snapshot(recent=10**9)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".partial")
        with open(tmp, "wb") as fh:
            info = write_pcapng(fh, snap.recent, {0: ("demo0", 1), **dict(snap.interfaces)}, None)
        os.replace(tmp, out)
        return {"packets": info["packets"], "bytes": info["bytes"], "flows": snap.active_flows, "steps": len(done)}
    finally:
        _netns.destroy(ns)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    p.add_argument("--seconds", type=float, default=14.0)
    a = p.parse_args(argv)
    counts = record(Path(a.out), a.seconds)
    print(f"wrote {a.out}: {counts['packets']} packets, {counts['bytes']} bytes, {counts['flows']} flows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
