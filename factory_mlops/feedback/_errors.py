"""Errors of the operator-feedback store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_mlops.errors import FactoryMLOpsError

if TYPE_CHECKING:
    from factory_mlops.feedback._schema import FeedbackRecord


class FeedbackError(FactoryMLOpsError, ValueError):
    """Feedback that cannot be stored or read: what failed, on which value, and how to fix it."""


class DuplicateFeedbackError(FeedbackError):
    """The same person already gave feedback on this prediction; `existing` is their first row."""

    def __init__(self, message: str, existing: FeedbackRecord) -> None:
        super().__init__(message)
        self.existing = existing
