"""factory_mlops: pipeline-as-code MLOps on Dagster for predictive maintenance in plants."""

from factory_mlops.config import PlantConfig, load_plant_config
from factory_mlops.errors import FactoryMLOpsError, PlantConfigError
from factory_mlops.home import FactoryHome

__version__ = "0.1.0"

__all__ = [
    "FactoryHome",
    "FactoryMLOpsError",
    "PlantConfig",
    "PlantConfigError",
    "__version__",
    "load_plant_config",
]
