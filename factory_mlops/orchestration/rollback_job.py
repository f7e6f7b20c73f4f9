"""The per-plant rollback job: the same library call as `factory-mlops rollback`, launched from Dagster."""

import dagster as dg
from pydantic import Field

from factory_mlops.config import PlantConfig
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.resources import FactoryHomeResource


class RollbackConfig(dg.Config):
    """Launchpad config of a rollback run."""

    reason: str = Field(description="Why roll back (required; goes into the audit log).")
    to_version: int | None = Field(
        None, description="Version to make champion again; empty = the previous champion."
    )
    actor: str = Field("", description="Who asks, e.g. person:anna (default: from the run's tags).")


def build_rollback_job(plant: PlantConfig) -> dg.JobDefinition:
    p = plant.plant_id

    @dg.op(
        name=f"{p}__rollback",
        tags={"plant": p},
        description=f"Move {p}'s champion back, redeploy its bundle to every edge node, write the audit entries.",
    )
    def rollback_op(
        context: dg.OpExecutionContext, config: RollbackConfig, factory_home: FactoryHomeResource
    ) -> dict:
        from factory_mlops.governance import rollback

        actor = config.actor or T.actor_from_tags(context.run.tags)
        result = rollback(
            plant,
            factory_home.factory_home(),
            factory_home.registry(),
            to=config.to_version,
            reason=config.reason,
            actor=actor,
        )
        dep = result.deployment
        context.log_event(
            dg.AssetMaterialization(
                asset_key=[p, "edge_deployment"],
                description=f"rollback v{result.from_version} -> v{result.to_version}",
                metadata={
                    "deployed": True,
                    "version": dep.version,
                    "bundle_sha256": dep.bundle_sha256,
                    "nodes": ", ".join(dep.nodes),
                    "rollback_from": result.from_version,
                    "reason": config.reason,
                    "actor": actor,
                    "onnx_path": dg.MetadataValue.path(dep.onnx_path),
                },
            )
        )
        return result.to_dict()

    @dg.job(
        name=T.job_names(p)["rollback"],
        tags={T.PLANT: p},
        executor_def=dg.in_process_executor,
        description=f"Roll {p} back to an earlier champion (default: the previous one) and redeploy it to the edge.",
    )
    def rollback_job() -> None:
        rollback_op()

    return rollback_job
