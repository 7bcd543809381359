"""A source built around another one: the frames pass through it, everything else is the inner's."""

from __future__ import annotations

import threading
from collections.abc import Iterator


class WrappedSource:
    """Delegates the Source protocol to ``inner``; subclasses change ``batches`` (or the name)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.name = inner.name

    @property
    def end_reason(self) -> str | None:
        return self.inner.end_reason

    @property
    def uses_ring(self) -> bool:
        return getattr(self.inner, "uses_ring", False)

    def batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        return self.inner.batches(stop)

    def stats(self) -> tuple[int, int]:
        return self.inner.stats()

    def interfaces(self) -> dict[int, tuple[str, int]]:
        return self.inner.interfaces()

    def close(self) -> None:
        self.inner.close()
