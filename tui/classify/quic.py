"""QUIC Initial packets: version, and the ClientHello inside, decrypted with the published keys.

A client's Initial packets are protected with keys anyone can derive from the
Destination Connection ID (RFC 9001 section 5.2, RFC 9369 for QUIC v2), so a monitor
can read the TLS ClientHello and its SNI.  AES comes from ``cryptography``; the key
schedule (HKDF with SHA-256) is a few lines of ``hmac``.  Nothing here raises on bad
bytes: a packet that does not decrypt is simply not an Initial we can read.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

V1 = 0x00000001
V2 = 0x6B3343CF

_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
_SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
_SALT_D29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")
_SALT_D23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")
_SALT_D22 = bytes.fromhex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a")


def _salt(version: int) -> bytes | None:
    if version == V1:
        return _SALT_V1
    if version == V2:
        return _SALT_V2
    if 0xFF00001D <= version <= 0xFF000022:
        return _SALT_D29
    if 0xFF000017 <= version <= 0xFF00001C or version in (0xFACEB002, 0xFACEB00E):
        return _SALT_D23
    if version in (0xFF000016, 0xFACEB001):
        return _SALT_D22
    return None


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return hmac.new(secret, info + b"\x01", hashlib.sha256).digest()[:length]


def client_keys(version: int, dcid: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(key, iv, header-protection key) of a client's Initial packets."""
    salt = _salt(version)
    if salt is None:
        return None
    initial = hmac.new(salt, dcid, hashlib.sha256).digest()
    client = _expand_label(initial, b"client in", 32)
    v2 = version == V2
    return (
        _expand_label(client, b"quicv2 key" if v2 else b"quic key", 16),
        _expand_label(client, b"quicv2 iv" if v2 else b"quic iv", 12),
        _expand_label(client, b"quicv2 hp" if v2 else b"quic hp", 16),
    )


def _varint(data: bytes, p: int) -> tuple[int, int]:
    """(value, next offset); (-1, -1) past the end."""
    if p >= len(data):
        return -1, -1
    first = data[p]
    ln = 1 << (first >> 6)
    if p + ln > len(data):
        return -1, -1
    v = first & 0x3F
    for i in range(1, ln):
        v = (v << 8) | data[p + i]
    return v, p + ln


def long_header(data: bytes, off: int) -> tuple[int, bytes] | None:
    """(version, DCID) of a QUIC long-header packet at ``off`` (also version negotiation), else None."""
    n = len(data)
    if n - off < 7 or not data[off] & 0x80:
        return None
    version = int.from_bytes(data[off + 1 : off + 5], "big")
    dlen = data[off + 5]
    if dlen > 20 or off + 6 + dlen >= n:
        return None
    slen = data[off + 6 + dlen]
    if slen > 20 or off + 7 + dlen + slen > n:
        return None
    return version, bytes(data[off + 6 : off + 6 + dlen])


def is_gquic(version: int) -> bool:
    """Google QUIC versions Q0xx / T0xx (ASCII in the version field)."""
    return version >> 24 in (0x51, 0x54) and all(0x30 <= (version >> s) & 0xFF <= 0x39 for s in (16, 8, 0))


def initial_crypto(data: bytes, off: int, keys_cache: dict) -> tuple[int, list[tuple[int, bytes]]] | None:
    """Decrypt a client Initial at ``off``: (version, [(crypto offset, bytes), ...]), or None.

    ``keys_cache`` (per flow) keeps derived keys by (version, DCID): a ClientHello
    spread over several Initials costs one key derivation.
    """
    n = len(data)
    if n - off < 7:
        return None
    first = data[off]
    if first & 0xC0 != 0xC0:
        return None
    version = int.from_bytes(data[off + 1 : off + 5], "big")
    ptype = (first >> 4) & 3
    if ptype != (1 if version == V2 else 0):
        return None
    p = off + 5
    dlen = data[p]
    if dlen > 20:
        return None
    dcid = bytes(data[p + 1 : p + 1 + dlen])
    p += 1 + dlen
    if p >= n:
        return None
    slen = data[p]
    if slen > 20:
        return None
    p += 1 + slen
    tlen, p = _varint(data, p)
    if tlen < 0:
        return None
    p += tlen
    length, p = _varint(data, p)
    if length < 20 or p + length > n:
        return None
    ck = (version, dcid)
    keys = keys_cache.get(ck)
    if keys is None:
        keys = client_keys(version, dcid)
        if keys is None:
            return None
        if len(keys_cache) < 4:
            keys_cache[ck] = keys
    key, iv, hp = keys
    sample = bytes(data[p + 4 : p + 20])
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    first_clear = first ^ (mask[0] & 0x0F)
    pn_len = (first_clear & 3) + 1
    pn_bytes = bytes(b ^ m for b, m in zip(data[p : p + pn_len], mask[1 : 1 + pn_len], strict=True))
    header = bytes([first_clear]) + bytes(data[off + 1 : p]) + pn_bytes
    pn = int.from_bytes(pn_bytes, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big"), strict=True))
    try:
        plain = AESGCM(key).decrypt(nonce, bytes(data[p + pn_len : p + length]), header)
    except (InvalidTag, ValueError):
        return None
    return version, crypto_frames(plain)


def crypto_frames(plain: bytes) -> list[tuple[int, bytes]]:
    """The CRYPTO frames of a decrypted Initial payload (PADDING, PING and ACK skipped)."""
    out: list[tuple[int, bytes]] = []
    p = 0
    n = len(plain)
    while p < n and len(out) < 64:
        ftype = plain[p]
        if ftype == 0x00 or ftype == 0x01:
            p += 1
        elif ftype == 0x06:
            coff, p = _varint(plain, p + 1)
            clen, p = _varint(plain, p)
            if coff < 0 or clen < 0 or p + clen > n:
                break
            out.append((coff, plain[p : p + clen]))
            p += clen
        elif ftype in (0x02, 0x03):
            q = p + 1
            vals = []
            for _ in range(4):
                v, q = _varint(plain, q)
                if v < 0:
                    return out
                vals.append(v)
            for _ in range(min(vals[2], 64) * 2):  # ranges: gap, length
                _v, q = _varint(plain, q)
                if q < 0:
                    return out
            if ftype == 0x03:
                for _ in range(3):
                    _v, q = _varint(plain, q)
                    if q < 0:
                        return out
            p = q
        else:
            break
    return out


def gquic_sni(data: bytes, off: int) -> str | bool | None:
    """SNI from a gQUIC CHLO in clear (versions up to Q046); False when there is no CHLO."""
    window = data[off : off + 1400]
    i = window.find(b"CHLO")
    if i < 0 or i + 8 > len(window):
        return False
    ntags = int.from_bytes(window[i + 4 : i + 6], "little")
    if ntags > 64:
        return None
    tags = i + 8
    values = tags + ntags * 8
    prev = 0
    for k in range(ntags):
        t = tags + k * 8
        if t + 8 > len(window):
            return None
        tag = window[t : t + 4]
        end = int.from_bytes(window[t + 4 : t + 8], "little")
        if tag == b"SNI\x00":
            raw = window[values + prev : values + end]
            if 0 < len(raw) <= 253 and values + end <= len(window):
                try:
                    return raw.decode("ascii").lower()
                except UnicodeDecodeError:
                    return None
            return None
        prev = end
    return None
