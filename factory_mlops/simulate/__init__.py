"""Deterministic plant simulator: sensor readings and a late-arriving maintenance log.

`simulate_plant(config)` turns the `simulation` block of a `PlantConfig` into a `SimulatedPlant`;
`write_landing_files` exports chosen days as the historian CSVs the pipeline ingests.
This package does not depend on Dagster.
"""

from factory_mlops.simulate._landing import write_landing_files
from factory_mlops.simulate._plant import MAINTENANCE_COLUMNS, SimulatedPlant, simulate_plant

__all__ = [
    "MAINTENANCE_COLUMNS",
    "SimulatedPlant",
    "simulate_plant",
    "write_landing_files",
]
