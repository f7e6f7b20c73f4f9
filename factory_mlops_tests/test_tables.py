"""The tables and charts the Dagster metadata shows: typed columns, rounded figures, data days."""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import pytest

from factory_mlops.charts import day_chart
from factory_mlops.evaluation import GateCheck
from factory_mlops.orchestration import metadata_values as mv
from factory_mlops.tables import (
    comparison_table,
    fleet_table,
    gate_table,
    psi_table,
    rounded,
    slices_table,
)


def test_rounded_keeps_four_significant_digits_and_never_invents_a_zero():
    assert rounded(0.123456789) == 0.1235
    assert rounded(12.345678) == 12.35
    assert rounded(123456.789) == 123457.0
    assert rounded(-0.000123456) == -0.0001235
    assert rounded(0.0) == 0.0
    assert rounded(None) is None and rounded(math.nan) is None and rounded(math.inf) is None


def test_comparison_is_one_table_of_challenger_against_champion():
    t = comparison_table(
        {"pr_auc": 0.61234, "alarm_rate": 0.071, "zeta": 1.0},
        {"pr_auc": 0.5, "alarm_rate": 0.08},
        2,
    )
    assert [c.name for c in t.columns] == ["metric", "challenger", "champion v2", "change"]
    assert [r["metric"] for r in t.rows] == ["pr_auc", "alarm_rate", "zeta"]  # scan order
    assert t.rows[0] == {
        "metric": "pr_auc",
        "challenger": 0.6123,
        "champion v2": 0.5,
        "change": 0.1123,
    }
    assert t.rows[2]["champion v2"] is None and t.rows[2]["change"] is None  # not 0
    first = comparison_table({"pr_auc": 0.4}, None, None)
    assert first.rows[0]["champion"] is None and "no champion yet" in first.columns[2].description


def test_the_tables_become_dagster_tables_with_a_schema():
    checks = [
        GateCheck("floor:alarm_rate", None, 0.97, "<= 0.5", False, "alarms on 97 % of rows"),
        GateCheck("pr_auc", 0.5, 0.61, ">= champion + 0.01", True, "better"),
    ]
    gate = gate_table(checks)
    assert [r["result"] for r in gate.rows] == ["FAIL", "pass"]
    value = mv.table(gate)
    assert isinstance(value, dg.TableMetadataValue)
    assert [c.name for c in value.schema.columns] == [c.name for c in gate.columns]
    assert value.schema.columns[1].type == "float"
    assert value.records[0].data["champion"] is None and value.records[0].data["challenger"] == 0.97
    psi = psi_table({"a": 0.3, "b": 4.2, "c": math.nan, "d": 0.9}, ["a"], top=2)
    assert [(r["feature"], r["drifted"]) for r in psi.rows] == [("a", True), ("b", False)]
    sl = slices_table({"press": {"rows": 10.0, "failures": 2.0, "pr_auc": 0.555555}}, "pr_auc")
    assert sl.rows[0]["caught"] is None and sl.rows[0]["pr_auc"] == 0.5556
    nodes = fleet_table([{"node": "edge-1", "version": None, "health": "ok", "canary": True}])
    assert nodes.rows[0]["version"] == "none (monitoring only)" and nodes.rows[0]["canary"] is True


def test_day_charts_are_pngs_over_data_days():
    days = [dt.date(2026, 6, 29) + dt.timedelta(days=i) for i in range(3)]
    png = day_chart(days, {"share": [0.0, None, 0.37]}, title="t", ylabel="y", lines={"limit": 0.2})
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert mv.image(png, "share").value.startswith("![share](data:image/png;base64,iVBOR")
    with pytest.raises(ValueError, match="has 2 values for 3 days"):
        day_chart(days, {"share": [0.0, 1.0]}, title="t", ylabel="y")
    with pytest.raises(ValueError, match="no day to draw"):
        day_chart([], {}, title="t", ylabel="y")
