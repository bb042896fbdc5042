"""One deployable environment: the platform's stacks wired together in a CDK Stage."""

from __future__ import annotations

from aws_cdk import Annotations, Environment, Stage, Tags
from constructs import Construct

import naming
from config import EnvironmentConfig
from config.dataset import REPO_ROOT
from stacks.foundation.data_replica_stack import DataReplicaStack
from stacks.foundation.data_stack import DataStack
from stacks.foundation.network_stack import NetworkStack
from stacks.foundation.notebook_stack import NotebookStack
from stacks.foundation.roles_stack import ExecutionRolesStack
from stacks.foundation.studio_stack import StudioStack
from stacks.serving.serving_stack import ServingStack
from stacks.shared.compliance import add_compliance_checks
from stacks.training.source_tarball import ARCHIVE, data_like_files
from stacks.training.training_pipeline_stack import TrainingPipelineStack


class PlatformStage(Stage):
    """Data → Network → Roles → Notebooks → Studio, then per model TrainingPipeline → Serving, for one environment
    (stacks deploy in that order)."""

    def __init__(
        self, scope: Construct, id_: str, *, env_config: EnvironmentConfig, smoke_test_account: str | None = None
    ) -> None:
        """``smoke_test_account``: the delivery pipeline's account, whose smoke test may invoke the endpoint."""
        super().__init__(scope, id_, env=Environment(account=env_config.account, region=env_config.region))
        cfg = self.env_config = env_config
        tags = cfg.resource_tags
        #: One-line messages for whoever runs synth (app.py prints them; the CDK CLI shows only warnings).
        self.notices: list[str] = []

        self.data = DataStack(
            self, naming.DATA_STACK, env_config=cfg, description=f"{cfg.name}: data key and data-lake buckets (stateful)"
        )
        self.replica = None
        if cfg.data.replication:
            region = cfg.data.replication.region
            self.replica = DataReplicaStack(
                self, naming.DATA_REPLICA_STACK, env_config=cfg,
                env=Environment(account=cfg.account, region=region),
                description=f"{cfg.name}: the model artifacts' disaster-recovery replica in {region} (stateful)",
            )
            # Replication names the replica bucket and key, which must exist first.
            self.data.add_stack_dependency(self.replica)
        self.network = NetworkStack(
            self, "Network", env_config=cfg, log_key=self.data.key,
            description=f"{cfg.name}: VPC, private subnets, VPC endpoints and flow logs",
        )
        self.roles = ExecutionRolesStack(
            self,
            "Roles",
            env_config=cfg,
            data=self.data.exports,
            workloads=self.network.workloads,
            notebook_names=[naming.notebook_instance_name(cfg.name, nb.name) for nb in cfg.notebooks],
            description=f"{cfg.name}: least-privilege SageMaker execution roles",
        )
        # Imports by export name carry no implicit dependency: state it.
        self.roles.add_stack_dependency(self.data)
        self.notebooks = None
        if cfg.notebooks:
            self.notebooks = NotebookStack(
                self,
                "Notebooks",
                env_config=cfg,
                vpc=self.network.vpc,
                subnets=self.network.workload_subnets,
                role=self.roles.notebooks_role,
                key=self.data.key,
                experiments_role=self.roles.experiments_role,
                workloads=self.network.workloads,
                data=self.data.exports,
                description=f"{cfg.name}: SageMaker notebook instances with lifecycle configs",
            )
        self.studio = None
        if cfg.studio.enabled:
            self.studio = StudioStack(
                self,
                naming.STUDIO_STACK,
                env_config=cfg,
                data=self.data.exports,
                workloads=self.network.workloads,
                description=f"{cfg.name}: SageMaker Studio (VPC only): teams' roles, user profiles and JupyterLab spaces",
            )
            self.studio.add_stack_dependency(self.data)
        #: Each model of the catalog: its own training stack and, once it names a version to serve, its serving stack.
        self.training: dict[str, TrainingPipelineStack] = {}
        self.serving: dict[str, ServingStack] = {}
        for model in cfg.models.values():
            training = self.training[model.name] = TrainingPipelineStack(
                self,
                naming.model_stack_id(model.name, naming.TRAINING_STACK),
                env_config=cfg,
                model=model,
                data=self.data.exports,
                data_key=self.data.key,
                workloads=self.network.workloads,
                description=f"{cfg.name}: the {model.name} model's SageMaker training pipeline, evaluation gate and notifications",
            )
            training.add_stack_dependency(self.data)
            shipped_data = data_like_files((REPO_ROOT / model.code_dir).resolve())
            if shipped_data:
                shown = ", ".join(shipped_data[:3]) + (f" and {len(shipped_data) - 3} more" if len(shipped_data) > 3 else "")
                self.notices.append(
                    f"{cfg.name}: models.{model.name}.code_dir {model.code_dir} ships data to every job in {ARCHIVE}: {shown} "
                    "(keep the code folder to code; a dataset belongs in dataset.data_file)"
                )
                Annotations.of(training).add_warning(self.notices[-1])
            if model.serving.model_package_arn:
                serving = self.serving[model.name] = ServingStack(
                    self,
                    naming.model_stack_id(model.name, naming.SERVING_STACK),
                    env_config=cfg,
                    model=model,
                    data=self.data.exports,
                    data_key=self.data.key,
                    workloads=self.network.workloads,
                    topic=training.topic,
                    smoke_test_account=smoke_test_account,
                    description=f"{cfg.name}: the {model.name} model's real-time endpoint, autoscaling, rollout alarms, "
                                "data capture and monitoring",
                )
                serving.add_stack_dependency(self.data)
            else:
                self.notices.append(
                    f"{cfg.name}: no endpoint for {model.name}: models.{model.name}.serving.model_package_arn is not set in "
                    f"{cfg.source_file} (register a version with its training pipeline, then name it there)"
                )
                # Also in the assembly's metadata, on a stack: annotations on the stage itself reach no manifest.
                Annotations.of(training).add_info(self.notices[-1])
        if not cfg.models:
            self.notices.append(f"{cfg.name}: no models: the models block of {cfg.source_file} is empty (data lake, "
                                "network, roles and notebooks only)")
        for key, value in tags.items():
            Tags.of(self).add(key, value)
        add_compliance_checks(self, cfg.compliance.packs)
