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

    Promote when there is no champion, or when PR-AUC improves by at least `min_improvement`
    and the share of failures caught (at least one alarm within the horizon before the failure)
    does not drop by more than `recall_tolerance`. Row-level recall is not the guard: a champion
    that alarms all the time after a process change has perfect row recall and no use.
    """
    if champion is None:
        return GateDecision(True, ["no champion yet: first model for this plant"], challenger, None)
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
    c_rec, k_rec = challenger.get("failure_recall", math.nan), champion.get("failure_recall", math.nan)
    if not math.isnan(k_rec) and not math.isnan(c_rec):
        if c_rec < k_rec - model.recall_tolerance:
            ok = False
            reasons.append(f"failures caught drop {k_rec:.0%} -> {c_rec:.0%} (more than {model.recall_tolerance:.0%})")
        else:
            reasons.append(f"failures caught {k_rec:.0%} -> {c_rec:.0%} (tolerance {model.recall_tolerance:.0%})")
    reasons.append(
        f"alarm rate {champion.get('alarm_rate', math.nan):.3f} -> {challenger.get('alarm_rate', math.nan):.3f}"
    )
    return GateDecision(ok, reasons, challenger, champion)
