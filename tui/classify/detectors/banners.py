"""Greetings and first commands of the text protocols: SMTP, POP3, IMAP, FTP (RFC 5321, 1939, 9051, 959),
and VMware authd's FTP-style greeting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify.detectors.specs import _seen

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState

# VMware's authentication daemon (ESXi/Workstation remote console and VM access, port 902) greets
# with an FTP-style "220 VMware Authentication Daemon Version 1.10: ..." (VMware's knowledge base
# shows it in its "test port 902 with telnet" articles): remote access, not mail
VMWARE_AUTHD = b"vmware authentication daemon"
BANNER_FIRST = frozenset(b"2EHeh+*Uu")  # first bytes of what _banner recognises (220, EHLO, +OK, * OK, USER)


class BannerHandling:
    """Banner handling of the Classifier (a mixin: it uses the classifier's verdict helpers)."""

    def _banner(self, flow, st: FlowState, pl: bytes, from_src: bool) -> bool:
        """Greetings and first commands of the mail and FTP protocols."""
        head = pl[:4]
        if head in (b"220 ", b"220-"):
            text = pl[:256].lower()
            if text.startswith(VMWARE_AUTHD, 4):
                self._signature(flow, st, "vmware", "vmware authd banner")
                return True
            port = st.port[0] if st.port else None
            if b"ftp" in text or (port is not None and port.app == "FTP" and b"smtp" not in text):
                self._ftp_start(flow, st, "ftp banner")
                return True
            if b"smtp" in text or (port is not None and port.use_case == "mail"):
                self._signature(flow, st, "smtp", "smtp banner")
                return True
            # A greeting that names neither: both protocols open with 220 (RFC 959 5.4, RFC 5321
            # 4.2); the client's first command tells them apart (_after_220).  SMTP until then.
            st.sig = self._sig["smtp"]
            st.sig_detail = "smtp banner"
            _seen(st)[GREETED] = from_src
            st.pending = True
            return True
        if head in (b"EHLO", b"HELO", b"ehlo", b"helo") and len(pl) > 5 and pl[4] == 0x20:
            self._signature(flow, st, "smtp", "smtp command")
            return True
        if head == b"+OK " or pl.startswith(b"+OK\r\n"):
            self._signature(flow, st, "pop3", "pop3 banner")
            return True
        if head == b"* OK" or pl.startswith(b"* PREAUTH"):
            self._signature(flow, st, "imap", "imap banner")
            return True
        if head in (b"USER", b"user") and st.port is not None and st.port[0].app == "FTP":
            self._ftp_start(flow, st, "ftp command")
            return True
        return False

    def _after_220(self, flow, st: FlowState, pl: bytes) -> None:
        """The client's first command after a 220 greeting that named neither FTP nor SMTP: an FTP
        client logs in (USER, or AUTH TLS first, RFC 4217) or asks FEAT/SYST/OPTS; an SMTP client
        must open with EHLO or HELO (RFC 5321 4.1.1.1).  Anything else keeps the greeting's SMTP."""
        del st.seen[GREETED]
        st.pending = False
        if pl[:5].upper() in FTP_FIRST_COMMANDS:
            self._ftp_start(flow, st, "220 greeting and ftp command")
        else:
            flow.decided = True


GREETED = "220"  # in FlowState.seen: which end sent a bare 220 greeting (its from_src); the other answers
FTP_FIRST_COMMANDS = frozenset((b"USER ", b"AUTH ", b"FEAT\r", b"SYST\r", b"OPTS ", b"FEAT\n", b"SYST\n"))
