"""File replay: every sample capture counted as Wireshark counts it, damage reported, pcapng variants.

Ground truth for the samples is capinfos (Wireshark's own reader): the number of packets
and the sum of their original lengths, for every file in ../shared/pcaps.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest
from conftest import PCAPS, all_sample_pcaps

from tui.engine import Engine
from tui.snapshot import IN, OUT
from tui.sources.pcapfile import CaptureFileError, PcapSource


def _skip(reason: str) -> None:
    print(f"SKIP: {reason}", file=sys.stderr)
    pytest.skip(reason)


@cache
def capinfos_counts() -> dict[str, tuple[int, int]]:
    """file -> (packets, bytes) from one capinfos run over every sample."""
    files = [str(p) for p in all_sample_pcaps()]
    out = subprocess.run(
        ["capinfos", "-T", "-r", "-c", "-d", "-M", *files], capture_output=True, text=True, timeout=120
    ).stdout
    counts = {}
    for line in out.splitlines():
        name, packets, size = line.split("\t")
        counts[name] = (int(packets), int(size))
    return counts


def replay(path: str | Path, **kw) -> tuple[Engine, PcapSource]:
    engine = Engine(idle_timeout=None)
    src = PcapSource(str(path), **kw)
    engine.run(src)
    return engine, src


def test_sample_captures_present(pcaps_dir):
    """Says (printed) when ../shared/pcaps is absent, so the replay tests below are not silently empty."""
    assert all_sample_pcaps()


@pytest.mark.parametrize("path", all_sample_pcaps(), ids=lambda p: str(p.relative_to(PCAPS)))
def test_replay_totals_equal_capinfos(path, pcaps_dir):
    if shutil.which("capinfos") is None:
        _skip("capinfos (Wireshark) is not installed")
    expected = capinfos_counts().get(str(path))
    assert expected is not None, "capinfos did not report this file"
    engine, _src = replay(path)
    snap = engine.snapshot(top=0)
    assert (snap.packets, snap.bytes) == expected
    assert sum(c.packets for c in snap.socket_kinds.values()) == snap.packets
    assert sum(c.bytes for c in snap.socket_kinds.values()) == snap.bytes
    assert snap.state == "ended"


def test_pre_2_3_pcap_lengths_swapped_like_libpcap(pcaps_dir):
    """fuzz-2021-10-13.pcap: format 2.0, lengths swapped; one packet, then two stray bytes."""
    path = pcaps_dir / "ndpi" / "fuzz-2021-10-13.pcap"
    src = PcapSource(str(path))
    frames = list(src.frames())
    assert [(f[3], len(f[4])) for f in frames] == [(524_501, 197)]
    assert src.warning is not None
    assert "offset 237" in src.warning and "1 packets read" in src.warning


# ------------------------------------------------------------- damaged files
def _records(data: bytes) -> list[int]:
    """Offsets of the record headers of a little-endian microsecond pcap."""
    offs, off = [], 24
    while off < len(data):
        offs.append(off)
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    return offs


@pytest.fixture
def curl_pcap(pcaps_dir) -> bytes:
    data = (pcaps_dir / "ndpi" / "443-curl.pcap").read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    return data


def test_truncated_mid_packet_reports_offset_and_packets_read(curl_pcap, tmp_path):
    offs = _records(curl_pcap)
    cut = offs[10] + 16 + 5  # five bytes into the data of the 11th packet
    path = tmp_path / "cut.pcap"
    path.write_bytes(curl_pcap[:cut])
    engine, _src = replay(path)
    snap = engine.snapshot()
    assert snap.packets == 10
    assert snap.bytes == sum(struct.unpack_from("<I", curl_pcap, o + 12)[0] for o in offs[:10])
    assert f"offset {offs[10]}" in snap.message and "10 packets read" in snap.message
    assert snap.state == "ended"


def test_truncated_mid_record_header(curl_pcap, tmp_path):
    offs = _records(curl_pcap)
    path = tmp_path / "cut.pcap"
    path.write_bytes(curl_pcap[: offs[3] + 7])
    src = PcapSource(str(path))
    assert len(list(src.frames())) == 3
    assert f"record header cut short at offset {offs[3]}" in src.warning


def test_corrupt_record_length(curl_pcap, tmp_path):
    offs = _records(curl_pcap)
    bad = bytearray(curl_pcap)
    struct.pack_into("<I", bad, offs[5] + 8, 0x7FFFFFF0)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(bad))
    src = PcapSource(str(path))
    assert len(list(src.frames())) == 5
    assert f"record at offset {offs[5]} claims {0x7FFFFFF0} bytes" in src.warning
    assert "5 packets read" in src.warning


def test_truncated_pcapng_block(pcaps_dir, tmp_path):
    data = (pcaps_dir / "ndpi" / "http.pcapng").read_bytes()
    whole = list(PcapSource(str(pcaps_dir / "ndpi" / "http.pcapng")).frames())
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[: len(data) * 2 // 3])
    src = PcapSource(str(path))
    got = list(src.frames())
    assert 0 < len(got) < len(whole)
    assert "cut short" in src.warning and f"{len(got)} packets read" in src.warning
    assert [f[4] for f in got] == [f[4] for f in whole[: len(got)]]


def test_pcapng_bad_block_length(tmp_path):
    data = bytearray(_pcapng_two_interfaces())
    # The first packet block follows the section header and the two interface blocks.
    off = 0
    for _ in range(3):
        off += struct.unpack_from("<I", data, off + 4)[0]
    struct.pack_into("<I", data, off + 4, 13)  # not a multiple of 4
    path = tmp_path / "bad.pcapng"
    path.write_bytes(bytes(data))
    src = PcapSource(str(path))
    assert list(src.frames()) == []
    assert f"block at offset {off} has an invalid length 13" in src.warning


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "empty file"), (b"GET / HTTP/1.1\r\n\r\n", "not a pcap or pcapng file"), (b"\xd4\xc3\xb2\xa1\x02", "")],
)
def test_not_a_capture_is_a_clear_error(tmp_path, content, words):
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    if content[:4] == b"\xd4\xc3\xb2\xa1":  # a pcap magic and nothing else: read, then stop
        src = PcapSource(str(path))
        assert list(src.frames()) == []
        assert "file header cut short at offset 0" in src.warning
        return
    with pytest.raises(CaptureFileError, match=words):
        PcapSource(str(path))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CaptureFileError, match="cannot open"):
        PcapSource(str(tmp_path / "nope.pcap"))


# ------------------------------------------------------------------ pcapng
def _block(btype: int, body: bytes, e: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _opt(code: int, value: bytes, e: str = "<") -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _shb(e: str = "<") -> bytes:
    return _block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def _idb(linktype: int, name: str, tsresol: int | None, e: str = "<") -> bytes:
    opts = _opt(2, name.encode(), e)
    if tsresol is not None:
        opts += _opt(9, bytes([tsresol]), e)
    return _block(1, struct.pack(e + "HHI", linktype, 0, 0) + opts + _opt(0, b"", e), e)


def _epb(ifid: int, ticks: int, data: bytes, orig: int, flags: int | None, e: str = "<") -> bytes:
    body = struct.pack(e + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig) + data
    body += b"\0" * (-len(body) % 4)
    if flags is not None:
        body += _opt(2, struct.pack(e + "I", flags), e) + _opt(0, b"", e)
    return _block(6, body, e)


ETH_FRAME = bytes.fromhex("0200000000020200000000010800") + bytes.fromhex(
    "4500001c0001000040110000c0000201c00002020035003500080000"
)
RAW_FRAME = bytes.fromhex("6000000000083a40" + "20010db8" + "0" * 22 + "01" + "20010db8" + "0" * 22 + "02") + bytes(
    [128, 0, 0, 0, 0, 1, 0, 1]
)
NS_TS = 1_700_000_000_123_456_789  # nanoseconds: more digits than a float holds


def _pcapng_two_interfaces() -> bytes:
    """Section 1 (little-endian): eth0 in ns, tun0 in µs.  Section 2 (big-endian): one Ethernet interface."""
    le = (
        _shb()
        + _idb(1, "eth0", 9)
        + _idb(101, "tun0", None)
        + _epb(0, NS_TS, ETH_FRAME, len(ETH_FRAME), 1)  # inbound
        + _epb(1, NS_TS // 1000 + 5, RAW_FRAME, 1500, 2)  # outbound; snapped from 1500
        + _epb(0, NS_TS + 1, ETH_FRAME, len(ETH_FRAME), None)
    )
    be = _shb(">") + _idb(1, "wan0", 6, ">") + _epb(0, 1_700_000_001_000_001, ETH_FRAME, 60, 2, ">")
    return le + be


def test_pcapng_interfaces_resolutions_and_directions(tmp_path):
    path = tmp_path / "multi.pcapng"
    path.write_bytes(_pcapng_two_interfaces())
    engine, src = replay(path)
    frames = list(PcapSource(str(path)).frames())
    assert [(f[0], f[1], f[2], f[3], f[5]) for f in frames] == [
        (NS_TS, 0, IN, len(ETH_FRAME), 1),
        ((NS_TS // 1000 + 5) * 1000, 1, OUT, 1500, 101),
        (NS_TS + 1, 0, IN, len(ETH_FRAME), 1),
        (1_700_000_001_000_001_000, 2, OUT, 60, 1),
    ]
    assert src.interfaces() == {0: ("eth0", 1), 1: ("tun0", 101), 2: ("wan0", 1)}
    snap = engine.snapshot()
    assert snap.packets == 4 and snap.protocols["IPv6"].packets == 1 and snap.protocols["UDP"].packets == 3
    assert dict(snap.interfaces) == src.interfaces()
    if shutil.which("tshark") is None:
        _skip("tshark is not installed (the file was checked against the expected values only)")
    out = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split("\n")
    theirs = [line.split("\t") for line in out if line]
    assert len(theirs) == len(frames)
    for (epoch, length), f in zip(theirs, frames, strict=True):
        sec, _, frac = epoch.partition(".")
        assert int(sec) * 10**9 + int(frac.ljust(9, "0")[:9]) == f[0]
        assert int(length) == f[3]


def test_replay_at_recorded_speed(tmp_path):
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    recs = b"".join(
        struct.pack("<IIII", 1000, usec, len(ETH_FRAME), len(ETH_FRAME)) + ETH_FRAME for usec in (0, 150_000, 300_000)
    )
    path = tmp_path / "paced.pcap"
    path.write_bytes(hdr + recs)
    t0 = time.monotonic()
    fast, _ = replay(path)
    fast_s = time.monotonic() - t0
    t0 = time.monotonic()
    paced, _ = replay(path, speed=1.0)
    paced_s = time.monotonic() - t0
    assert fast.snapshot().packets == paced.snapshot().packets == 3
    assert paced_s >= 0.28 and fast_s < paced_s
    assert paced.snapshot().duration_s == pytest.approx(0.3)
