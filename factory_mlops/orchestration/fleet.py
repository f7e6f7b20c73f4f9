"""The `fleet` code location: cross-plant assets over every plant's home (thin: the rows come from
`factory_mlops.fleet.fleet_scorecard`)."""

from pathlib import Path

import dagster as dg

from factory_mlops.config import default_plants_dir
from factory_mlops.fleet import SCORECARD_COLUMNS, fleet_scorecard
from factory_mlops.home import resolve_home
from factory_mlops.orchestration.resources import FactoryHomeResource

#: Scorecard figures also given as numbers, so Dagster plots them over materializations.
PLOTTED = (
    "contract_pass_rate",
    "failures_caught",
    "failures_missed",
    "holdout_pr_auc",
    "holdout_rmse",
)


def build_fleet_definitions(
    plants_dir: str | Path | None = None, *, home: str | Path | None = None
) -> dg.Definitions:
    """`fleet/plant_scorecard`: one table row per plant under `plants_dir` (default: the plants
    folder `factory-mlops` uses), read from the home (default `$FACTORY_MLOPS_HOME`)."""
    plants = Path(plants_dir) if plants_dir is not None else default_plants_dir()

    @dg.asset(
        key=["fleet", "plant_scorecard"],
        group_name="fleet",
        description="Per plant: champion version and age, holdout metrics, drift and integrity "
        "severity, failures caught and missed and downtime cost (latest 30-day impact window), "
        "retrains, rollbacks and contract pass rate. n/a = the home does not record it.",
    )
    def plant_scorecard(factory_home: FactoryHomeResource) -> dg.MaterializeResult:
        rows = fleet_scorecard(plants, factory_home.factory_home())
        schema = dg.TableSchema(
            columns=[
                dg.TableColumn(k, "string", description=d) for k, d in SCORECARD_COLUMNS.items()
            ]
        )
        # numeric entries are plotted over materializations in the UI (the chart); n/a is left out
        plotted = {
            f"{r.plant_id}/{k}": float(v)
            for r in rows
            for k, v in r.to_dict().items()
            if k in PLOTTED and v is not None
        }
        return dg.MaterializeResult(
            metadata={
                "scorecard": dg.TableMetadataValue(
                    records=[dg.TableRecord(r.display()) for r in rows], schema=schema
                ),
                "plants": len(rows),
                "scorecard_json": dg.JsonMetadataValue([r.to_dict() for r in rows]),
                **plotted,
            }
        )

    return dg.Definitions(
        assets=[plant_scorecard],
        resources={"factory_home": FactoryHomeResource(home=str(resolve_home(home)))},
    )
