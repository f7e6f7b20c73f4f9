"""Bounded load on loopback: 50 tablets, 2,000 verdicts (+ double taps) to a real `feedback serve`
process; every accepted verdict is stored exactly once and audited, every double tap refused."""

from __future__ import annotations

import pytest

from benchmarks._feedback_load import run_load

pytestmark = pytest.mark.slow


def test_fifty_clients_two_thousand_verdicts_each_stored_exactly_once(tmp_path):
    figures = run_load(tmp_path / "home", clients=50, per_client=40, double_tap_every=20)
    assert figures["errors"] == [], figures["errors"]
    assert figures["submissions"] == 2000 and figures["accepted"] == 2000
    assert figures["stored_rows"] == 2000 and figures["stored_once"]
    assert figures["audit_entries"] == 2000 and figures["audit_chain_ok"]
    assert figures["refused_409"] == figures["double_taps"] == 100
    assert figures["statuses"] == {303: 2000, 409: 100}
