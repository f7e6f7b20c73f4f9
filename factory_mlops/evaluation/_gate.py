"""Champion-vs-challenger gate: promote only on a real gain with no guard metric worse."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from factory_mlops.config import ModelConfig


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and every reason behind it (recorded in the registry and audit)."""

    promote: bool
    reasons: list[str] = field(default_factory=list)
    challenger: dict[str, float] = field(default_factory=dict)
    champion: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        return ("PROMOTE: " if self.promote else "REJECT: ") + "; ".join(self.reasons)


def gate(challenger: dict[str, float], champion: dict[str, float] | None, model: ModelConfig) -> GateDecision:
    """Compare metrics of challenger and champion measured on the same holdout rows.

    Dispatches on `model.task`: `classification` gates on PR-AUC (`classification_gate`), `rul`
    on RMSE (`rul_gate`). Both promote when there is no champion, and both refuse a challenger
    that catches a share of failures more than `recall_tolerance` below the champion's.
    """
    if champion is None:
        return GateDecision(True, ["no champion yet: first model for this plant"], challenger, None)
    if model.task == "rul":
        return rul_gate(challenger, champion, model)
    return classification_gate(challenger, champion, model)


def classification_gate(challenger: dict[str, float], champion: dict[str, float], model: ModelConfig) -> GateDecision:
    """Promote when PR-AUC improves by at least `min_improvement` and the share of failures caught
    (at least one alarm within the horizon before the failure) does not drop by more than
    `recall_tolerance`. Row-level recall is not the guard: a champion that alarms all the time
    after a process change has perfect row recall and no use.
    """
    reasons: list[str] = []
    ok = True
    c_pr, k_pr = challenger["pr_auc"], champion["pr_auc"]
    if math.isnan(c_pr):
        return GateDecision(False, ["challenger PR-AUC is undefined on the holdout (no failures)"], challenger, champion)
    gain = c_pr - (k_pr if not math.isnan(k_pr) else 0.0)
    if gain >= model.min_improvement:
        reasons.append(f"PR-AUC {k_pr:.3f} -> {c_pr:.3f} (+{gain:.3f} >= margin {model.min_improvement})")
    else:
        ok = False
        reasons.append(f"PR-AUC {k_pr:.3f} -> {c_pr:.3f} ({gain:+.3f} < margin {model.min_improvement})")
    ok = _recall_guard(challenger, champion, model, reasons) and ok
    reasons.append(_alarm_rate_reason(challenger, champion))
    return GateDecision(ok, reasons, challenger, champion)


def rul_gate(challenger: dict[str, float], champion: dict[str, float], model: ModelConfig) -> GateDecision:
    """Promote when RMSE drops by at least `min_rmse_improvement` relative to the champion's and the
    share of failures caught does not drop by more than `recall_tolerance`.
    """
    reasons: list[str] = []
    c_rmse, k_rmse = challenger.get("rmse", math.nan), champion.get("rmse", math.nan)
    if math.isnan(c_rmse):
        return GateDecision(False, ["challenger RMSE is undefined on the holdout"], challenger, champion)
    ok = True
    change = f"RMSE {k_rmse:.2f} h -> {c_rmse:.2f} h"
    if math.isnan(k_rmse):
        reasons.append(f"{change} (champion RMSE undefined on this holdout)")
    elif k_rmse <= 0:
        ok = False
        reasons.append(f"{change} (champion RMSE is already 0; no relative gain possible)")
    else:
        gain = (k_rmse - c_rmse) / k_rmse
        if gain >= model.min_rmse_improvement:
            reasons.append(f"{change} ({gain:.1%} lower >= margin {model.min_rmse_improvement:.1%})")
        else:
            ok = False
            reasons.append(f"{change} ({gain:.1%} lower < margin {model.min_rmse_improvement:.1%})")
    ok = _recall_guard(challenger, champion, model, reasons) and ok
    reasons.append(_alarm_rate_reason(challenger, champion))
    return GateDecision(ok, reasons, challenger, champion)


def _recall_guard(challenger: dict[str, float], champion: dict[str, float], model: ModelConfig, reasons: list[str]) -> bool:
    """False when the share of failures caught drops by more than `recall_tolerance` (adds a reason)."""
    c_rec, k_rec = challenger.get("failure_recall", math.nan), champion.get("failure_recall", math.nan)
    if math.isnan(k_rec) or math.isnan(c_rec):
        return True
    if c_rec < k_rec - model.recall_tolerance:
        reasons.append(f"failures caught drop {k_rec:.0%} -> {c_rec:.0%} (more than {model.recall_tolerance:.0%})")
        return False
    reasons.append(f"failures caught {k_rec:.0%} -> {c_rec:.0%} (tolerance {model.recall_tolerance:.0%})")
    return True


def _alarm_rate_reason(challenger: dict[str, float], champion: dict[str, float]) -> str:
    return f"alarm rate {champion.get('alarm_rate', math.nan):.3f} -> {challenger.get('alarm_rate', math.nan):.3f}"
