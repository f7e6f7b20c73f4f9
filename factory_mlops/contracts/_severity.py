"""Severity overrides of batch-level rules (`contract.severity` in plant.yaml)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from factory_mlops.contracts._result import ContractFailure

# Whole-batch rejections: nothing of the batch can be validated, so their severity is fixed.
# (`duplicate_columns` and the file-level reasons of `quarantine_whole_batch`, e.g.
# `unparseable_file`, never pass through the overrides at all.)
FIXED_SEVERITY_RULES: frozenset[str] = frozenset({"missing_columns", "duplicate_columns"})


def rule_prefix(rule: str) -> str:
    """The part of a rule name before the first ":" (`stuck:rpm` -> `stuck`)."""
    return rule.split(":", 1)[0]


def apply_severity(
    failures: Iterable[ContractFailure], overrides: Mapping[str, str]
) -> list[ContractFailure]:
    """Apply `contract.severity` to batch-level failures.

    An override keyed by the exact rule name (`stuck:rpm`) wins over one keyed by its prefix
    (`stuck`). `"error"` / `"warning"` set the severity, `"off"` drops the failure. Rules in
    `FIXED_SEVERITY_RULES` keep theirs.

    Args:
        failures: The failures as the rules report them.
        overrides: Rule or prefix -> `"error"`, `"warning"` or `"off"`.

    Returns:
        The failures after the overrides, in the same order.
    """
    out: list[ContractFailure] = []
    for failure in failures:
        if failure.rule in FIXED_SEVERITY_RULES:
            out.append(failure)
            continue
        severity = overrides.get(failure.rule, overrides.get(rule_prefix(failure.rule)))
        if severity is None or severity == failure.severity:
            out.append(failure)
        elif severity == "off":
            continue
        else:
            out.append(dataclasses.replace(failure, severity=severity))  # type: ignore[arg-type]
    return out
