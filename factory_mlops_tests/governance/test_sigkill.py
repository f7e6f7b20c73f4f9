"""A retrain killed with SIGKILL (mid-training or mid-registration) leaves no half-registered champion."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from factory_mlops.audit import AuditLog
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import RegistryError
from factory_mlops.governance import plant_status

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from factory_mlops.config import PlantConfig
    from factory_mlops.home import FactoryHome
    from factory_mlops.registry import ModelRegistry
    from factory_mlops.pipeline import _retrain, _run

    config = PlantConfig.model_validate_json(Path(sys.argv[1]).read_text())
    marker, stage = Path(sys.argv[3]), sys.argv[4]

    def hold(original):
        def held(*args, **kwargs):
            marker.write_text(stage)
            time.sleep(120)  # the test kills us here
            return original(*args, **kwargs)
        return held

    if stage == "training":
        _run.train_candidate = hold(_run.train_candidate)
    else:  # inside register: the MLflow version exists, its bundle and card are being logged
        _retrain.model_card = hold(_retrain.model_card)
    home = FactoryHome(Path(sys.argv[2]))
    eager = config.model_copy(update={"model": config.model.model_copy(update={"min_improvement": -1.0})})
    _run.run_retrain(eager, home, ModelRegistry.from_home(home), trigger="manual", reason="killed", actor="person:k")
""")


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["training", "registration"])
def test_sigkill_leaves_the_champion_and_the_edge_untouched(gov, tmp_path, stage):
    config, home, registry, _ = gov
    cfg_path, marker, script = tmp_path / "plant.json", tmp_path / "marker", tmp_path / "child.py"
    cfg_path.write_text(config.model_dump_json())
    script.write_text(CHILD)
    before = registry.list_versions(config.plant_id)
    child = subprocess.Popen(
        [sys.executable, str(script), str(cfg_path), str(home.root), str(marker), stage]
    )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert child.poll() is None, f"child exited early with {child.returncode}"
            assert time.monotonic() < deadline, "child never reached the kill point"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()

    p = config.plant_id
    assert registry.get_alias(p, "champion").version == 2
    assert all(EdgeModel.load(home.edge(p, n.id)).version == 2 for n in config.edge.nodes)
    audit = AuditLog.for_home(home)
    assert audit.verify().ok
    assert audit.last(plant=p, kinds=["retrain_requested"]).actor == "person:k"
    assert audit.last(plant=p, kinds=["promotion"]).versions["to"] == 2
    after = registry.list_versions(p)
    if stage == "training":
        assert [v.version for v in after] == [v.version for v in before]
    else:
        orphan = after[-1]
        assert len(after) == len(before) + 1 and not orphan.complete
        with pytest.raises(RegistryError, match="never finished registering"):
            registry.set_alias(p, "champion", orphan.version)
        st = plant_status(config, home, registry)
        assert any(f"[{orphan.version}] never finished registering" in x for x in st["problems"])
        with pytest.raises(RegistryError, match="no registered edge bundle"):
            from factory_mlops.governance import rollback

            rollback(config, home, registry, to=orphan.version, reason="try", actor="person:k")

    # the next retrain works normally and gets the next version number
    from factory_mlops.pipeline import run_retrain

    eager = config.model_copy(
        update={"model": config.model.model_copy(update={"min_improvement": -1.0})}
    )
    out = run_retrain(
        eager, home, registry, trigger="manual", reason="after the crash", actor="person:k"
    )
    assert out.version == after[-1].version + 1 and registry.get_version(p, out.version).complete
