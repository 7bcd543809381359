"""A pcapng writer in plain ``struct``: section header, interfaces, enhanced packet blocks.

Why not scapy: its writer builds a packet object per frame and is two orders of
magnitude slower; a snapshot of the whole ring must be written in a blink.  The
format (draft-ietf-opsawg-pcapng) is small: every block is ``type, length, body,
length`` padded to 32 bits, options are ``code, length, value`` padded likewise.
Everything is written little-endian; readers take the order from the section header.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from tui.snapshot import IN, OUT

SHB = 0x0A0D0D0A
IDB = 0x00000001
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_END = 0
OPT_COMMENT = 1
SHB_OS = 3
SHB_USERAPPL = 4
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
EPB_FLAGS = 2

# epb_flags bits 0-1: 01 inbound, 10 outbound (00: not known)
FLAG_INBOUND = 1
FLAG_OUTBOUND = 2

DEFAULT_SNAPLEN = 262_144  # what tcpdump and Wireshark use; raised when a frame is longer

_EPB_HEAD = struct.Struct("<IIIIIII")  # type, length, interface, ts high, ts low, captured, original
_U32 = struct.Struct("<I")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")  # indexed by length % 4


def option(code: int, value: bytes) -> bytes:
    """One option: code, length, value padded to 32 bits."""
    return struct.pack("<HH", code, len(value)) + value + _PAD[len(value) % 4]


_INBOUND = option(EPB_FLAGS, _U32.pack(FLAG_INBOUND))  # the same bytes for every packet
_OUTBOUND = option(EPB_FLAGS, _U32.pack(FLAG_OUTBOUND))


def _text(value: str, limit: int = 65_000) -> bytes:
    """UTF-8 for a string option (options hold at most 65,535 bytes)."""
    raw = value.encode("utf-8", "replace")
    return raw[:limit]


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + _U32.pack(length)


def section_header(comment: str | None = None, os_name: str | None = None, app: str | None = None) -> bytes:
    """A section header block (length of the section unspecified, as for a stream)."""
    opts = b""
    if comment:
        opts += option(OPT_COMMENT, _text(comment))
    if os_name:
        opts += option(SHB_OS, _text(os_name))
    if app:
        opts += option(SHB_USERAPPL, _text(app))
    if opts:
        opts += option(OPT_END, b"")
    return _block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts)


def interface_description(
    linktype: int, name: str | None = None, snaplen: int = DEFAULT_SNAPLEN, description: str | None = None
) -> bytes:
    """An interface description block with nanosecond timestamps (if_tsresol = 9)."""
    opts = b""
    if name:
        opts += option(IF_NAME, _text(name))
    if description:
        opts += option(IF_DESCRIPTION, _text(description))
    opts += option(IF_TSRESOL, b"\x09") + option(OPT_END, b"")
    return _block(IDB, struct.pack("<HHI", linktype, 0, snaplen) + opts)


class PcapngWriter:
    """Writes one section to a binary file: call ``add_interface`` before its packets."""

    def __init__(
        self, fh: BinaryIO, comment: str | None = None, os_name: str | None = None, app: str | None = None
    ) -> None:
        self._fh = fh
        self.interfaces = 0
        self.packets = 0
        self.bytes = 0
        fh.write(section_header(comment, os_name, app))

    def add_interface(
        self, linktype: int, name: str | None = None, snaplen: int = DEFAULT_SNAPLEN, description: str | None = None
    ) -> int:
        """Describe an interface; returns the id its packets must carry."""
        self._fh.write(interface_description(linktype, name, snaplen, description))
        self.interfaces += 1
        return self.interfaces - 1

    def write_packet(
        self,
        interface: int,
        ts_ns: int,
        data: bytes,
        orig_len: int | None = None,
        direction: int | None = None,
        comment: str | None = None,
    ) -> None:
        """One enhanced packet block; ``direction`` is tui.snapshot.IN/OUT or None (unknown)."""
        if not 0 <= interface < self.interfaces:
            raise ValueError(f"interface {interface} was never described")
        cap = len(data)
        orig = cap if orig_len is None or orig_len < cap else orig_len
        opts = b""
        if comment:
            opts = option(OPT_COMMENT, _text(comment))
        if direction == IN:
            opts += _INBOUND
        elif direction == OUT:
            opts += _OUTBOUND
        if opts:
            opts += b"\x00\x00\x00\x00"
        pad = _PAD[cap % 4]
        length = 32 + cap + len(pad) + len(opts)
        ts = ts_ns if ts_ns > 0 else 0
        w = self._fh.write
        w(_EPB_HEAD.pack(EPB, length, interface, ts >> 32, ts & 0xFFFFFFFF, cap, orig))
        w(data)
        w(pad + opts + _U32.pack(length))
        self.packets += 1
        self.bytes += orig
