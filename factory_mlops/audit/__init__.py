"""Tamper-evident audit log: which model made a call, and who changed what (ISO 9001, IATF 16949, 21 CFR 11).

An append-only JSON Lines file; every entry carries the sha256 of its own content and of the entry
before it, and a head anchor records the length and last hash, so `verify()` finds edited,
deleted, inserted, reordered and truncated entries. Stdlib only (no Dagster, no MLflow).

Usage::

    log = AuditLog.for_home(FactoryHome.resolve())
    log.append("promotion", actor="person:j.doe", plant="plant_a",
               versions={"from": 3, "to": 4}, reason="gate passed, approved in CR-1182")
    result = log.verify()          # AuditVerification(ok=True, entries=..., last_hash=...)
    log.last(plant="plant_a", kinds=["promotion", "rollback"])

See docs/audit.md.
"""

from factory_mlops.audit._cli import add_audit_parser
from factory_mlops.audit._entry import ACTOR_PREFIXES, GENESIS_HASH, KINDS, AuditEntry
from factory_mlops.audit._errors import AuditError
from factory_mlops.audit._log import AuditLog
from factory_mlops.audit._verify import AuditVerification

__all__ = [
    "ACTOR_PREFIXES",
    "GENESIS_HASH",
    "KINDS",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "AuditVerification",
    "add_audit_parser",
]
