"""The Textual app: wires the picker and the monitor, and owns the engine's lifetime.

``run_app(args)`` is what `sockscope` (no sub-command) runs. A capture is an Engine plus
a source built the way `sockscope report` builds them (tui.capture_setup.build_engine /
open_source); switching interface stops the old engine and starts a new one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from importlib import resources
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.attribution.attributor import Attributor
from tui.capture_setup import build_engine, open_source
from tui.capture_watch import CaptureWatch
from tui.engine import Engine
from tui.interfaces import LinkInfo, list_links
from tui.messages import AttributionUnavailable, SnapshotSaved
from tui.screens.help import HelpScreen, bindings_of
from tui.screens.monitor import MonitorScreen, save_and_describe
from tui.screens.picker import PickerScreen
from tui.sources.errors import SourceError


def demo_capture_path() -> str:
    """The sample capture shipped inside the package (see tests/make_demo_capture.py)."""
    return str(resources.files("tui") / "data" / "demo.pcapng")


class SockscopeApp(App):
    """sockscope's terminal UI."""

    TITLE = "sockscope"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "restart_capture", "Restart capture", show=False),
    ]
    CSS = """
    Screen { background: $background; }
    """

    def __init__(
        self,
        args: argparse.Namespace,
        engine: Engine | None = None,
        watch_links: bool = True,
        links: Callable[[], list[LinkInfo]] | None = None,
        namespaces: Callable[[], list] | None = None,
        lookup: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.args = args
        self.engine: Engine | None = engine
        self.watch_links = watch_links
        self.links = links or list_links  # what the picker lists (a fixed list in picture tests)
        self.namespaces = namespaces  # other namespaces for the picker (None: tui.netns_list)
        self.lookup = lookup  # reverse DNS for `n` (None: the system resolver)
        self.attributor: Attributor | None = None  # who owns the live capture's flows
        self.netns: str | None = getattr(args, "netns", None)  # namespace of the live capture
        self.exit_svg: str | None = None
        self.saved_on_exit: tuple[str, str] | None = None
        self.capture_watch = CaptureWatch()  # interface gone/back, capture failed or died

    # ----------------------------------------------------------- start
    def on_mount(self) -> None:
        self.set_interval(1.0, self._watch_capture)
        if self.engine is not None:  # handed in ready-made (tests, scripts)
            self.push_screen(self._monitor(self.engine))
        elif getattr(self.args, "read", None):
            self.start_file(self.args.read)
        elif getattr(self.args, "interface", None):
            self.start_live(self.args.interface, self.netns)
        else:
            self.push_screen(self._picker())

    def _monitor(self, engine: Engine) -> MonitorScreen:
        return MonitorScreen(
            engine,
            snapshot_dir=getattr(self.args, "snapshot_dir", "snapshots") or "snapshots",
            attributor=self.attributor if self.attributor is not None and self.attributor.engine is engine else None,
            lookup=self.lookup,
        )

    def _picker(self, **kw) -> PickerScreen:
        return PickerScreen(watch=self.watch_links, links=self.links, namespaces=self.namespaces, **kw)

    def _new_capture(self, live: bool, **override) -> Engine:
        """Build and start an engine on the source the options (with ``override``) name."""
        opts = argparse.Namespace(**{**vars(self.args), **override})
        engine = build_engine(opts, live=live)
        source = open_source(opts, default_speed=1.0)
        engine.start(source, bpf=opts.filter)
        return engine

    def start_file(self, path: str) -> None:
        try:
            engine = self._new_capture(live=False, read=path, interface=None)
        except (SourceError, ValueError, OSError) as exc:
            self.exit(return_code=1, message=f"sockscope: {exc}")
            return
        self._switch_to(engine)

    def start_live(self, iface: str, netns: str | None = None) -> None:
        """Capture on ``iface`` (inside namespace ``netns`` when given), with process
        attribution in that namespace; on failure stay in (or go to) the picker with the reason."""
        try:
            engine = self._new_capture(live=True, interface=iface, read=None, netns=netns)
        except (SourceError, ValueError, OSError) as exc:
            self._picker_message(str(exc))
            return
        self.netns = netns
        self._switch_to(engine, Attributor(engine, netns))

    def _picker_message(self, text: str) -> None:
        screen = self.screen
        if isinstance(screen, PickerScreen):
            screen.show_message(text, "error")
            self.notify(text, severity="error", timeout=8)
        else:
            self.push_screen(self._picker(message=text))

    def _switch_to(self, engine: Engine, attributor: Attributor | None = None) -> None:
        old, self.engine = self.engine, engine
        old_att, self.attributor = self.attributor, attributor
        if old_att is not None:
            old_att.stop(timeout=2.0, final=False)
        if old is not None:
            old.stop(timeout=2.0)
        if attributor is not None:
            self._start_attribution(attributor)
        self.run_worker(self._replace_screens(engine), exclusive=True, group="screens")

    def _start_attribution(self, attributor: Attributor) -> None:
        """Start the attributor off the UI thread: its first pass walks /proc (and may enter
        a namespace), which must not hold the screen."""

        def start() -> None:
            attributor.start()
            if attributor.error:
                self.post_message(AttributionUnavailable(attributor.error))

        self.run_worker(start, thread=True, group="attribution", exit_on_error=False)

    def on_attribution_unavailable(self, message: AttributionUnavailable) -> None:
        self.notify(f"No process attribution: {message.error}", severity="warning", timeout=10)

    def on_snapshot_saved(self, message: SnapshotSaved) -> None:
        self.notify(message.text, severity=message.severity, timeout=8)

    def stop_attribution(self) -> None:
        att, self.attributor = self.attributor, None
        if att is not None:
            att.stop(timeout=2.0, final=False)

    async def _replace_screens(self, engine: Engine) -> None:
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.push_screen(self._monitor(engine))

    def open_picker(self, back: bool = False) -> None:
        if not isinstance(self.screen, PickerScreen):
            self.push_screen(self._picker(back=back))

    # ------------------------------------------------------- faults
    def _watch_capture(self) -> None:
        notice = self.capture_watch.check(self.engine)
        if notice is not None:
            self.notify(notice.text, severity=notice.severity, timeout=30)

    def action_restart_capture(self) -> None:
        """After a failure or a removed interface: resume a live capture on the same engine
        (its counters go on), or replay a file from its start."""
        engine = self.engine
        if engine is None or engine.running:
            self.notify("The capture is running.", timeout=3)
            return
        if engine.source_kind == "file":
            self.start_file(getattr(self.args, "read", None) or engine.source_name)
            return
        iface = engine.source_name
        if self.netns is not None:  # a namespaced source is named IFACE@NAMESPACE
            iface = iface.rsplit("@", 1)[0]
        opts = argparse.Namespace(**{**vars(self.args), "interface": iface, "read": None, "netns": self.netns})
        try:
            source = open_source(opts, default_speed=1.0)
        except (SourceError, ValueError, OSError) as exc:
            self.notify(f"Cannot restart: {exc}", severity="error", timeout=10)
            return
        engine.start(source, bpf=getattr(opts, "filter", None))
        self.notify(f"Capturing on {engine.source_name} again; the counters go on.", timeout=5)

    # ---------------------------------------------------------- keys
    def action_help(self) -> None:
        self.push_screen(HelpScreen(bindings_of(self.screen, self), "Keys"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists every described key of the screen, beside Textual's own commands."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for node in (screen, self):
            for cls in type(node).__mro__:
                for b in cls.__dict__.get("BINDINGS", ()):
                    if not isinstance(b, Binding) or not b.description or b.description in seen:
                        continue
                    seen.add(b.description)
                    yield SystemCommand(
                        b.tooltip or b.description,
                        f"key: {b.key_display or b.key}",
                        _runner(node, b.action),
                    )

    async def action_quit(self) -> None:
        if getattr(self.args, "snapshot_on_exit", False) and self.engine is not None:
            try:
                self.exit_svg = self.export_screenshot()
            except Exception:
                self.exit_svg = None
        self.exit()


def _runner(node, action: str):
    async def run() -> None:
        await node.run_action(action)

    return run


def run_app(args: argparse.Namespace) -> int:
    """Run the monitor until the user quits; returns the process exit code."""
    if getattr(args, "demo", False):
        args.read = demo_capture_path()
    if getattr(args, "read", None):  # a bad file is a plain error, before the screen switches
        try:
            open_source(args, default_speed=1.0).close()
        except (SourceError, ValueError, OSError) as exc:
            print(f"sockscope: {exc}", file=sys.stderr)
            return 1
    app = SockscopeApp(args)
    try:
        code = app.run()
    finally:
        app.stop_attribution()
        engine = app.engine
        if engine is not None:
            engine.stop(timeout=2.0)
    if getattr(args, "snapshot_on_exit", False) and app.engine is not None:
        message, severity = save_and_describe(app.engine, args.snapshot_dir or "snapshots", app.exit_svg)
        print(f"sockscope: {message}", file=sys.stderr)
        if severity == "error":
            return 1
    return code if isinstance(code, int) else (app.return_code or 0)
