"""The one error the audit package raises on purpose."""

from __future__ import annotations

from factory_mlops.errors import FactoryMLOpsError


class AuditError(FactoryMLOpsError):
    """Raised when an audit entry is invalid, or the log cannot be appended to / read safely.

    The message names the bad value (or file and line) and says what to do, e.g. run
    `factory-mlops audit verify` when the log itself looks damaged.
    """
