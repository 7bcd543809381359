"""HTTP/1.x (RFC 9112): the request's Host, method and User-Agent, the response's Content-Type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify import wire
from tui.classify.detectors import filexfer

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState

HTTP_FIRST = frozenset(b"GPHDOCT")  # first bytes of a request or a response
# Media by its Content-Type (RFC 6838 top-level types video/ and audio/; MPEG as application/);
# HLS and DASH manifests (application/vnd.apple.mpegurl, application/dash+xml) are text that
# names the segments, and count as web, as nDPI counts them; the segments are video/ or audio/.
_VIDEO_TYPES = ("video/", "audio/", "application/mpeg", "application/vnd.ms-sstr")
_DOWNLOAD_TYPES = (
    "application/octet-stream",
    "application/zip",
    "application/x-msdownload",
    "application/x-gzip",
    "application/gzip",
    "application/x-tar",
    "application/x-rar",
    "application/x-7z",
    "application/vnd.android.package-archive",
    "application/x-debian-package",
    "application/x-iso9660-image",
    "application/x-bittorrent",
    "application/x-dosexec",
    "application/x-msdos-program",
    "application/x-executable",
    "application/java-archive",
    "application/vnd.microsoft.portable-executable",
)  # what is saved to disk, not shown: a PDF is a page's content (and web to nDPI too)
# What a request path says of a response that has no Content-Type (or none seen)
_VIDEO_PATHS = (".ts", ".m4s", ".mp4", ".webm", ".flv", ".m4a", ".mp3", ".aac", ".m4v", ".mkv")


class HttpHandling:
    """HTTP handling of the Classifier (a mixin: it uses the classifier's verdict and name helpers)."""

    def _http_request(self, flow, st: FlowState, req: tuple, from_src: bool) -> None:
        method, target, host, ua = req
        kind = "http"
        if method == "CONNECT":
            kind = "http_connect"
        elif target.startswith(("http://", "https://")):
            kind = "http_proxy"
        if host:
            self._learn_name(flow, st, host, from_src)
        if filexfer.tracker_request(target):
            if host:
                self._learn_name(flow, st, host, from_src)
            self._signature(flow, st, "bittorrent", "http tracker")
            return
        if ua and self._agent_prefixes and ua.lower().startswith(self._agent_prefixes):
            low = ua.lower()
            for prefix, rule in self._agents:  # which one: only for a client that is one
                if low.startswith(prefix):
                    st.sig = rule
                    st.sig_detail = ""
                    flow.decided = True
                    return
        path = target.split("?", 1)[0].lower()
        if path.endswith(_VIDEO_PATHS):
            st.content = self._sig["http_video"]
        st.http_wait = True
        self._carrier(flow, st, kind, "http host" if host else "http request", decided=False)

    def _http_response(self, flow, st: FlowState, pl: bytes) -> None:
        resp = wire.http_response(pl, 0)
        st.http_wait = False
        if resp is not None and resp[1]:
            ctype = resp[1]
            if ctype.startswith(_VIDEO_TYPES):
                st.content = self._sig["http_video"]
            elif ctype.startswith(_DOWNLOAD_TYPES):
                st.content = self._sig["http_download"]
            else:  # the response says what it is: the path's guess no longer counts
                st.content = None
        i = pl.find(b"isposition:", 0, 4096) if resp is not None else -1
        if i > 0 and pl[i + 11 : i + 40].lower().lstrip().startswith(b"attachment"):
            st.content = self._sig["http_download"]  # RFC 6266: to be saved as a file
        flow.decided = True
