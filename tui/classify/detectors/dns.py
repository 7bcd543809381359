"""DNS, mDNS and LLMNR (RFC 1035, 6762, 4795): queries and answers; answers teach names of addresses.

The shortcut for a query and its answer (``Classifier._begin`` / ``_dns_answer``) stays in
classifier.py, inline on the hot path; this is the general path it agrees with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify import wire

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState

DNS_PORTS = {53: "dns", 5353: "mdns", 5355: "llmnr"}
DNS_APPS = {"dns": "DNS", "mdns": "MDNS", "llmnr": "LLMNR"}


class DnsHandling:
    """DNS handling of the Classifier (a mixin: it uses the classifier's verdict and name helpers)."""

    def _dns(self, flow, st: FlowState, pl: bytes, kind: str, from_src: bool) -> bool:
        if len(pl) > 12 and not pl[2] & 0x80 and st.port is not None and st.port[0].app == DNS_APPS.get(kind):
            # A query on a DNS port: the answer repeats the question and adds the addresses,
            # so parse that one only.
            if st.sig is None:
                st.sig = self._sig[kind]
                st.sig_detail = "dns query"
            return True
        msg = wire.dns_message(pl, 0)
        if msg is None:
            return False
        is_resp, qname, addrs = msg
        if qname and kind == "dns":
            flow.name = qname
        if is_resp and qname:
            for a in addrs:
                self._remember(a, qname)
        st.sig = self._sig[kind]
        st.sig_detail = "dns response" if is_resp else "dns query"
        if is_resp:
            flow.decided = True
        return True
