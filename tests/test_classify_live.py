"""Real servers in a test namespace, real clients in the root namespace, live capture on the veth: each flow's class.

Every capture gets a fresh classifier, so names learned in one part do not leak
into another.  Servers print "ready" once bound; every client call has a timeout.
"""

from __future__ import annotations

import asyncio
import datetime
import ftplib
import select
import smtplib
import socket
import ssl
import struct
import subprocess
import time
import urllib.request

import pytest

from tui.classify import load_classifier

pytestmark = [pytest.mark.live, pytest.mark.netns, pytest.mark.timeout(120)]


def _start(ns, code: str, timeout: float = 10.0) -> subprocess.Popen:
    """Run a server inside the namespace and wait until it prints 'ready'."""
    p = ns.python(code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            line = p.stdout.readline()
            if "ready" in line:
                return p
        if p.poll() is not None:
            break
    err = p.stderr.read() if p.poll() is not None else ""
    raise AssertionError(f"server did not start: {err[-2000:]}")


def _capture(ns, live_capture, client, packets_hint: int | None = None):
    """Run ``client()`` while capturing on the host side of the veth; return flows by server port."""
    with live_capture(ns.host, classifier=load_classifier(None, use_default_user=False)) as cap:
        client()
        cap.settle(packets_hint, timeout=1.5)
    snap = cap.engine.snapshot()
    return snap


def _by_port(snap, proto="TCP") -> dict[int, list]:
    out: dict[int, list] = {}
    for f in snap.flows:
        if f.proto == proto:
            out.setdefault(f.dport, []).append(f)
    return out


def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


def test_http_https_quic_live(netns, live_capture, tmp_path):
    ns = netns
    ip = ns.peer_ip
    cert, key = _self_signed(tmp_path, "www.youtube.com")
    _start(
        ns,
        "import http.server,socketserver\n"
        "class H(http.server.SimpleHTTPRequestHandler):\n"
        "  def log_message(self,*a): pass\n"
        f"s=http.server.ThreadingHTTPServer(('{ip}',80),H);print('ready',flush=True);s.serve_forever()\n",
    )
    _start(
        ns,
        "import socket,ssl\n"
        f"ctx=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER);ctx.load_cert_chain('{cert}','{key}')\n"
        f"s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('{ip}',443));s.listen()\n"
        "print('ready',flush=True)\n"
        "while True:\n"
        "  c,_=s.accept()\n"
        "  try:\n"
        "    t=ctx.wrap_socket(c,server_side=True);t.recv(100);t.sendall(b'hello');t.close()\n"
        "  except Exception: c.close()\n",
    )
    _start(
        ns,
        "import asyncio\n"
        "from aioquic.asyncio import serve\n"
        "from aioquic.quic.configuration import QuicConfiguration\n"
        "cfg=QuicConfiguration(is_client=False,alpn_protocols=['h3'])\n"
        f"cfg.load_cert_chain('{cert}','{key}')\n"
        "async def main():\n"
        f"  await serve('{ip}',443,configuration=cfg)\n"
        "  print('ready',flush=True)\n"
        "  await asyncio.sleep(60)\n"
        "asyncio.run(main())\n",
    )

    def clients():
        with urllib.request.urlopen(f"http://{ip}/", timeout=5) as r:
            r.read()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection((ip, 443), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="www.youtube.com") as t,
        ):
            t.sendall(b"hi")
            t.recv(10)
        asyncio.run(_quic_client(ip))

    snap = _capture(ns, live_capture, clients)
    tcp = _by_port(snap)
    (http,) = tcp[80]
    assert (http.app, http.use_case) == ("HTTP", "web")
    assert http.reason.startswith("http")
    (tls,) = tcp[443]
    assert (tls.app, tls.use_case, tls.name, tls.reason) == (
        "TLS",
        "streaming",
        "www.youtube.com",
        "tls sni *.youtube.com",
    )
    quic = [f for f in _by_port(snap, "UDP").get(443, [])]
    assert quic, [(f.proto, f.dport) for f in snap.flows]
    assert (quic[0].app, quic[0].name, quic[0].use_case) == ("QUIC", "www.netflix.com", "streaming")
    assert quic[0].reason == "quic sni *.netflix.com"
    assert snap.protocols["TLS"].packets == tls.packets
    assert snap.use_cases["web"].packets == http.packets


async def _quic_client(ip: str) -> None:
    from aioquic.asyncio import connect
    from aioquic.quic.configuration import QuicConfiguration

    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name="www.netflix.com")
    cfg.verify_mode = ssl.CERT_NONE
    async with asyncio.timeout(5), connect(ip, 443, configuration=cfg) as conn:
        await conn.ping()


def test_dns_answer_names_later_flow_live(netns, live_capture):
    ns = netns
    ip = ns.peer_ip
    _start(
        ns,
        "import time\n"
        "from dnslib.server import DNSServer\n"
        "from dnslib.fixedresolver import FixedResolver\n"
        f"r=FixedResolver('. 60 IN A {ip}')\n"
        f"s=DNSServer(r,port=53,address='{ip}');s.start_thread();print('ready',flush=True)\n"
        "time.sleep(60)\n",
    )

    def clients():
        from dnslib import DNSRecord

        DNSRecord.question("store.steampowered.com").send(ip, 53, timeout=3)
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((ip, 9))  # nothing listens: SYN and RST are enough to be named
        except OSError:
            pass
        s.close()

    snap = _capture(ns, live_capture, clients)
    (dns,) = _by_port(snap, "UDP")[53]
    assert (dns.app, dns.use_case, dns.name) == ("DNS", "name_resolution", "store.steampowered.com")
    (later,) = _by_port(snap)[9]
    assert (later.use_case, later.name, later.reason) == (
        "gaming",
        "store.steampowered.com",
        "learned name *.steampowered.com",
    )


def test_mail_live(netns, live_capture):
    ns = netns
    ip = ns.peer_ip
    _start(
        ns,
        "import time\n"
        "from aiosmtpd.controller import Controller\n"
        "class H:\n"
        "  async def handle_DATA(self,server,session,envelope): return '250 OK'\n"
        f"c=Controller(H(),hostname='{ip}',port=25);c.start();print('ready',flush=True);time.sleep(60)\n",
    )
    banners = {10143: b"* OK IMAP4rev1 ready\r\n", 10110: b"+OK POP3 ready\r\n"}
    _start(
        ns,
        "import socket,threading\n"
        f"B={banners!r}\n"
        "def serve(port,banner):\n"
        f"  s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('{ip}',port));s.listen()\n"
        "  while True:\n"
        "    c,_=s.accept();c.sendall(banner);c.recv(100);c.close()\n"
        "for p,b in B.items(): threading.Thread(target=serve,args=(p,b),daemon=True).start()\n"
        "import time;print('ready',flush=True);time.sleep(60)\n",
    )

    def clients():
        with smtplib.SMTP(ip, 25, timeout=5) as s:
            s.sendmail("a@example.com", ["b@example.com"], "Subject: t\r\n\r\nhello")
        for port in banners:
            with socket.create_connection((ip, port), timeout=5) as c:
                c.recv(100)
                c.sendall(b"QUIT\r\n")

    snap = _capture(ns, live_capture, clients)
    tcp = _by_port(snap)
    assert [(f.app, f.use_case) for f in tcp[25]] == [("SMTP", "mail")]
    assert [(f.app, f.use_case) for f in tcp[10143]] == [("IMAP", "mail")]
    assert [(f.app, f.use_case) for f in tcp[10110]] == [("POP3", "mail")]
    assert tcp[10143][0].reason == "imap: imap banner"


def test_ftp_control_and_data_live(netns, live_capture, tmp_path):
    ns = netns
    ip = ns.peer_ip
    (tmp_path / "f.bin").write_bytes(bytes(range(256)) * 64)
    _start(
        ns,
        "from pyftpdlib.authorizers import DummyAuthorizer\n"
        "from pyftpdlib.handlers import FTPHandler\n"
        "from pyftpdlib.servers import FTPServer\n"
        f"a=DummyAuthorizer();a.add_anonymous('{tmp_path}')\n"
        "h=FTPHandler;h.authorizer=a\n"
        f"s=FTPServer(('{ip}',21),h);print('ready',flush=True);s.serve_forever(timeout=0.5)\n",
    )

    def clients():
        with ftplib.FTP(ip, timeout=5) as f:
            f.login()
            f.retrbinary("RETR f.bin", lambda b: None)
            f.nlst()

    snap = _capture(ns, live_capture, clients)
    tcp = [f for f in snap.flows if f.proto == "TCP"]
    control = [f for f in tcp if f.dport == 21]
    data = [f for f in tcp if f.dport != 21]
    assert [(f.app, f.use_case) for f in control] == [("FTP", "file_transfer")]
    assert len(data) >= 2  # RETR and NLST each open a data connection
    for f in data:
        assert (f.app, f.use_case) == ("FTP-DATA", "file_transfer"), (f.dport, f.reason)


def test_ssh_and_mqtt_live(netns, live_capture):
    ns = netns
    ip = ns.peer_ip
    _start(
        ns,
        "import asyncio,asyncssh\n"
        "async def main():\n"
        "  key=asyncssh.generate_private_key('ssh-ed25519')\n"
        f"  await asyncssh.listen('{ip}',2222,server_host_keys=[key],password_auth=True,\n"
        "                         process_factory=lambda p: p.exit(0))\n"
        "  print('ready',flush=True)\n"
        "  await asyncio.sleep(60)\n"
        "asyncio.run(main())\n",
    )
    _start(
        ns,
        "import socket\n"
        f"s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('{ip}',1883));s.listen()\n"
        "print('ready',flush=True)\n"
        "while True:\n"
        "  c,_=s.accept();c.recv(200);c.sendall(bytes([0x20,2,0,0]));c.close()\n",
    )

    async def ssh_client():
        import asyncssh

        try:
            async with asyncio.timeout(8):
                conn = await asyncssh.connect(ip, 2222, username="u", password="p", known_hosts=None)
                conn.close()
        except (asyncssh.Error, OSError, TimeoutError):
            pass  # the banners and key exchange are what we classify

    def clients():
        asyncio.run(ssh_client())
        connect = bytes([0x10, 16]) + b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x04test"
        with socket.create_connection((ip, 1883), timeout=5) as c:
            c.sendall(connect)
            c.recv(10)

    snap = _capture(ns, live_capture, clients)
    tcp = _by_port(snap)
    assert [(f.app, f.use_case) for f in tcp[2222]] == [("SSH", "remote_access")]
    assert [(f.app, f.use_case) for f in tcp[1883]] == [("MQTT", "messaging")]


def test_synthetic_rtp_stun_game_live(netns, live_capture):
    ns = netns
    ip = ns.peer_ip
    _start(
        ns,
        "import socket,select,time\n"
        "socks=[]\n"
        "for port in (5004,3478,27015,40000):\n"
        f"  u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('{ip}',port));socks.append(u)\n"
        "print('ready',flush=True)\n"
        "end=time.time()+30\n"
        "while time.time()<end:\n"
        "  r,_,_=select.select(socks,[],[],0.5)\n"
        "  for u in r: u.recvfrom(2000)\n",
    )

    def clients():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(5):
            rtp = bytes([0x80, 0x00]) + struct.pack("!HII", i, i * 160, 0x1234ABCD) + bytes(160)
            s.sendto(rtp, (ip, 5004))
        s.sendto(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + bytes(12), (ip, 3478))
        s.sendto(b"\xff\xff\xff\xffTSource Engine Query\x00", (ip, 27015))
        for i in range(5):  # RTP on a port no rule knows: the header alone decides
            s.sendto(bytes([0x80, 0x60]) + struct.pack("!HII", i, i * 960, 0x55) + bytes(100), (ip, 40000))
        s.close()

    snap = _capture(ns, live_capture, clients, packets_hint=17)
    udp = _by_port(snap, "UDP")
    assert [(f.app, f.use_case) for f in udp[5004]] == [("RTP", "voice")]
    assert [(f.app, f.use_case) for f in udp[3478]] == [("STUN", "voice")]
    assert [(f.app, f.use_case) for f in udp[27015]] == [("Steam", "gaming")]
    assert [(f.app, f.use_case, f.reason) for f in udp[40000]] == [("RTP", "voice", "rtp: rtp header")]
