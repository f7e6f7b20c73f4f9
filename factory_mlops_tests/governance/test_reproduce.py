"""Reproduce retrains a version from its lineage and must match it; gone data fails clearly."""

import json

import pytest

from factory_mlops.audit import AuditLog
from factory_mlops.cli import main
from factory_mlops.errors import ReproduceError
from factory_mlops.governance import reproduce
from factory_mlops.ingest import Lake
from factory_mlops.pipeline import FEATURES


def test_reproduce_matches_the_registered_model_then_fails_when_its_data_is_gone(gov, capsys):
    config, home, registry, days = gov
    for version in (1, 2):
        report = reproduce(config, home, registry, version, actor="person:auditor")
        assert report.reproduced, report
        assert report.max_abs_diff == 0.0 and report.holdout_rows > 100
        assert report.threshold_reproduced == report.threshold_registered
        assert (
            report.training_data_sha256
            == registry.get_version(config.plant_id, version).tags["training_data_sha256"]
        )
    entry = AuditLog.for_home(home).last(plant=config.plant_id, kinds=["reproduce"])
    assert (
        entry.versions == {"version": 2}
        and entry.actor == "person:auditor"
        and entry.reason.startswith("reproduced")
    )

    assert main(["reproduce", config.source_path, "1", "--home", str(home.root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reproduced"] is True and out["max_abs_diff"] == 0.0

    # a feature partition inside v1's training window is deleted: the checksum can no longer be met
    v1_through = registry.get_version(config.plant_id, 1).tags["data_through"]
    victim = next(d for d in days if d.isoformat() < v1_through and d > days[5])
    Lake(home, config.plant_id).path(FEATURES, victim).unlink()
    with pytest.raises(ReproduceError, match="is no longer available"):
        reproduce(config, home, registry, 1)
    assert main(["reproduce", config.source_path, "1", "--home", str(home.root)]) == 1
    assert "is no longer available" in capsys.readouterr().err
