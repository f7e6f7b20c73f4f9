"""Shared base of the plant.yaml blocks: strict models, identifiers, severity and action names."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    """Base of every config block: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True)


RuleSeverity = Literal["error", "warning", "off"]


SeverityName = Literal["ok", "warning", "critical"]


Action = Literal["check_warn", "alert", "retrain"]
