"""plant.yaml `retrain:`: the retraining triggers' rules."""

from __future__ import annotations

from pydantic import Field

from factory_mlops.config._base import _Strict


class RetrainConfig(_Strict):
    """When a retrain may be requested: the triggers' rules (see docs/monitoring.md)."""

    cooldown_days: float = Field(
        3,
        ge=0,
        description="No event-driven retrain within this many days (data time) of the last requested one.",
    )
    debounce: int = Field(
        1,
        ge=1,
        description="Consecutive critical evaluations (days) of drift, the performance estimate or integrity "
        "before they request a retrain. The control chart smooths by itself and is not debounced.",
    )
    feedback_min_labels: int = Field(
        20,
        ge=1,
        description="Operator feedback labels waiting in the queue that request a retrain.",
    )
    on_new_failure_type: bool = Field(
        True,
        description="A failure type never seen before (maintenance log or feedback) requests a retrain.",
    )
    follow_up_days: list[float] = Field(
        default_factory=lambda: [7.0, 14.0, 28.0],
        description="After an event-triggered retrain (drift, new failure type, ...), retrain again this many "
        "days later: one day of post-change data is rarely enough to learn the change. [] = no follow-ups.",
    )
    schedule_cron: str = Field(
        "0 3 * * 0",
        description="When the calendar fallback is evaluated (cron, plant time zone).",
    )
    max_model_age_days: float | None = Field(
        None,
        gt=0,
        description="Calendar fallback: at a schedule tick, retrain when the champion's data is older than this. "
        "null = the schedule only reports (event triggers decide); set it where a periodic refresh is required.",
    )
    shadow_every_days: float | None = Field(
        7.0,
        gt=0,
        description="Value of retraining: train a shadow challenger on all labelled data to date this often "
        "(data time; it is never deployed) and score it beside the champion. When the lower bound of its "
        "accumulated gain over the champion exceeds `costs.rollout_cost`, a retrain is requested (trigger "
        "`retrain_value`). null = off.",
    )
    value_z: float = Field(
        2.0,
        gt=0,
        description="Width of the lower confidence bound of the shadow challenger's accumulated gain, in "
        "standard errors of the daily gains.",
    )
    value_min_days: int = Field(
        3,
        ge=2,
        description="Days with known outcomes before the shadow challenger's gain is judged.",
    )
    value_window_days: int = Field(
        28,
        ge=2,
        description="The shadow challenger's gain is accumulated over at most this many recent days (and "
        "never before the last promotion or retrain-value request): the evidence of shadows trained weeks "
        "ago, before a change, does not hold back what today's retrained models would save.",
    )
