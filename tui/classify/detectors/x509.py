"""The host names an X.509 certificate is for: subject CN and subjectAltName dNSNames.

RFC 5280 4.1: Certificate = SEQUENCE { tbsCertificate, ... }; tbsCertificate = SEQUENCE {
[0] version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo,
[1], [2], [3] extensions }.  The subject is a SEQUENCE OF SET OF {OID, value}; CN is OID
2.5.4.3.  subjectAltName (2.5.29.17, 4.2.1.6) is an OCTET STRING holding a SEQUENCE OF
GeneralName, of which dNSName is [2] IMPLICIT IA5String (tag 0x82).

A minimal DER walker: definite lengths only (DER has no others), every read bounded by
its parent's end and by the bytes at hand, a fixed budget of elements; it never raises.
A certificate cut short (the rest in a later TCP segment) gives the names whose bytes
are already there.
"""

from __future__ import annotations

from tui.classify import wire

_CN = b"\x55\x04\x03"  # 2.5.4.3 commonName (the OID's content bytes)
_SAN = b"\x55\x1d\x11"  # 2.5.29.17 subjectAltName
_STRINGS = frozenset((0x0C, 0x13, 0x16, 0x14))  # UTF8String, PrintableString, IA5String, T61String
MAX_NAMES = 16  # names kept from one certificate
_BUDGET = 256  # DER elements visited per certificate


def tlv(data: bytes, p: int, end: int) -> tuple[int, int, int] | None:
    """(tag, value start, declared value end) of the DER element at ``p``, or None.

    The declared end may lie past ``end`` when the bytes are cut short; callers clamp.
    """
    if p + 2 > end:
        return None
    tag = data[p]
    if tag & 0x1F == 0x1F:  # high tag numbers: not used by the parts read here
        return None
    ln = data[p + 1]
    q = p + 2
    if ln & 0x80:
        k = ln & 0x7F
        if k == 0 or k > 3 or q + k > end:  # indefinite (not DER) or absurd
            return None
        ln = int.from_bytes(data[q : q + k], "big")
        q += k
    return tag, q, q + ln


def _host(raw: bytes) -> str | None:
    """A certificate name that can be a host name (dotted, letters, digits, '-', one leading '*.')."""
    name = wire.text_name(raw)
    if name is None or "." not in name:
        return None
    bare = name[2:] if name.startswith("*.") else name
    if not bare.replace("-", "").replace(".", "").replace("_", "").isalnum():
        return None
    return name


def _subject_cn(data: bytes, p: int, end: int, out: list[str]) -> None:
    """Append the CNs of a Name (SEQUENCE OF SET OF AttributeTypeAndValue) at data[p:end]."""
    budget = 32
    while p < end and budget > 0:
        budget -= 1
        rdn = tlv(data, p, end)
        if rdn is None or rdn[0] != 0x31:
            return
        q, rend = rdn[1], min(rdn[2], end)
        while q < rend and budget > 0:
            budget -= 1
            atv = tlv(data, q, rend)
            if atv is None or atv[0] != 0x30:
                return
            oid = tlv(data, atv[1], rend)
            if oid is not None and oid[0] == 0x06 and data[oid[1] : oid[2]] == _CN:
                val = tlv(data, oid[2], rend)
                if val is not None and val[0] in _STRINGS and val[2] <= rend:
                    name = _host(bytes(data[val[1] : val[2]]))
                    if name is not None and len(out) < MAX_NAMES:
                        out.append(name)
            q = atv[2]
        p = rdn[2]


def _san(data: bytes, p: int, end: int, out: list[str]) -> None:
    """Append the dNSNames of a GeneralNames SEQUENCE at data[p:end]."""
    seq = tlv(data, p, end)
    if seq is None or seq[0] != 0x30:
        return
    q, send = seq[1], min(seq[2], end)
    for _ in range(64):
        gn = tlv(data, q, send)
        if gn is None or gn[2] > send:
            return
        if gn[0] == 0x82:
            name = _host(bytes(data[gn[1] : gn[2]]))
            if name is not None and name not in out and len(out) < MAX_NAMES:
                out.append(name)
        q = gn[2]


def cert_names(data: bytes, off: int = 0, stop: int | None = None) -> list[str]:
    """Host names of the DER certificate at data[off:stop]: subject CN first, then dNSNames.

    An empty list when the bytes are no certificate or end before the subject.
    """
    end = len(data) if stop is None else min(stop, len(data))
    out: list[str] = []
    cert = tlv(data, off, end)
    if cert is None or cert[0] != 0x30:
        return out
    tbs = tlv(data, cert[1], end)
    if tbs is None or tbs[0] != 0x30:
        return out
    p, tend = tbs[1], min(tbs[2], end)
    # version [0] (optional), serial, signature, issuer, validity, subject, spki
    field = 0
    budget = _BUDGET
    while p < tend and budget > 0:
        budget -= 1
        el = tlv(data, p, tend)
        if el is None:
            return out
        tag, v, vend = el
        if field == 0 and tag == 0xA0:  # explicit version: not counted among the fields
            p = vend
            continue
        if field == 4 and tag == 0x30:  # subject
            if vend > tend:
                return out  # cut before the subject's end
            _subject_cn(data, v, vend, out)
        elif tag == 0xA3:  # extensions [3] EXPLICIT SEQUENCE OF Extension
            _extensions(data, v, min(vend, tend), out)
            return out
        field += 1
        p = vend
    return out


def _extensions(data: bytes, p: int, end: int, out: list[str]) -> None:
    seq = tlv(data, p, end)
    if seq is None or seq[0] != 0x30:
        return
    q, send = seq[1], min(seq[2], end)
    for _ in range(64):
        ext = tlv(data, q, send)
        if ext is None or ext[0] != 0x30:
            return
        oid = tlv(data, ext[1], send)
        if oid is not None and oid[0] == 0x06 and data[oid[1] : oid[2]] == _SAN:
            r = oid[2]
            nxt = tlv(data, r, send)
            if nxt is not None and nxt[0] == 0x01:  # critical BOOLEAN
                r = nxt[2]
                nxt = tlv(data, r, send)
            if nxt is not None and nxt[0] == 0x04:  # extnValue OCTET STRING
                _san(data, nxt[1], min(nxt[2], send), out)
            return
        q = ext[2]
