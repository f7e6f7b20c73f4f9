"""The pipeline's spec: regimes fitted once on the first passed days, persisted, then reused."""

from __future__ import annotations

import shutil
from pathlib import Path

from factory_mlops.config import default_plants_dir, load_plant_config, parse_plant_config
from factory_mlops.features import compute_features
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore
from factory_mlops.pipeline._features import plant_feature_spec
from factory_mlops.pipeline._ingest import ingest_file


def test_regimes_are_fitted_on_the_first_days_and_reused(tmp_path: Path) -> None:
    plant_dir = default_plants_dir() / "cmapss_fd002"
    # the plant as loaded (merged onto its turbofan_engine template), with regimes switched on
    data = load_plant_config(plant_dir / "plant.yaml").model_dump(mode="json")
    data["features"]["regimes"] = {
        "settings": ["op_altitude_kft", "op_mach", "op_tra"],
        "n_regimes": 6,
        "fit_days": 2,
    }
    cfg = parse_plant_config(data, str(plant_dir / "plant.yaml"))
    home = FactoryHome(tmp_path / "home")
    landing = home.landing(cfg.plant_id)
    landing.mkdir(parents=True)
    src = landing / "train_FD002.txt.xz"
    shutil.copy(plant_dir / "data" / "train_FD002.txt.xz", src)
    ingest_file(cfg, home, src)
    spec = plant_feature_spec(cfg, home)
    assert spec.regimes is not None and spec.regimes.fit is not None
    assert len(spec.regimes.fit["centroids"]) == 6
    stored = list((home.models(cfg.plant_id) / "feature_regimes").glob("*.json"))
    assert len(stored) == 1
    again = plant_feature_spec(cfg, home)  # read back, not refitted
    assert again.hash == spec.hash
    store = ReadingsStore(home, cfg.plant_id)
    feats = compute_features(store.read_days(store.passed_days()[:3]), spec)
    # standardised per operating condition: the sensor levels of the six conditions are gone
    assert feats["t50_lpt_out_k__mean_360m"].abs().median() < 3.0
