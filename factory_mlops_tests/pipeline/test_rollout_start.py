"""`start_rollout` never guesses the day a rollout starts on."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from factory_mlops.errors import RegistryError
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline import read_rollout, start_rollout
from factory_mlops.registry import InMemoryRegistry


def _registry_with_v4(plant_id: str, tags: dict[str, str]) -> InMemoryRegistry:
    """Versions 1-3 with lineage, then v4 with `tags` only."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    model = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, (x[:, 0] > 0).astype(int))
    registry = InMemoryRegistry()
    for _ in range(3):
        registry.register(
            plant_id, model, metrics={}, params={}, tags={"data_through": "2026-07-01"}
        )
    registry.register(plant_id, model, metrics={}, params={}, tags=tags)
    return registry


@pytest.mark.parametrize("tags", [{}, {"data_through": ""}])
def test_a_version_without_data_through_is_refused_not_started_today(
    plant_a_config, tmp_path: Path, tags: dict[str, str]
):
    home = FactoryHome(tmp_path / "home")
    with (
        _registry_with_v4(plant_a_config.plant_id, tags) as registry,
        pytest.raises(RegistryError, match=r"v4 has no data_through tag.*pass day="),
    ):
        start_rollout(
            plant_a_config, home, registry, 4, actor="person:x", reason="r", from_version=3
        )
    assert read_rollout(home, plant_a_config.plant_id) is None  # nothing was staged
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.jsonl"))
