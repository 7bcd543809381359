"""A capture filter applied in user space, for file replay (live capture filters in the kernel).

libpcap's own ``bpf_filter`` interpreter runs the same compiled program the kernel
would, so `-f` means the same thing on a file as on an interface.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator

from tui.sources.live import BpfError, compile_bpf
from tui.sources.wrapped import WrappedSource


class _BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


def _libpcap() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise BpfError("capture filters need libpcap (apt-get install libpcap0.8)") from None
    lib.bpf_filter.argtypes = [ctypes.POINTER(_BpfInsn), ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    lib.bpf_filter.restype = ctypes.c_uint
    return lib


class BpfMatcher:
    """Compiled filter per link type; ``match(frame)`` says whether it passes."""

    def __init__(self, expr: str) -> None:
        self.expr = expr
        self._lib = _libpcap()
        self._progs: dict[int, ctypes.Array] = {}
        compile_bpf(expr)  # fail early on a bad expression

    def _prog(self, linktype: int) -> ctypes.Array:
        prog = self._progs.get(linktype)
        if prog is None:
            insns = compile_bpf(self.expr, linktype)
            prog = (_BpfInsn * len(insns))(*[_BpfInsn(*i) for i in insns])
            self._progs[linktype] = prog
        return prog

    def match(self, frame: tuple) -> bool:
        data = frame[4]
        return bool(self._lib.bpf_filter(self._prog(frame[5]), data, frame[3], len(data)))


class FilteredSource(WrappedSource):
    """Wraps a file source and passes on only the frames the filter accepts."""

    def __init__(self, inner, expr: str) -> None:
        super().__init__(inner)
        self.matcher = BpfMatcher(expr)

    def batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        match = self.matcher.match
        for batch in self.inner.batches(stop):
            yield [f for f in batch if match(f)]
