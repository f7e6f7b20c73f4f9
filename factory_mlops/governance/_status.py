"""`factory-mlops status`: per plant the champion and challenger, the last retrain, what each edge
node serves, and anything inconsistent (an interrupted registration, a node behind the champion).
A plant without a champion says it runs monitoring only, and why (the floors its models failed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from factory_mlops.audit import AuditLog
from factory_mlops.config import PlantConfig
from factory_mlops.governance._history import champion_history
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline import CHALLENGER, CHAMPION, fleet_status, monitoring_only

if TYPE_CHECKING:
    from factory_mlops.registry import Registry

_KEY_METRICS = (
    "pr_auc",
    "roc_auc",
    "rmse",
    "nasa_score",
    "precision",
    "recall",
    "alarm_rate",
    "failure_recall",
    "median_lead_time_h",
    "expected_cost",
    "brier",
    "ece",
)


def _version_doc(v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    lineage = v.lineage
    return {
        "version": v.version,
        "metrics": {k: v.metrics[k] for k in _KEY_METRICS if k in v.metrics},
        "trigger": lineage.trigger,
        "reason": lineage.reason,
        "data_through": lineage.data_through,
        "gate_decision": lineage.gate_decision,
        "floors_failed": lineage.gate_floors_failed,
        "bundle_sha256": lineage.bundle_sha256,
        "complete": v.complete,
    }


def plant_status(
    config: PlantConfig, home: FactoryHome, registry: Registry, *, history: bool = False
) -> dict[str, Any]:
    """The plant's governance state as a JSON-able dict (what `factory-mlops status` prints)."""
    p = config.plant_id
    versions = registry.list_versions(p)
    aliases = registry.aliases(p)
    by_number = {v.version: v for v in versions}
    champ = by_number.get(aliases.get(CHAMPION, -1))
    chall = by_number.get(aliases.get(CHALLENGER, -1))
    audit = AuditLog.for_home(home)
    last_req = audit.last(plant=p, kinds=["retrain_requested"])
    last_version = versions[-1] if versions else None
    fleet = fleet_status(config, home)
    nodes = fleet["nodes"]
    tampered = []
    for n in nodes:  # the served bundle is the registered build of its version, or it is not
        reg = by_number.get(n["version"]) if n["version"] is not None else None
        want = reg.lineage.bundle_sha256 if reg is not None else None
        n["registered_bundle_sha256"] = want
        n["bundle_matches_registry"] = (
            None if want is None or n["bundle_sha256"] is None else n["bundle_sha256"] == want
        )
        if want is not None and n["bundle_matches_registry"] is False:
            n["health"] = "degraded"
            tampered.append(
                f"edge node {n['node']} serves bundle {n['bundle_sha256'][:12]}… as v{n['version']}, "
                f"but the registered bundle of v{n['version']} is {want[:12]}…: the node does not "
                f"run the build the registry vouches for (tampered or installed by hand); "
                f"redeploy v{n['version']} or roll back"
            )
    problems = [
        f"edge node {n['node']} serves v{n['version']} but the champion is v{champ.version}"
        + (f" ({n['error']})" if n["error"] else "; deploy it or roll back")
        for n in nodes
        if champ is not None and n["version"] != champ.version
    ]
    problems.extend(tampered)
    incomplete = [v.version for v in versions if not v.complete]
    if incomplete:
        problems.append(
            f"versions {incomplete} never finished registering (interrupted); they cannot become champion"
        )
    changes = champion_history(home, p)
    if champ is not None and changes and changes[-1].to_version != champ.version:
        problems.append(
            f"the audit log's last champion change names v{changes[-1].to_version} but the registry's "
            f"champion is v{champ.version}: the alias was moved outside factory_mlops"
        )
    out: dict[str, Any] = {
        "plant_id": p,
        "model_name": registry.model_name(p),
        "versions": len(versions),
        "champion": _version_doc(champ),
        # None while a champion serves; else e.g. "monitoring only: no model passed the floors: ..."
        "monitoring_only": monitoring_only(config, registry),
        "challenger": _version_doc(chall),
        "last_retrain": None
        if last_version is None
        else {
            "version": last_version.version,
            "trigger": last_version.lineage.trigger,
            "reason": last_version.lineage.reason,
            "gate_decision": last_version.lineage.gate_decision,
            "data_through": last_version.lineage.data_through,
        },
        "last_retrain_request": None
        if last_req is None
        else {
            "at": last_req.at,
            "actor": last_req.actor,
            "trigger": (last_req.details or {}).get("trigger"),
            "reason": last_req.reason,
        },
        "edge_nodes": nodes,
        "rollout": fleet["rollout"],
        "problems": problems,
    }
    if history:
        out["history"] = [c.to_dict() for c in changes]
    return out


def format_status(status: dict[str, Any]) -> str:
    """Plain-words rendering of `plant_status`."""

    def ver(d: dict[str, Any] | None) -> str:
        if d is None:
            return "none"
        m = d["metrics"]
        shown = " · ".join(
            f"{k} {m[k]:.3f}" for k in ("pr_auc", "rmse", "failure_recall", "alarm_rate") if k in m
        )
        below = f" — below the floors: {d['floors_failed']}" if d.get("floors_failed") else ""
        return f"v{d['version']} ({shown}; {d['trigger']}, data through {d['data_through']}){below}"

    s = status
    lines = [
        f"{s['plant_id']} — {s['model_name']}, {s['versions']} version(s)",
        f"  champion:   {ver(s['champion'])}",
        f"  challenger: {ver(s['challenger'])}",
    ]
    if s.get("monitoring_only"):
        lines.append(f"  serving:    nothing — {s['monitoring_only']}")
    lr = s["last_retrain"]
    if lr:
        lines.append(
            f"  last retrain: v{lr['version']} {lr['gate_decision']} — trigger {lr['trigger']}: {lr['reason']}"
        )
    rq = s["last_retrain_request"]
    if rq:
        lines.append(f"  last request: {rq['at']} by {rq['actor']} ({rq['trigger']})")
    for n in s["edge_nodes"]:
        what = (
            f"v{n['version']} bundle {str(n['bundle_sha256'])[:12]}… since {n['installed_at']}"
            if n["version"]
            else "nothing installed"
        )
        extra = (f", shadow v{n['shadow_version']}" if n.get("shadow_version") else "") + (
            " [canary]" if n.get("canary") else ""
        )
        lines.append(
            f"  edge {n['node']}: {what}{extra} — {n.get('health', '?')}"
            + (f" — ERROR {n['error']}" if n["error"] else "")
        )
    ro = s.get("rollout")
    if ro and ro["stage"] == "shadow":
        lines.append(
            f"  rollout: v{ro['version']} in shadow on {', '.join(ro['canary_nodes'])} "
            f"({ro['days_observed']}/{ro['shadow_days']:g} days)"
        )
    lines.extend(f"  ! {prob}" for prob in s["problems"])
    if "history" in s:
        lines.append("  champion history:")
        for c in s["history"]:
            frm = f"v{c['from_version']}" if c["from_version"] else "none"
            lines.append(
                f"    {c['at']}  {c['kind']:<9} {frm} -> v{c['to_version']}  by {c['actor']}: {c['reason']}"
            )
    return "\n".join(lines)
