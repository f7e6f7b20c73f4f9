"""The pipeline signs every registered bundle and provisions the nodes' trust; a foreign bundle is refused."""

import json
import shutil

import pytest

from factory_mlops.bundle import (
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    TRUSTED_KEYS_DIR,
    NodeConfig,
    current_bundle,
    manifest_digest,
    trusted_keys,
)
from factory_mlops.deploy import BundleSigner, install_bundle, sign_bundle
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import BundleError
from factory_mlops.governance import plant_status
from factory_mlops.pipeline import registered_bundle


def test_deployed_bundles_are_signed_and_nodes_refuse_another_key(gov, tmp_path):
    config, home, registry, _ = gov
    p, node = config.plant_id, config.edge.nodes[0].id
    node_dir = home.edge(p, node)
    signer = BundleSigner.from_env_or_home(home.root)
    assert set(trusted_keys(node_dir)) == {signer.key_id}
    live = EdgeModel.load(node_dir)
    assert (live.bundle_dir / SIGNATURE_FILE).exists() and live.version == 2
    assert live.has_explainer and (live.bundle_dir / "contract.json").exists()

    # the same registered bundle, re-signed by a key the node does not trust
    forged = tmp_path / "forged"
    shutil.copytree(registered_bundle(home, registry, p, 1), forged)
    (forged / SIGNATURE_FILE).unlink()
    sign_bundle(forged, BundleSigner.generate())
    with pytest.raises(BundleError, match="key"):
        install_bundle(forged, node_dir, require_signature=True)
    assert EdgeModel.load(node_dir).version == 2  # still serving the trusted bundle


@pytest.mark.security
def test_the_deploy_pins_the_home_key_in_the_node_config_outside_the_node_folder(gov):
    config, home, _, _ = gov
    signer = BundleSigner.from_env_or_home(home.root)
    for n in config.edge.nodes:
        node_config = NodeConfig(home.edge_node_config(config.plant_id, n.id))
        assert not node_config.path.is_relative_to(home.edge(config.plant_id, n.id))
        assert set(node_config.pinned_keys()) == {signer.key_id}


@pytest.mark.security
def test_status_flags_a_node_serving_a_tampered_bundle(gov):
    config, home, registry, _ = gov
    p, node = config.plant_id, config.edge.nodes[0].id
    node_dir = home.edge(p, node)
    assert plant_status(config, home, registry)["edge_nodes"][0]["health"] == "ok"
    # the attack of the issue: no signature, no trusted_keys/, a silenced threshold, a fixed digest
    live = current_bundle(node_dir)
    (live / SIGNATURE_FILE).unlink()
    shutil.rmtree(node_dir / TRUSTED_KEYS_DIR)
    manifest = json.loads((live / MANIFEST_FILE).read_text())
    manifest["threshold"] = 1.0
    manifest[MANIFEST_DIGEST_KEY] = manifest_digest(manifest)
    (live / MANIFEST_FILE).write_text(json.dumps(manifest))
    status = plant_status(config, home, registry)
    served = next(n for n in status["edge_nodes"] if n["node"] == node)
    assert served["version"] == 2 and served["health"] == "degraded"
    assert served["bundle_matches_registry"] is False and served["verified"] is False
    assert "not signed" in served["error"]
    assert any(
        f"edge node {node} serves bundle" in prob and "registered bundle of v2" in prob
        for prob in status["problems"]
    ), status["problems"]
