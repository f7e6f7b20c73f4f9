"""plant.yaml `edge:`: nodes and staged rollout."""

from __future__ import annotations

from pydantic import Field, model_validator

from factory_mlops.config._base import _Strict


class EdgeNodeConfig(_Strict):
    id: str
    line: str = ""
    canary: bool = Field(
        False, description="A new champion runs here first, in shadow beside the current model."
    )


class RolloutConfig(_Strict):
    """Staged rollout: shadow on the canary nodes, then every node if the canary stays healthy."""

    shadow_days: float = Field(
        2, gt=0, description="Days of shadow scoring on the canaries before the fleet switches."
    )
    max_alarm_rate: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A shadow model alarming on more rows than this is unhealthy (rolled back).",
    )
    max_ms_per_row: float | None = Field(
        None,
        gt=0,
        description="Shadow scoring slower than this per row is unhealthy; null = no latency limit.",
    )
    max_disagreement: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Share of rows where shadow and current alarm differently that is unhealthy; null = recorded only "
        "(a retrained model is expected to disagree with the one it replaces).",
    )


class EdgeConfig(_Strict):
    nodes: list[EdgeNodeConfig] = Field(default_factory=lambda: [EdgeNodeConfig(id="edge_1")])
    parity_tolerance: float = Field(1e-5, gt=0)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    explain_top_k: int = Field(
        5,
        ge=0,
        le=50,
        description="Top feature contributions logged with each batch-scored prediction (0 = none); the "
        "shop-floor page explains predictions from them. Needs a bundle with an explainer.",
    )

    @model_validator(mode="after")
    def _unique_nodes(self) -> EdgeConfig:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"edge node ids must be unique, got {ids}")
        return self
