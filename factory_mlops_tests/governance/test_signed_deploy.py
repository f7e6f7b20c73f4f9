"""The pipeline signs every registered bundle and provisions the nodes' trust; a foreign bundle is refused."""

import shutil

import pytest

from factory_mlops.bundle import SIGNATURE_FILE, trusted_keys
from factory_mlops.deploy import BundleSigner, install_bundle, sign_bundle
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import BundleError
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
