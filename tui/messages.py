"""Messages that threads send the UI: typed, posted with ``post_message`` (which Textual
makes safe from any thread) and handled on the UI thread by ``on_<name>`` methods.

They replace ``call_from_thread`` calls wrapped in ``except Exception: pass``: a message
to a screen that has closed is simply not delivered (``post_message`` returns False), so
a worker never has to guess whether the app is still there.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.netns_list import Namespace


@dataclass
class LinksChanged(Message):
    """The netlink watcher saw a link appear, change or go: list the links again."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LinksChanged)  # a burst of changes is one reload


@dataclass
class NamespacesListed(Message):
    """The other network namespaces and their interfaces, as a worker listed them."""

    namespaces: list[Namespace] | None  # None: the listing failed (see ``error``)
    error: str | None = None


@dataclass
class SnapshotSaved(Message):
    """A snapshot save finished (or failed): what to tell the user."""

    text: str
    severity: str  # a Textual notification severity: "information" or "error"


@dataclass
class AttributionUnavailable(Message):
    """The attributor could not start (no sock_diag, no namespace): capture goes on without it."""

    error: str
