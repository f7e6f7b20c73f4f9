"""What validating a batch produces: batch-level failures and the accepted / quarantined split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

Severity = Literal["error", "warning"]
Status = Literal["accepted", "partially_accepted", "rejected"]


def check_accounting(
    what: str, received: int, accepted: int, quarantined: int, reasons: dict[str, int]
) -> None:
    """Raise AssertionError unless received == accepted + quarantined and the reasons sum to the
    quarantined count. Explicit checks rather than `assert`, so they also hold under `python -O`."""
    if received != accepted + quarantined:
        raise AssertionError(
            f"{what} accounting broken: received {received} != accepted {accepted} + quarantined {quarantined}"
        )
    if sum(reasons.values()) != quarantined:
        raise AssertionError(
            f"{what} accounting broken: reason counts sum to {sum(reasons.values())}, {quarantined} rows quarantined"
        )


def batch_status(passed: bool, accepted: int, quarantined: int) -> Status:
    """`"rejected"` if an error failed or nothing was accepted; `"accepted"` if every row was
    accepted; otherwise `"partially_accepted"`."""
    if not passed or accepted == 0:
        return "rejected"
    return "accepted" if quarantined == 0 else "partially_accepted"


@dataclass(frozen=True)
class ContractFailure:
    """One batch-level rule that did not hold.

    Attributes:
        rule: Rule name, e.g. `min_rows`, `null_rate:barrel_temp_c`, `stuck:rpm`,
            `band:barrel_temp_c:mean`; the part before the first ":" is its prefix.
        severity: `"error"` blocks the batch (`ContractResult.passed` is False); `"warning"` does
            not. The rule's default, or the `contract.severity` override.
        message: What failed, on which value, and how to fix it.
        value: The observed value (a rate, a count, or column names), if any.
        threshold: The contract threshold it was compared to, if any.
    """

    rule: str
    severity: Severity
    message: str
    value: float | str | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (plain Python floats and strings)."""
        value = self.value
        if value is not None and not isinstance(value, str):
            value = float(value)
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "value": value,
            "threshold": None if self.threshold is None else float(self.threshold),
        }


@dataclass
class ContractResult:
    """The outcome of validating one batch against the plant's data contract.

    Attributes:
        accepted: Typed rows that passed every row-level rule: `timestamp` (datetime64[ns, UTC]),
            `machine_id`, one float64 column per sensor, then - only when the batch has them -
            the `contract.categories` columns (str), `label` (float64: 1.0 / 0.0, NaN when
            empty) and `arrival_time` (datetime64[ns, UTC], NaT when empty or without a zone);
            sorted by (timestamp, machine_id), index reset. Unexpected columns are dropped.
        quarantined: Rejected rows with every column as received (strings), plus `reason` (the
            highest-priority reason code), `detail` (all failures of the row) and `row_number`
            (1-based data row number in the batch; the header is not counted).
        rows_received: Data rows in the batch.
        rows_accepted: `len(accepted)`.
        rows_quarantined: `len(quarantined)`; always `rows_received - rows_accepted`.
        reasons: Quarantine reason code -> number of rows, most frequent first.
        failures: Batch-level rules that did not hold (errors and warnings), after the
            `contract.severity` overrides (rules set to `off` are left out).
        contract_version: `PlantConfig.contract_version()` of the contract applied.
    """

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    rows_received: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    failures: list[ContractFailure] = field(default_factory=list)
    contract_version: str = ""

    def __post_init__(self) -> None:
        check_accounting(
            "contract", self.rows_received, self.rows_accepted, self.rows_quarantined, self.reasons
        )
        if (
            len(self.accepted) != self.rows_accepted
            or len(self.quarantined) != self.rows_quarantined
        ):
            raise AssertionError(
                f"contract accounting broken: frames hold {len(self.accepted)} accepted / "
                f"{len(self.quarantined)} quarantined rows, counts say {self.rows_accepted} / "
                f"{self.rows_quarantined}"
            )

    @property
    def errors(self) -> list[ContractFailure]:
        """Failures with severity `"error"`."""
        return [f for f in self.failures if f.severity == "error"]

    @property
    def warnings(self) -> list[ContractFailure]:
        """Failures with severity `"warning"`."""
        return [f for f in self.failures if f.severity == "warning"]

    @property
    def passed(self) -> bool:
        """True when no batch-level rule with severity `"error"` failed."""
        return not self.errors

    @property
    def status(self) -> Status:
        """`"rejected"` if an error failed or nothing was accepted; `"accepted"` if every row was
        accepted; otherwise `"partially_accepted"`."""
        return batch_status(self.passed, self.rows_accepted, self.rows_quarantined)

    def failure(self, rule: str) -> ContractFailure | None:
        """The failure of `rule`, or None if that rule held."""
        return next((f for f in self.failures if f.rule == rule), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary: counts, reasons, failures, status, passed, contract_version."""
        return {
            "contract_version": self.contract_version,
            "status": self.status,
            "passed": self.passed,
            "rows_received": int(self.rows_received),
            "rows_accepted": int(self.rows_accepted),
            "rows_quarantined": int(self.rows_quarantined),
            "reasons": {str(k): int(v) for k, v in self.reasons.items()},
            "failures": [f.to_dict() for f in self.failures],
        }
