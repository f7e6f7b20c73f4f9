"""`factory-mlops feedback`: record an operator's verdict on an edge prediction, or list the queue.

    factory-mlops feedback PLANT --prediction-id ID --verdict wrong|right [--label 0|1]
                           [--failure-type T] [--new-failure-type] [--comment TEXT] [--by NAME]
                           [--home H] [--plants DIR] [--json]
    factory-mlops feedback PLANT --list [--json]
    factory-mlops feedback serve [--port 8765]     the shop-floor page (factory_mlops.floor)
    factory-mlops feedback user add NAME --plant P --role operator|engineer

Exit 0 with a one-line confirmation (or the queue); 2 with `error: ...` on stderr for bad input
(unknown plant or prediction, contradicting label, unknown failure type, the same person twice).
Wire into the main parser with `add_feedback_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from factory_mlops.clikit import HOME_HELP, PLANTS_HELP, fail

_RECORD_OPTIONS = ("prediction_id", "verdict", "label", "failure_type", "comment", "by")


def add_feedback_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `feedback` to a CLI's sub-command parsers."""
    fb = subparsers.add_parser(
        "feedback",
        help="record an operator's verdict on an edge prediction, or list the feedback queue",
        description="Record whether a logged edge prediction was right or wrong. The verdict gives the label the "
        "next training set uses for that prediction's feature row (a wrong alarm: no failure, 0; a wrong "
        "non-alarm: a missed failure, 1; right keeps the alarm). With --list: the feedback no training set has "
        "used yet, and a summary. Exit 0 when done, 2 on bad input. `feedback serve [--port N]` serves the "
        "shop-floor page; `feedback user add|grant|revoke|passwd|remove|list` manages its people.",
    )
    fb.add_argument("plant", help="plant id (plants/<id>/plant.yaml) or the path of a plant.yaml")
    fb.add_argument(
        "--prediction-id",
        default=None,
        metavar="ID",
        help="the prediction's id in the edge prediction log",
    )
    fb.add_argument(
        "--verdict",
        default=None,
        metavar="wrong|right",
        help="was the prediction (alarm or no alarm) wrong or right",
    )
    fb.add_argument(
        "--label",
        default=None,
        metavar="0|1",
        help="optional: 1 the machine failed, 0 it did not; must agree with the verdict",
    )
    fb.add_argument(
        "--failure-type",
        default=None,
        metavar="T",
        help="what failed (label 1 only): a failure type of the plant's maintenance log or earlier feedback",
    )
    fb.add_argument(
        "--new-failure-type",
        action="store_true",
        help="accept a failure type the plant has not seen yet",
    )
    fb.add_argument("--comment", default="", help="free text (at most 2000 characters)")
    fb.add_argument(
        "--by", default=None, metavar="NAME", help="who judged the prediction (default: $USER)"
    )
    fb.add_argument(
        "--list", action="store_true", help="list the pending feedback and a summary instead"
    )
    fb.add_argument(
        "--json", action="store_true", help="print JSON (the stored row, or the queue and summary)"
    )
    fb.add_argument("--home", default=None, help=HOME_HELP)
    fb.add_argument("--plants", default=None, help=PLANTS_HELP)
    fb.set_defaults(func=_cmd_feedback)


def _cmd_feedback(args: argparse.Namespace) -> int:
    from factory_mlops.config import resolve_plant
    from factory_mlops.errors import FactoryMLOpsError
    from factory_mlops.feedback._store import FeedbackStore
    from factory_mlops.home import FactoryHome

    try:
        config = resolve_plant(args.plant, args.plants)
        home = FactoryHome.resolve(args.home)
        if not home.root.is_dir():
            return fail(
                f"no factory home at {home.root}: pass --home DIR or set $FACTORY_MLOPS_HOME"
            )
        store = FeedbackStore.for_home(home)
        try:
            return _list(args, config, store) if args.list else _record(args, config, home, store)
        finally:
            store.close()
    except FactoryMLOpsError as exc:
        return fail(str(exc))


def _record(args: argparse.Namespace, config: Any, home: Any, store: Any) -> int:
    from factory_mlops.feedback._record import record_feedback

    missing = [
        f"--{name.replace('_', '-')}"
        for name in ("prediction_id", "verdict")
        if not getattr(args, name)
    ]
    if missing:
        return fail(
            f"missing {' and '.join(missing)}: pass --prediction-id ID --verdict wrong|right to record "
            f"feedback, or --list to see {config.plant_id}'s feedback queue"
        )
    by = args.by or os.environ.get("USER", "")
    if not by.strip():
        return fail("who gave the feedback? pass --by NAME ($USER is not set)")
    rec = record_feedback(
        config,
        home,
        prediction_id=args.prediction_id,
        verdict=args.verdict,
        by=by,
        label=args.label,
        failure_type=args.failure_type,
        comment=args.comment,
        new_failure_type=args.new_failure_type,
        store=store,
    )
    pending = store.pending_count(config.plant_id)
    if args.json:
        print(json.dumps({**rec.to_dict(), "pending": pending}))
        return 0
    said = "alarm" if rec.alarm else "no alarm"
    ftype = f", failure type {rec.failure_type}" if rec.failure_type else ""
    joined = (
        "not joined into training: the plant trains a RUL model"
        if config.model.task == "rul"
        else "pending for the next training set"
    )
    print(
        f"{config.plant_id}: feedback #{rec.id} stored: {rec.verdict} {said} on {rec.machine_id} at "
        f"{rec.prediction_time.isoformat()} (prediction {rec.prediction_id}, model v{rec.model_version}, node "
        f"{rec.node_id}) -> label {rec.label}{ftype}; by {rec.by}; {pending} {joined}"
    )
    return 0


def _list(args: argparse.Namespace, config: Any, store: Any) -> int:
    given = [f"--{name.replace('_', '-')}" for name in _RECORD_OPTIONS if getattr(args, name)]
    if args.new_failure_type:
        given.append("--new-failure-type")
    if given:
        return fail(f"--list shows the queue and records nothing; drop {', '.join(given)}")
    pending = store.pending(config.plant_id)
    summary = store.summary(config.plant_id, task=config.model.task)
    if args.json:
        print(
            json.dumps(
                {
                    "plant_id": config.plant_id,
                    "pending": [r.to_dict() for r in pending],
                    "summary": summary,
                }
            )
        )
        return 0
    consumed = ", ".join(f"v{v}: {n}" for v, n in summary["consumed_by_version"].items()) or "none"
    print(
        f"{config.plant_id}: {summary['total']} feedback ({summary['by_verdict']['wrong']} wrong, "
        f"{summary['by_verdict']['right']} right) from {summary['people']} people; {summary['pending']} pending; "
        f"used by {consumed}; last {summary['last_at'] or '—'}"
    )
    if "note" in summary:
        print(f"  note: {summary['note']}")
    for rec in pending:
        print(f"  {rec.describe()}")
    return 0
