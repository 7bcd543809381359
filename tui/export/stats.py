"""What each exporter sent and what it could not (shown as metrics and in the final log line)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ExportStats:
    """Records (JSONL lines, IPFIX data records) sent and not sent, and failed operations."""

    sent: int = 0
    failed: int = 0
    errors: int = 0  # failed operations: a send, a write, a bind
