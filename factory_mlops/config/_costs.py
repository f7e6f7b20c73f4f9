"""plant.yaml `costs:`: what failures, alarms and rollouts cost."""

from __future__ import annotations

from pydantic import Field, model_validator

from factory_mlops.config._base import _Strict


class CostConfig(_Strict):
    """What failures and alarms cost: the alarm threshold and the evaluation's expected cost use it.

    A missed failure (episode) costs `downtime_hours_per_failure` hours of unplanned downtime; a
    caught one still costs `caught_failure_hours` of planned repair; every false-alarm episode
    (alarming rows of a machine that does not fail within the horizon, once per started horizon
    it lasts; `evaluation.alarm_episodes`) costs `false_alarm_cost` (an inspection).
    """

    downtime_cost_per_hour: float = Field(
        260_000, ge=0, description="Cost of one hour of downtime."
    )
    downtime_hours_per_failure: float = Field(
        4.0, ge=0, description="Unplanned downtime of a missed failure."
    )
    caught_failure_hours: float = Field(
        1.0, ge=0, description="Planned repair downtime of a caught failure."
    )
    false_alarm_cost: float = Field(
        5_000, ge=0, description="Cost of one false-alarm episode (an inspection)."
    )
    rollout_cost: float = Field(
        100_000,
        ge=0,
        description="What one model rollout costs the plant (validation, canary, people re-learning its "
        "alarms): a retrain is worth requesting only when the challenger's gain clears it.",
    )
    currency: str = "USD"

    @property
    def missed_failure_cost(self) -> float:
        """Cost of one missed failure (unplanned downtime)."""
        return self.downtime_hours_per_failure * self.downtime_cost_per_hour

    @property
    def caught_failure_cost(self) -> float:
        """Cost of one caught failure (planned repair)."""
        return self.caught_failure_hours * self.downtime_cost_per_hour

    @model_validator(mode="after")
    def _catching_pays(self) -> CostConfig:
        if self.caught_failure_hours > self.downtime_hours_per_failure:
            raise ValueError(
                f"caught_failure_hours ({self.caught_failure_hours}) exceeds downtime_hours_per_failure "
                f"({self.downtime_hours_per_failure}): catching a failure would cost more than missing it"
            )
        return self
