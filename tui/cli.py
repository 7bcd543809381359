"""Command line: `sockscope` (the monitor) and `sockscope report` (headless JSON/table)."""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tui import __version__
from tui.capture_setup import build_engine, open_source  # also importable from here
from tui.sources.errors import SourceError

if TYPE_CHECKING:
    from tui.engine import Engine


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filter", metavar="BPF", help="capture filter in tcpdump syntax, e.g. 'tcp port 443'")
    p.add_argument("--promisc", action="store_true", help="put the interface in promiscuous mode (off by default)")
    p.add_argument("--rules", metavar="FILE", help="extra classification rules (TOML) on top of the built-in ones")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        metavar="X",
        help="replay a file at X times its recorded pace (default: as fast as possible in report, 1 in the monitor)",
    )
    p.add_argument("--flow-cap", type=int, default=100_000, metavar="N", help="most flows kept at once")
    p.add_argument(
        "--ring", type=int, default=10_000, metavar="N", help="frames kept for the packet list and snapshots"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sockscope",
        description="A terminal traffic monitor: protocols, use cases and flows on an interface, live.",
        epilog="Live capture needs root or CAP_NET_RAW; replaying a file (-r, --demo) needs neither.",
    )
    parser.add_argument("--version", action="version", version=f"sockscope {__version__}")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("-i", "--interface", metavar="IFACE", help="go straight to the monitor on IFACE ('any' for all)")
    src.add_argument("-r", "--read", metavar="FILE", help="replay a pcap/pcapng file into the monitor")
    src.add_argument("--demo", action="store_true", help="replay the sample capture that ships with sockscope")
    _common(parser)
    parser.add_argument("--snapshot-dir", default="snapshots", metavar="DIR", help="where `s` saves snapshots")
    parser.add_argument("--snapshot-on-exit", action="store_true", help="save a snapshot when the monitor exits")
    parser.add_argument(
        "--netns", metavar="NS", help="with -i: capture inside a network namespace (a name from `ip netns`, or pid:N)"
    )

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    rep = sub.add_parser(
        "report",
        help="run the engine without the UI and print the results",
        description="Run the capture engine headless and print per-flow and per-class results.",
    )
    rsrc = rep.add_mutually_exclusive_group(required=True)
    rsrc.add_argument("-r", "--read", metavar="FILE", help="read a pcap/pcapng file")
    rsrc.add_argument("-i", "--interface", metavar="IFACE", help="capture live on IFACE ('any' for all)")
    rep.add_argument("--duration", type=float, metavar="SECONDS", help="how long to capture live (required with -i)")
    rep.add_argument("--format", choices=("json", "table"), default="table", help="output format (default table)")
    rep.add_argument("--top", type=int, default=None, metavar="N", help="only the N largest flows")
    rep.add_argument("--save", metavar="DIR", help="also save a snapshot (pcapng + summary) under DIR")
    rep.add_argument(
        "--no-attribution",
        action="store_true",
        help="do not look up the local process, user and container of each flow (live only)",
    )
    rep.add_argument("--resolve", action="store_true", help="add reverse-DNS names (src_host, dst_host) to flows")
    rep.add_argument(
        "--netns", metavar="NS", help="capture inside a network namespace (a name from `ip netns`, or pid:N)"
    )
    rep.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="engines in parallel processes, each a share of the flows (default 1: a split does not pay yet;"
        " always one with --save, --netns or --speed)",
    )
    _common(rep)
    _export_parser(sub)
    return parser


def _export_parser(sub) -> None:
    """`sockscope export`: the options of issue 14 (README, "Many hosts")."""
    exp = sub.add_parser(
        "export",
        help="run headless and stream metrics and flow records to Prometheus, JSON lines and IPFIX",
        description="Capture headless and export: a Prometheus /metrics endpoint, one JSON line per flow record, "
        "IPFIX flow records over UDP. Runs until SIGTERM/SIGINT (or the file ends); SIGHUP reopens the JSONL file.",
        epilog="Exit status: 0 stopped by a signal, --duration or the end of the file; 1 could not start; "
        "2 bad options; 3 the capture failed part-way (what it saw was exported).",
    )
    esrc = exp.add_mutually_exclusive_group(required=True)
    esrc.add_argument("-i", "--interface", metavar="IFACE", help="capture live on IFACE ('any' for all)")
    esrc.add_argument("-r", "--read", metavar="FILE", help="replay a pcap/pcapng file (as fast as it reads)")
    exp.add_argument("--netns", metavar="NS", help="capture inside a network namespace (a name or pid:N)")
    exp.add_argument("--prometheus", metavar="ADDR:PORT", help="serve /metrics there (':9477' for every address)")
    exp.add_argument("--jsonl", metavar="FILE", help="append one JSON line per flow record to FILE ('-': stdout)")
    exp.add_argument("--ipfix", metavar="HOST:PORT", help="send IPFIX flow records over UDP to a collector")
    exp.add_argument(
        "--active-timeout", type=float, default=60.0, metavar="S",
        help="a flow still going gets a record (JSONL, IPFIX) every S seconds of capture time (0: only at its end)",
    )  # fmt: skip
    exp.add_argument(
        "--idle-timeout", type=float, default=300.0, metavar="S", help="a flow quiet for S seconds has ended"
    )
    exp.add_argument("--tick", type=float, default=1.0, metavar="S", help="how often exporters look at the engine")
    exp.add_argument("--top-apps", type=int, default=20, metavar="N", help="apps with their own label; rest 'other'")
    exp.add_argument(
        "--top-containers", type=int, default=20, metavar="N", help="containers with their own label; rest 'other'"
    )
    exp.add_argument("--template-interval", type=float, default=60.0, metavar="S", help="resend IPFIX templates")
    exp.add_argument("--observation-domain", type=int, default=0, metavar="N", help="IPFIX observation domain id")
    exp.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    exp.add_argument(
        "--linger", type=float, default=0.0, metavar="S",
        help="with -r and --prometheus: keep /metrics up S seconds after the file ends ('inf': until a signal)",
    )  # fmt: skip
    exp.add_argument("--no-attribution", action="store_true", help="no process/container lookups (live only)")
    _common(exp)


def cmd_report(args: argparse.Namespace) -> int:
    from tui.report import HOSTS_SHOWN, collect, emit_report, run_capture

    if args.interface and args.duration is None:
        print("sockscope report: -i needs --duration SECONDS", file=sys.stderr)
        return 2
    if args.duration is not None and args.duration <= 0:
        print("sockscope report: --duration must be positive", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("sockscope report: --workers must be at least 1", file=sys.stderr)
        return 2
    from tui.parallel import auto_workers

    workers = 1 if args.save or args.netns or args.speed else auto_workers(args.workers)
    top = args.top if args.format == "json" or args.top is not None else 20
    hosts = HOSTS_SHOWN if args.format == "table" else 0
    try:
        engine = build_engine(args, live=bool(args.interface))
        if workers > 1 and args.interface:
            from tui.sources.live import open_fanout

            sources = open_fanout(args.interface, workers, bpf=args.filter, promisc=args.promisc)
            source = sources[0]
        else:
            source = open_source(args, default_speed=None)
    except (SourceError, ValueError) as exc:
        print(f"sockscope: {exc}", file=sys.stderr)
        return 1
    if workers > 1:
        from tui import parallel

        def make_engine():  # each worker's copy of the fresh engine: forked, not built again
            return engine

        if args.interface:
            rep = parallel.live_report(
                sources, make_engine, args.filter, args.duration, top, hosts, start=lambda e: _report_helpers(args, e)
            )
        else:
            encode = args.format == "json" and not args.resolve  # each worker writes its flows' JSON
            rep = parallel.file_report(source, make_engine, args.filter, workers, top, hosts, encode=encode)
    else:
        attributor = _report_helpers(args, engine)
        run_capture(engine, source, args.filter, args.duration if args.interface else None)
        if attributor is not None:
            attributor.stop()  # one last pass, so the newest flows get owners too
        rep = collect(engine, top, hosts)
    snap = rep.snap
    names = None
    if args.resolve:
        from tui.resolver import Resolver

        resolver = Resolver()
        src, dst = rep.column(1), rep.column(3)  # resolved in the old order: each source, then its destination
        names = resolver.resolve_all(itertools.chain.from_iterable(zip(src, dst, strict=True)), timeout=5.0)
        resolver.close()
    # A capture that ended early (damaged file, interface removed, failure after some
    # packets) still prints what it counted, and exits with 3 so scripts can tell.
    partial = False
    if snap.state == "error":
        print(f"sockscope: {snap.message}", file=sys.stderr)
        if not snap.packets:
            return 1
        partial = True
    elif snap.message and snap.message != "end of file":
        print(f"sockscope: warning: {snap.message}", file=sys.stderr)
        partial = True
    if args.save:
        from tui.snapshot_files import save_snapshot

        try:
            result = save_snapshot(engine, args.save, snap, names=names)
        except OSError as exc:
            print(f"sockscope: cannot save snapshot: {exc}", file=sys.stderr)
            return 1
        print(f"sockscope: saved {result.packets} packets to {result.folder}", file=sys.stderr)
    if getattr(rep, "texts", None) is not None:  # parallel.EncodedReport: JSON written by the workers
        rep.write(sys.stdout)
    else:
        emit_report(rep, args.format, args.top, names=names)
    return 3 if partial else 0


def cmd_export(args: argparse.Namespace) -> int:
    """`sockscope export` (tui/export): exporters in this thread, capture in the engine's."""
    from tui.export.prometheus import parse_address
    from tui.export.runner import ExportOptions, ExportRunner, log

    if not (args.prometheus or args.jsonl or args.ipfix):
        print("sockscope export: say where to: --prometheus, --jsonl and/or --ipfix", file=sys.stderr)
        return 2
    try:
        prom = parse_address(args.prometheus) if args.prometheus else None
        ipfix = parse_address(args.ipfix) if args.ipfix else None
        if ipfix is not None and not ipfix[0]:
            raise ValueError(f"{args.ipfix!r}: the collector needs a host")
        for name in ("tick", "idle_timeout"):
            if not getattr(args, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if args.active_timeout < 0 or args.linger < 0 or (args.duration is not None and args.duration <= 0):
            raise ValueError("--active-timeout and --linger must be 0 or more, --duration positive")
    except ValueError as exc:
        print(f"sockscope export: {exc}", file=sys.stderr)
        return 2
    opts = ExportOptions(
        prometheus=prom, jsonl=args.jsonl, ipfix=ipfix, tick=args.tick, active_timeout=args.active_timeout,
        template_interval=args.template_interval, observation_domain=args.observation_domain,
        duration=args.duration, linger=args.linger, top_apps=args.top_apps, top_containers=args.top_containers,
    )  # fmt: skip
    try:
        engine = build_engine(args, live=True)  # idle expiry also for files: flows end in capture time
        engine.table.idle_timeout = args.idle_timeout
        source = open_source(args, default_speed=None)
    except (SourceError, ValueError) as exc:
        print(f"sockscope: {exc}", file=sys.stderr)
        return 1
    runner = ExportRunner(engine, opts)
    runner.install_signals()
    err = runner.open_exporters()  # before dropping privileges: a port below 1024 needs root
    if err:
        source.close()
        print(f"sockscope export: {err}", file=sys.stderr)
        return 1
    attributor = _report_helpers(args, engine, warn=lambda text: log(f"warning: {text}"))
    log(f"capturing {'live on ' + args.interface if args.interface else 'from ' + args.read}")
    try:
        return runner.run(source, args.filter, on_stopped=attributor.stop if attributor else None)
    except BrokenPipeError:
        return 0


def _warn(text: str) -> None:
    print(f"sockscope: warning: {text}", file=sys.stderr)


def _report_helpers(args: argparse.Namespace, engine: Engine, warn: Callable[[str], None] = _warn):
    """Start process attribution (live, unless turned off) and drop privileges; the attributor or None."""
    attributor = None
    if args.interface and not args.no_attribution:
        from tui.attribution import Attributor

        attributor = Attributor(engine, args.netns)
        attributor.start()  # before dropping privileges: it enters the namespace as root
        if attributor.error:
            warn(f"no process attribution: {attributor.error}")
    from tui.privileges import PrivilegeError, drop_privileges

    try:
        drop_privileges()  # the socket is open: nothing from here on needs privilege
    except PrivilegeError as exc:
        warn(str(exc))
    return attributor


def _as_interrupt(signum: int, frame: object) -> None:
    """Turn a termination signal into SIGINT, which asyncio and Textual end cleanly."""
    signal.raise_signal(signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "export":
        return cmd_export(args)
    if args.command == "report":
        from tui.report import few_collections

        try:
            with few_collections():
                return cmd_report(args)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            return 0
    from tui.app import run_app
    from tui.privileges import PrivilegeError, drop_privileges

    try:  # keeps only CAP_NET_RAW: the picker may open another interface later
        drop_privileges(keep_net_raw=True)
    except PrivilegeError as exc:
        print(f"sockscope: warning: {exc}", file=sys.stderr)
    # SIGTERM and SIGHUP end the monitor the way Ctrl+C does: the terminal is restored
    # and --snapshot-on-exit still saves (their default action would kill us mid-screen).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _as_interrupt)
    return run_app(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
