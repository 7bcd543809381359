"""Reverse DNS: asynchronous, cached (failures too), bounded, never blocking the caller.

Runs inside a test namespace whose resolv.conf points at a real DNS server (dnslib) on
the namespace's own loopback, so no query ever leaves the test's network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parent.parent

CODE = textwrap.dedent(
    """
    import json, sys, threading, time
    sys.path.insert(0, {repo!r})
    from dnslib import PTR, QTYPE, RR
    from dnslib.server import BaseResolver, DNSServer
    from tui.resolver import PENDING, Resolver

    asked = []

    class Slow(BaseResolver):
        def resolve(self, request, handler):
            name = str(request.q.qname)
            asked.append(name)
            time.sleep(0.4)  # a slow server: callers must not wait for it
            reply = request.reply()
            if request.q.qtype == QTYPE.PTR and name.startswith("2.2.0.192."):
                reply.add_answer(RR(name, QTYPE.PTR, rdata=PTR("peer.example.test."), ttl=60))
            else:
                reply.header.rcode = 3  # NXDOMAIN
            return reply

    server = DNSServer(Slow(), address="127.0.0.1", port=53)
    server.start_thread()
    out = {{}}
    r = Resolver(workers=2, queue_cap=2)
    t = time.perf_counter()
    first = [r.name(a) for a in ("192.0.2.2", "192.0.2.3")]
    out["first"] = first
    out["first_ms"] = (time.perf_counter() - t) * 1000
    out["pending"] = r.cached("192.0.2.2") is PENDING
    dropped = [r.name(f"192.0.2.{{i}}") for i in range(10, 20)]  # queue holds 2: the rest are dropped
    out["dropped"] = r.dropped
    got = r.resolve_all(["192.0.2.2", "192.0.2.3", "127.0.0.1"], timeout=8)
    out["got"] = got
    before = r.lookups
    again = [r.name("192.0.2.2"), r.name("192.0.2.3"), r.name("127.0.0.1")]
    time.sleep(0.2)
    out["again"] = again
    out["new_lookups"] = r.lookups - before
    out["asked_3"] = sum(1 for a in asked if a.startswith("3.2.0.192."))
    r.close()
    server.stop()
    print(json.dumps(out))
    """
)


def test_reverse_names_async_cached_bounded(netns):
    ns = netns
    etc = Path("/etc/netns") / ns.name
    etc.mkdir(parents=True, exist_ok=True)
    try:
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
        p = ns.python(CODE.format(repo=str(REPO)), stdout=subprocess.PIPE, text=True)
        out, _ = p.communicate(timeout=40)
    finally:
        shutil.rmtree(etc, ignore_errors=True)
        try:
            os.rmdir("/etc/netns")
        except OSError:
            pass
    assert p.returncode == 0
    r = json.loads(out.strip().splitlines()[-1])  # dnslib logs its requests above
    assert r["first"] == [None, None] and r["pending"]
    assert r["first_ms"] < 100  # the server takes 400 ms per answer; the caller never waits
    assert r["dropped"] >= 8
    assert r["got"] == {"192.0.2.2": "peer.example.test", "192.0.2.3": None, "127.0.0.1": "localhost"}
    assert r["again"] == ["peer.example.test", None, "localhost"]
    assert r["new_lookups"] == 0  # answers and failures both cached
    assert r["asked_3"] == 1
