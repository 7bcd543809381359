"""Capture set-up shared by `sockscope report` and the monitor: an engine and a source
built from the command-line options.

Its own module so the app (tui.app) and the command line (tui.cli) both use it without
importing each other.
"""

from __future__ import annotations

import argparse

from tui.engine import Engine


def build_engine(args: argparse.Namespace, live: bool) -> Engine:
    """An engine with the classifier and bounds the options ask for."""
    from tui.classify import load_classifier

    classifier = load_classifier(args.rules)
    return Engine(
        classifier=classifier,
        flow_cap=args.flow_cap,
        idle_timeout=300.0 if live else None,
        ring_size=args.ring,
    )


def open_source(args: argparse.Namespace, default_speed: float | None):
    """The live or file source named by -i / -r (raises SourceError with a clear message)."""
    if getattr(args, "read", None):
        from tui.sources.pcapfile import PcapSource

        speed = args.speed if args.speed is not None else default_speed
        src = PcapSource(args.read, speed=speed or None)
        if args.filter:
            from tui.sources.filtered import FilteredSource

            return FilteredSource(src, args.filter)
        return src
    if getattr(args, "netns", None):
        from tui.netns_list import open_live_source

        return open_live_source(args.interface, args.netns, bpf=args.filter, promisc=args.promisc)
    from tui.sources.live import LiveSource

    return LiveSource(args.interface, bpf=args.filter, promisc=args.promisc)
