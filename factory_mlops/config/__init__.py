"""Plant configuration: `plants/<plant_id>/plant.yaml` validated into a typed `PlantConfig`.

Everything that differs between plants is data in that file. A wrong key or type fails at load time
with a `PlantConfigError` that names the file, the key and the expected form.

One module per plant.yaml block (`_sensors`, `_contract`, `_features`, `_model`, `_drift`, `_costs`,
`_retrain`, `_monitoring`, `_edge`, `_simulation`, `_sources`), the whole file in `_plant`,
templates per equipment type and `extends:` in `_templates`, and reading it in `_load`. Import from
`factory_mlops.config`.
"""

from factory_mlops.config._base import Action, RuleSeverity, SeverityName
from factory_mlops.config._contract import SEVERITY_RULES, BandsConfig, ContractConfig
from factory_mlops.config._costs import CostConfig
from factory_mlops.config._drift import DriftConfig
from factory_mlops.config._edge import EdgeConfig, EdgeNodeConfig, RolloutConfig
from factory_mlops.config._features import (
    BaselineConfig,
    FeatureConfig,
    RegimeConfig,
    SpectralConfig,
    Stat,
)
from factory_mlops.config._load import (
    default_plants_dir,
    discover_plants,
    load_plant_config,
    parse_plant_config,
    read_plant_yaml,
    resolve_plant,
    validation_lines,
)
from factory_mlops.config._model import GateFloorsConfig, ModelConfig
from factory_mlops.config._monitoring import (
    ControlChartConfig,
    IntegrityConfig,
    LatencyConfig,
    MonitoringConfig,
    PerformanceEstimateConfig,
    StepConfig,
)
from factory_mlops.config._plant import ExampleConfig, PlantConfig
from factory_mlops.config._retrain import RetrainConfig
from factory_mlops.config._sensors import MachineConfig, SensorConfig
from factory_mlops.config._simulation import (
    SimEventConfig,
    SimEventKind,
    SimSensorConfig,
    SimulationConfig,
)
from factory_mlops.config._sources import (
    LabelSource,
    LongLayout,
    MachineSource,
    ReadingsSource,
    SourceConfig,
    TimeSource,
    UnitConversion,
)
from factory_mlops.config._templates import (
    FLEET_ENV,
    INSTANCE_KEYS,
    KEYED_LISTS,
    Template,
    discover_templates,
    find_template,
    merge_onto_template,
    read_template,
    template_dirs,
)
from factory_mlops.errors import PlantConfigError  # what loading plant.yaml raises

__all__ = [
    "FLEET_ENV",
    "INSTANCE_KEYS",
    "KEYED_LISTS",
    "SEVERITY_RULES",
    "Action",
    "BandsConfig",
    "BaselineConfig",
    "ContractConfig",
    "ControlChartConfig",
    "CostConfig",
    "DriftConfig",
    "EdgeConfig",
    "EdgeNodeConfig",
    "ExampleConfig",
    "FeatureConfig",
    "GateFloorsConfig",
    "IntegrityConfig",
    "LabelSource",
    "LatencyConfig",
    "LongLayout",
    "MachineConfig",
    "MachineSource",
    "ModelConfig",
    "MonitoringConfig",
    "PerformanceEstimateConfig",
    "PlantConfig",
    "PlantConfigError",
    "ReadingsSource",
    "RegimeConfig",
    "RetrainConfig",
    "RolloutConfig",
    "RuleSeverity",
    "SensorConfig",
    "SeverityName",
    "SimEventConfig",
    "SimEventKind",
    "SimSensorConfig",
    "SimulationConfig",
    "SourceConfig",
    "SpectralConfig",
    "Stat",
    "StepConfig",
    "Template",
    "TimeSource",
    "UnitConversion",
    "default_plants_dir",
    "discover_plants",
    "discover_templates",
    "find_template",
    "load_plant_config",
    "merge_onto_template",
    "parse_plant_config",
    "read_plant_yaml",
    "read_template",
    "resolve_plant",
    "template_dirs",
    "validation_lines",
]
