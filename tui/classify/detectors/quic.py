"""QUIC (RFC 9000, 9001) and Google QUIC: SNI and ALPN from the client's Initials, decrypted and reassembled.

The ALPN offer (RFC 9001 8.1: QUIC requires it) tells the use when the SNI is missing, an IP
literal, or matches no name rule or only a web one: "h3" is web, "doq" (RFC 9250) name
resolution, "smb" (SMB over QUIC) file transfer; detectors/alpn.py has the table.

The wire parsing (header protection, Initial keys, gQUIC tags) is tui/classify/quic.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify import quic

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState

QUIC_INITIALS = 4  # client Initial packets decrypted per flow at most


class QuicHandling:
    """QUIC handling of the Classifier (a mixin: it uses the classifier's verdict and name helpers)."""

    def _quic(self, flow, st: FlowState, pl: bytes, from_src: bool) -> bool:
        version = int.from_bytes(pl[1:5], "big")
        if quic.is_gquic(version):  # Q046 and later: long header with the old connection-id byte
            self._gquic(flow, st, pl)
            return True
        lh = quic.long_header(pl, 0)
        if lh is None:
            return False
        if version == 0 or version & 0x0F0F0F0F == 0x0A0A0A0A:  # negotiation, or a version that forces it
            self._carrier(flow, st, "quic", "quic version negotiation", decided=True)
            return True
        if quic._salt(version) is None:
            return False
        if st.keys is None:
            st.keys = {}
            st.crypto = {}
        if not from_src or st.initials >= QUIC_INITIALS:
            if st.initials >= QUIC_INITIALS:
                st.crypto = None
                self._carrier(flow, st, "quic", "quic", decided=True)
            return True
        st.initials += 1
        res = quic.initial_crypto(pl, 0, st.keys)
        if res is None:
            if st.carrier is None:
                self._carrier(flow, st, "quic", "quic", decided=False)
            return True
        crypto = st.crypto
        for coff, chunk in res[1]:
            if coff < 65536 and len(crypto) < 64:
                crypto[coff] = chunk
        hs = _contiguous(crypto)
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            st.crypto = None
            sni = self._hello_names(flow, st, hs, 0, len(hs), from_src)
            self._carrier(flow, st, "quic", "quic sni" if sni else "quic", decided=True)
        else:
            self._carrier(flow, st, "quic", "quic", decided=False)
        return True

    def _gquic(self, flow, st: FlowState, pl: bytes) -> None:
        sni = quic.gquic_sni(pl, 0)
        if isinstance(sni, str) and sni:
            self._learn_name(flow, st, sni, True)
            self._carrier(flow, st, "gquic", "gquic sni", decided=True)
        else:
            self._carrier(flow, st, "gquic", "gquic", decided=True)


def _contiguous(chunks: dict[int, bytes]) -> bytes:
    """CRYPTO stream bytes from offset 0 as far as they run without a gap."""
    out = bytearray()
    pos = 0
    for _ in range(len(chunks)):
        nxt = chunks.get(pos)
        if nxt is None:
            # a chunk that starts before pos and runs past it (retransmitted with other boundaries)
            nxt = next(
                (c[pos - o :] for o, c in chunks.items() if o < pos < o + len(c)),
                None,
            )
            if nxt is None:
                break
        out += nxt
        pos += len(nxt)
    return bytes(out)
