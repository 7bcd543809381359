"""The demo's servers: HTTP, HTTPS, DNS, SMTP, FTP, SSH, MQTT and an RTP sink on one address.

Run inside a test namespace by tests/make_demo_capture.py (``python demo_servers.py ADDR ADDR6
SECONDS``); prints ``ready`` once every server listens, and exits after SECONDS. Real
servers from the test dependencies (aiosmtpd, pyftpdlib, asyncssh, dnslib) where there
is one; a few lines of our own for MQTT and RTP.
"""

from __future__ import annotations

import asyncio
import datetime
import http.server
import os
import socket
import ssl
import sys
import tempfile
import threading
import time

PAGE = (
    b"<html><head><title>sockscope demo</title></head><body>" + b"hello from the demo server " * 40 + b"</body></html>"
)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "demo-httpd/1.0"

    def do_GET(self) -> None:
        body = PAGE if self.path != "/big" else os.urandom(60_000)
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if self.path != "/big" else "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def self_signed(dirname: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.org")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cpath, kpath = os.path.join(dirname, "cert.pem"), os.path.join(dirname, "key.pem")
    with open(cpath, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kpath, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cpath, kpath


class HTTP6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve_http(addr: str, addr6: str, tmp: str) -> None:
    web = http.server.ThreadingHTTPServer((addr, 80), Handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    web6 = HTTP6Server((addr6, 80), Handler)
    threading.Thread(target=web6.serve_forever, daemon=True).start()
    tls = http.server.ThreadingHTTPServer((addr, 443), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*self_signed(tmp))
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()


def serve_dns(addr: str) -> None:
    from dnslib import QTYPE, RR, A
    from dnslib.server import BaseResolver, DNSServer

    class Resolver(BaseResolver):
        def resolve(self, request, handler):
            reply = request.reply()
            if request.q.qtype in (QTYPE.A, QTYPE.ANY):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(addr), ttl=60))
            return reply

    class Quiet:
        def __getattr__(self, name):
            return lambda *a, **k: None

    DNSServer(Resolver(), address=addr, port=53, logger=Quiet()).start_thread()


def serve_ftp(addr: str, tmp: str) -> None:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    root = os.path.join(tmp, "ftp")
    os.makedirs(root)
    with open(os.path.join(root, "report.bin"), "wb") as fh:
        fh.write(os.urandom(150_000))
    auth = DummyAuthorizer()
    auth.add_anonymous(root)
    handler = type("H", (FTPHandler,), {"authorizer": auth, "banner": "demo ftpd ready"})
    import logging

    from pyftpdlib.log import config_logging

    config_logging(level=logging.ERROR)
    server = FTPServer((addr, 21), handler)
    threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.5}, daemon=True).start()


def serve_mqtt_and_rtp(addr: str) -> None:
    """A minimal MQTT broker (CONNECT -> CONNACK, then reads) and a UDP sink for RTP."""
    lsock = socket.create_server((addr, 1883))

    def broker() -> None:
        while True:
            conn, _ = lsock.accept()
            conn.settimeout(5)
            try:
                if conn.recv(4096)[:1] == b"\x10":
                    conn.sendall(b"\x20\x02\x00\x00")
                while conn.recv(4096):
                    pass
            except OSError:
                pass
            conn.close()

    threading.Thread(target=broker, daemon=True).start()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((addr, 16384))

    def drain() -> None:
        while True:
            sink.recv(2048)

    threading.Thread(target=drain, daemon=True).start()


async def serve_async(addr: str, seconds: float) -> None:
    import asyncssh
    from aiosmtpd.controller import Controller

    class Mail:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    smtp = Controller(Mail(), hostname=addr, port=25, server_hostname="mail.example.org")
    smtp.start()

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return password == "demo"

    async def shell(process) -> None:
        process.stdout.write(f"hello {process.get_extra_info('username')}, you ran: {process.command}\n")
        process.exit(0)

    key = asyncssh.generate_private_key("ssh-ed25519")
    ssh = await asyncssh.create_server(Server, addr, 22, server_host_keys=[key], process_factory=shell)
    print("ready", flush=True)
    await asyncio.sleep(seconds)
    ssh.close()
    smtp.stop()


def main() -> None:
    addr, addr6, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        serve_http(addr, addr6, tmp)
        serve_dns(addr)
        serve_ftp(addr, tmp)
        serve_mqtt_and_rtp(addr)
        time.sleep(0.2)
        asyncio.run(serve_async(addr, seconds))


if __name__ == "__main__":
    main()
