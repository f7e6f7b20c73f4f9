"""`factory-mlops audit verify|show`: check the audit log's chain, read its entries.

Wire into the main parser with `add_audit_parser(sub)`; each sub-command's `func(args)` returns the
exit code. Output goes to stdout (results) and stderr (errors, warnings).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from factory_mlops.audit._entry import KINDS, AuditEntry
from factory_mlops.audit._errors import AuditError
from factory_mlops.audit._log import AuditLog
from factory_mlops.clikit import HOME_HELP


def add_audit_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit verify` and `audit show` to a CLI's sub-command parsers."""
    audit = subparsers.add_parser(
        "audit",
        help="verify and read the tamper-evident audit log",
        description="The audit log (<home>/audit/audit.jsonl) records retrains, gate decisions, "
        "registrations, promotions, deployments, rollbacks and contract changes in a hash chain.",
    )
    commands = audit.add_subparsers(dest="audit_command", required=True)

    verify = commands.add_parser(
        "verify",
        help="check every entry, the hash chain and the head anchor",
        description="Exit 0 when the log is intact, 1 when it is broken (the first bad entry and what "
        "is wrong are printed), 2 on a usage error.",
    )
    verify.add_argument("--home", default=None, help=HOME_HELP)
    verify.add_argument(
        "--anchor",
        default=None,
        metavar="HASH",
        help="a last_hash kept outside the plant earlier; it must still be in the log",
    )
    verify.add_argument(
        "--json",
        action="store_true",
        help="print ok, entries, first_bad, problem, last_hash as one JSON line",
    )
    verify.set_defaults(func=_cmd_verify)

    show = commands.add_parser(
        "show",
        help="list audit entries (oldest first)",
        description="Print entries as a table or JSON. Does not prove integrity: a warning is printed "
        "to stderr when `audit verify` would fail. Exit 0, or 1 when the log cannot be read.",
    )
    show.add_argument("--home", default=None, help=HOME_HELP)
    show.add_argument("--plant", default=None, help="only entries of this plant")
    show.add_argument(
        "--kind",
        action="append",
        choices=KINDS,
        default=None,
        help="only entries of this kind (repeat for several)",
    )
    show.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        metavar="N",
        help="only the last N matching entries",
    )
    show.add_argument("--json", action="store_true", help="print a JSON list of entries")
    show.set_defaults(func=_cmd_show)


def _cmd_verify(args: argparse.Namespace) -> int:
    log = _log(args)
    try:
        result = log.verify(anchor=args.anchor)
    except (AuditError, OSError) as exc:
        _err(f"error: {exc}")
        return 2
    if args.json:
        _out(json.dumps(result.to_dict()))
    elif result.ok and result.entries == 0:
        _out(f"audit log OK: 0 entries (empty log at {log.path})")
    elif result.ok:
        _out(f"audit log OK: {result.entries} entries, last hash {result.last_hash}")
    else:
        _out(f"audit log BROKEN: {result.problem}")
        if result.first_bad is not None:
            good = result.first_bad - 1
            intact = (
                f"entries 1-{good} are intact (last hash {result.last_hash})"
                if good
                else "no entry is intact"
            )
            _out(f"  {intact}; {result.entries} lines in {log.path}")
    return 0 if result.ok else 1


def _cmd_show(args: argparse.Namespace) -> int:
    log = _log(args)
    try:
        entries = log.entries(plant=args.plant, kinds=args.kind)
    except (AuditError, OSError) as exc:
        _err(f"error: {exc}")
        return 1
    if args.limit is not None:
        entries = entries[-args.limit :]
    if args.json:
        _out(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
    elif entries:
        _out(format_table(entries))
    else:
        filtered = args.plant is not None or args.kind is not None
        _out("no matching audit entries" if filtered else f"audit log is empty ({log.path})")
    result = log.verify()
    if not result.ok:
        _err(
            f"warning: audit log BROKEN: {result.problem}; entries shown may have been altered "
            f"(run `factory-mlops audit verify`)"
        )
    return 0


def format_table(entries: Sequence[AuditEntry]) -> str:
    """Entries as aligned columns: #, time (UTC), kind, plant, actor, versions, reason."""
    header = ("#", "time (UTC)", "kind", "plant", "actor", "versions", "reason")
    rows = [
        (
            str(e.seq),
            e.at[:19].replace("T", " "),
            e.kind,
            e.plant or "-",
            e.actor,
            format_versions(e.versions),
            e.reason or "-",
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(w) if i == 0 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def format_versions(versions: dict[str, int | None]) -> str:
    """{"from": 3, "to": 2} -> "v3 → v2"; {"version": 4} -> "v4"; otherwise "name=v, ..."."""

    def v(n: int | None) -> str:
        return "-" if n is None else f"v{n}"

    if set(versions) == {"from", "to"}:
        return f"{v(versions['from'])} → {v(versions['to'])}"
    if set(versions) == {"version"}:
        return v(versions["version"])
    return ", ".join(f"{k}={v(n)}" for k, n in versions.items()) or "-"


def _log(args: argparse.Namespace) -> AuditLog:
    from factory_mlops.home import FactoryHome

    return AuditLog.for_home(FactoryHome.resolve(args.home))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
