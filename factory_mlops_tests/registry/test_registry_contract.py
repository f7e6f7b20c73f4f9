"""The `Registry` rules, checked on every implementation: MLflow (the product's) and in-memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from factory_mlops.errors import RegistryError
from factory_mlops.lineage import Lineage
from factory_mlops.registry import (
    CHAMPION,
    InMemoryRegistry,
    ModelRegistry,
    RegisteredVersion,
    Registry,
)


def _model(seed: int = 0) -> lgb.LGBMClassifier:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 3))
    y = (x[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int)
    return lgb.LGBMClassifier(n_estimators=5, verbose=-1, random_state=seed).fit(x, y)


@pytest.fixture(params=["mlflow", "memory"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    if request.param == "mlflow":
        yield ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}")
    else:
        with InMemoryRegistry() as mem:
            yield mem


def _lineage(trigger: str = "initial") -> dict[str, str]:
    return Lineage(
        plant="p1", trigger=trigger, data_through="2026-07-01", alarm_threshold=0.25, seed=0
    ).to_tags()


def test_both_implementations_are_registries(registry: Registry) -> None:
    assert isinstance(registry, Registry)
    assert registry.model_name("p1") == "p1-failure-risk"


def test_versions_count_from_one_with_tags_metrics_and_typed_lineage(
    registry: Registry, tmp_path: Path
) -> None:
    spec = tmp_path / "feature_spec.json"
    spec.write_text('{"a": 1}')
    v1 = registry.register(
        "p1",
        _model(0),
        metrics={"pr_auc": 0.5},
        params={"n": 5},
        tags=_lineage(),
        artifacts={"feature_spec.json": spec},
    )
    v2 = registry.register(
        "p1", _model(1), metrics={"pr_auc": 0.7}, params={}, tags=_lineage("drift")
    )
    assert (v1.version, v2.version) == (1, 2)
    assert v1.complete and v2.complete
    assert registry.get_version("p1", 1).metrics == {"pr_auc": 0.5}
    assert [v.version for v in registry.list_versions("p1")] == [1, 2]
    lineage = registry.get_version("p1", 2).lineage
    assert (lineage.trigger, lineage.alarm_threshold, lineage.seed) == ("drift", 0.25, 0)
    assert lineage.parent_version is None  # not recorded, not shown as 0
    out = tmp_path / "out"
    out.mkdir()
    got = registry.download_artifact("p1", 1, "feature_spec.json", out)
    assert got.read_text() == '{"a": 1}'
    with pytest.raises(RegistryError, match="has no artifact"):
        registry.download_artifact("p1", 2, "feature_spec.json", out)


def test_aliases_move_and_champion_needs_a_complete_version(registry: Registry) -> None:
    assert registry.get_alias("p1", CHAMPION) is None
    assert registry.aliases("p1") == {}
    registry.register("p1", _model(0), metrics={}, params={}, tags=_lineage())

    def broken(v: RegisteredVersion) -> tuple[dict[str, Path], dict[str, str]]:
        raise OSError("disk full while writing the bundle")

    with pytest.raises(OSError, match="disk full"):
        registry.register("p1", _model(1), metrics={}, params={}, tags=_lineage(), finalize=broken)
    half = registry.get_version("p1", 2)
    assert not half.complete
    with pytest.raises(RegistryError, match="never finished registering"):
        registry.set_alias("p1", CHAMPION, 2)
    registry.set_alias("p1", CHAMPION, 1)
    registry.set_alias("p1", "challenger", 2)  # an incomplete version may still be looked at
    assert registry.aliases("p1") == {CHAMPION: 1, "challenger": 2}
    champ = registry.get_alias("p1", CHAMPION)
    assert champ is not None and champ.version == 1
    assert registry.delete_alias("p1", "challenger") is True
    assert registry.delete_alias("p1", "challenger") is False


def test_finalize_adds_tags_and_artifacts_before_completion(
    registry: Registry, tmp_path: Path
) -> None:
    card = tmp_path / "model_card.md"
    card.write_text("# card")
    seen: list[int] = []

    def finalize(v: RegisteredVersion) -> tuple[dict[str, Path], dict[str, str]]:
        seen.append(v.version)
        return {"model_card.md": card}, {"bundle_sha256": "ab" * 32}

    v = registry.register("p1", _model(), metrics={}, params={}, tags=_lineage(), finalize=finalize)
    assert seen == [1]
    assert v.complete and v.lineage.bundle_sha256 == "ab" * 32
    out = tmp_path / "o"
    out.mkdir()
    assert registry.download_artifact("p1", 1, "model_card.md", out).read_text() == "# card"


def test_bad_input_is_refused_with_the_reason(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="invalid plant id"):
        registry.register("../x", _model(), metrics={}, params={}, tags={})
    with pytest.raises(RegistryError, match="reserved"):
        registry.register("p1", _model(), metrics={}, params={}, tags={"metric.x": "1"})
    with pytest.raises(RegistryError, match="contradicts plant_id"):
        registry.register("p1", _model(), metrics={}, params={}, tags={"plant": "p2"})
    with pytest.raises(RegistryError, match="not fitted"):
        registry.register("p1", lgb.LGBMClassifier(), metrics={}, params={}, tags={})
    with pytest.raises(RegistryError, match="no registered versions yet"):
        registry.get_version("p1", 1)
    registry.register("p1", _model(), metrics={}, params={}, tags={})
    with pytest.raises(RegistryError, match=r"existing versions: \[1\]"):
        registry.get_version("p1", 3)


def test_the_loaded_model_predicts_like_the_registered_one(registry: Registry) -> None:
    model = _model(3)
    registry.register("p1", model, metrics={}, params={}, tags={})
    x = np.random.default_rng(9).normal(size=(20, 3))
    np.testing.assert_allclose(
        registry.load_model("p1", 1).predict_proba(x), model.predict_proba(x), rtol=0, atol=1e-12
    )


def test_lineage_round_trips_and_keeps_unknown_tags() -> None:
    lin = Lineage(
        plant="p1",
        trigger="drift",
        parent_version=3,
        alarm_threshold=0.125,
        feedback_labels_used=0,
        gate_floors_failed="",
        extra={"owner": "line 4"},
    )
    tags = lin.to_tags()
    assert tags["parent_version"] == "3" and tags["alarm_threshold"] == "0.125"
    assert "data_through" not in tags  # unknown is not written as a plausible value
    back = Lineage.from_tags(tags)
    assert back.parent_version == 3 and back.feedback_labels_used == 0
    assert back.gate_floors_failed is None  # "" (cleared every floor) reads as no failure
    assert back.extra == {"owner": "line 4"}
    with pytest.raises(ValueError, match="lineage tag seed='x'"):
        Lineage.from_tags({"plant": "p1", "seed": "x"})
