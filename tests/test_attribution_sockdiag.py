"""The kernel's socket table: our struct reader and pyroute2's DiagSocket agree, socket by socket."""

from __future__ import annotations

import os
import socket

import pytest

from tui.attribution.sockdiag import SockDiag

pytestmark = pytest.mark.timeout(30)


def test_dump_lists_known_sockets_with_inodes_both_readers_agree(netns):
    ns = netns
    with ns.entered():  # sockets and diag sockets made here live in the test namespace
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind((ns.peer_ip, 0))
        lst.listen(2)
        cli = socket.create_connection(lst.getsockname())
        srv, _ = lst.accept()
        u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u6.bind((ns.peer_ip6, 0))
        dual = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        dual.connect(("::ffff:" + ns.peer_ip, 9))  # IPv4-mapped: folded to plain IPv4
        fast, slow = SockDiag(fast=True), SockDiag(fast=False)
        try:
            a, b = fast.dump(), slow.dump()
        finally:
            fast.close()
            slow.close()
    socks = (lst, cli, srv, u6, dual)
    try:
        assert sorted(a, key=repr) == sorted(b, key=repr)
        by_inode = {e.inode: e for e in a}
        assert set(by_inode) == {os.fstat(s.fileno()).st_ino for s in socks}  # nothing from the host
        peer4 = socket.inet_aton(ns.peer_ip)
        e = by_inode[os.fstat(lst.fileno()).st_ino]
        assert (e.proto, e.local, e.lport, e.state_name) == ("TCP", peer4, lst.getsockname()[1], "listen")
        e = by_inode[os.fstat(cli.fileno()).st_ino]
        assert (e.remote, e.rport, e.state_name) == (peer4, lst.getsockname()[1], "established")
        assert e.uid == os.geteuid()
        e = by_inode[os.fstat(u6.fileno()).st_ino]
        assert (e.proto, e.local) == ("UDP", socket.inet_pton(socket.AF_INET6, ns.peer_ip6))
        e = by_inode[os.fstat(dual.fileno()).st_ino]
        assert (e.local, e.remote, e.rport) == (peer4, peer4, 9)
    finally:
        for s in socks:
            s.close()
