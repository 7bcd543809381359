"""FTP (RFC 959, 2428): a control session announces its data connections (PASV/EPSV/PORT/EPRT).

The announced endpoints and the host pairs of control sessions are bounded caches of the
classifier; its first-packet code (``Classifier._begin``) looks them up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify import wire

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState

EXPECT_CACHE = 4_096  # announced FTP data endpoints, FTP host pairs


class FtpHandling:
    """FTP control handling of the Classifier (a mixin over its caches and verdict helpers)."""

    def _ftp_start(self, flow, st: FlowState, detail: str) -> None:
        st.sig = self._sig["ftp"]
        st.sig_detail = detail
        st.ftp = True
        pairs = self.ftp_pairs
        if len(pairs) >= EXPECT_CACHE:
            pairs.popitem(last=False)
        pairs[host_pair(flow.src, flow.dst)] = True

    def _ftp_lines(self, flow, pl: bytes, from_src: bool) -> None:
        sender = flow.src if from_src else flow.dst
        for line in pl[:1024].split(b"\n")[:8]:
            ep = wire.ftp_endpoint(line.strip())
            if ep is not None:
                ip, port = ep
                exp = self.expected
                if len(exp) >= EXPECT_CACHE:
                    exp.popitem(last=False)
                exp[(ip if ip is not None and len(sender) == 4 else sender, port)] = True


def host_pair(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    return (a, b) if a <= b else (b, a)
