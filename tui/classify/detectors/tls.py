"""TLS (RFC 8446, 5246): the ClientHello's SNI, reassembled when split, else the server's certificate.

The classifier's own shortcut for a whole ClientHello with SNI on a flow's first payload
(``Classifier._tls_first``) stays in classifier.py, inline on the hot path; this is the
general path it agrees with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify import wire

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState

TLS_BUFFER = 16_384  # most bytes kept to reassemble a split ClientHello
# commonName (OID 2.5.4.3), UTF8String, 14 bytes: "AnyDesk Client"
ANYDESK_CN = b"\x06\x03\x55\x04\x03\x0c\x0eAnyDesk Client"


class TlsHandling:
    """TLS handling of the Classifier (a mixin: it uses the classifier's verdict and name helpers)."""

    def _tls_hello(self, flow, st: FlowState, from_src: bool) -> None:
        got = wire.tls_handshake(bytes(st.buf))
        if got is None:
            st.buf = None
            self._carrier(flow, st, "tls", "tls", decided=True)
            return
        hs, complete = got
        if not complete and len(st.buf) < TLS_BUFFER:
            self._carrier(flow, st, "tls", "tls", decided=False)
            return
        st.buf = None
        self._hello_done(flow, st, hs, from_src)

    def _hello_done(self, flow, st: FlowState, hs: bytes, from_src: bool) -> None:
        self._hello_sni(flow, st, wire.client_hello_sni(hs), from_src)

    def _hello_sni(self, flow, st: FlowState, sni: str | None, from_src: bool) -> None:
        label = "tls sni" if sni else "tls"
        if sni:
            self._learn_name(flow, st, sni, from_src)
        else:
            st.want_cert = True
        self._carrier(flow, st, "tls", label, decided=bool(sni))

    def _cert(self, flow, st: FlowState, pl: bytes) -> None:
        """Look for the server's name in its certificate (TLS 1.2 sends it in clear)."""
        if self._client_cert(flow, st, pl):
            return
        name = wire.cert_host(pl, 0)
        if name is None:
            return
        st.want_cert = False
        flow.name = name
        st.name_hit = self._match(name)
        self._remember(flow.src if flow.sport < flow.dport else flow.dst, name)
        self._carrier(flow, st, "tls", "tls certificate", decided=True)

    def _client_cert(self, flow, st: FlowState, pl: bytes) -> bool:
        """Certificates that name the application, not a host: AnyDesk's peers and relays present
        self-signed certificates whose subject is CN "AnyDesk Client" (both ends, TLS 1.2, in clear)."""
        if pl.find(ANYDESK_CN, 0, 8192) < 0:
            return False
        st.want_cert = False
        self._signature(flow, st, "anydesk", "anydesk certificate")
        return True
