"""`start_rollout` never guesses the day a rollout starts on."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from factory_mlops.errors import RegistryError
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline import read_rollout, start_rollout


class _Registry:
    """Only what `start_rollout` asks before anything moves."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def get_version(self, plant_id: str, version: int) -> Any:
        return SimpleNamespace(version=version, tags=self.tags)


@pytest.mark.parametrize("tags", [{}, {"data_through": ""}])
def test_a_version_without_data_through_is_refused_not_started_today(
    plant_a_config, tmp_path: Path, tags: dict[str, str]
):
    home = FactoryHome(tmp_path / "home")
    with pytest.raises(RegistryError, match=r"v4 has no data_through tag.*pass day="):
        start_rollout(
            plant_a_config, home, _Registry(tags), 4, actor="person:x", reason="r", from_version=3
        )
    assert read_rollout(home, plant_a_config.plant_id) is None  # nothing was staged
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.jsonl"))
