"""Retraining triggers: monitoring signals in, a retrain request (or a reason why not) out. No Dagster."""

from factory_mlops.triggers._policy import Decision, TriggerPolicy, TriggerState, decide
from factory_mlops.triggers._signal import KINDS, Signal

__all__ = ["KINDS", "Decision", "Signal", "TriggerPolicy", "TriggerState", "decide"]
