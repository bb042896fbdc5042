"""moto's server with compatibility fixes for what this project deploys.

Each fix corrects a moto gap that would stop a valid template from deploying, or deploy
it without resources it declares (moto skips types it does not know); none changes what
the templates say. Remove a fix once the pinned moto release has it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import inspect
import json
import sys
from typing import Any


def _kms_key_accepts_cloudformation_tags() -> None:
    """AWS::KMS::Key Tags use Key/Value; moto 5.2.5 hands them to a tagger that expects
    TagKey/TagValue and fails the whole stack with KeyError: 'TagKey'. It also stores the
    KeyPolicy object unserialized, so every later call on the key answers 500."""
    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json.__func__

    def create(cls: type, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        properties = cloudformation_json.get("Properties", {})
        tags = properties.get("Tags") or []
        properties["Tags"] = [
            {"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in tags
        ]
        # moto keeps the policy as given; its own policy checks then json.loads() a dict and fail.
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        return original(cls, resource_name, cloudformation_json, *args, **kwargs)

    Key.create_from_cloudformation_json = classmethod(create)


def _change_sets_publish_and_import_outputs() -> None:
    """The CDK CLI deploys through change sets. moto 5.2.5 (a) creates a change set's stack
    without the account's exports, so Fn::ImportValue fails with 'No export named ...', and
    (b) never recomputes outputs after executing one, so a stack's exports never appear."""
    from moto.cloudformation import models

    original_init = models.Stack.__init__
    original_apply = models.ChangeSet.apply
    original_execute = models.CloudFormationBackend.execute_change_set

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("cross_stack_resources") is None:
            backend = models.cloudformation_backends[kwargs["account_id"]][kwargs["region_name"]]
            kwargs["cross_stack_resources"] = backend.exports  # shared: sees exports added later
        original_init(self, *args, **kwargs)

    def apply(self: Any) -> None:
        original_apply(self)
        self.stack.template_dict = self.template_dict
        self.stack.output_map = self.stack._create_output_map()

    def execute_change_set(self: Any, *args: Any, **kwargs: Any) -> None:
        original_execute(self, *args, **kwargs)
        live = {
            export.name: export
            for stack in self.stacks.values()
            if not stack.status.startswith("DELETE")
            for export in stack.exports
        }
        # In place: stacks hold a reference to this dict.
        self.exports.clear()
        self.exports.update(live)

    models.Stack.__init__ = init
    models.ChangeSet.apply = apply
    models.CloudFormationBackend.execute_change_set = execute_change_set


def _vpc_children_are_deleted_with_their_stack() -> None:
    """moto 5.2.5's CloudFormation cannot delete AWS::EC2::VPCEndpoint, NatGateway or RouteTable,
    so `cdk destroy` of any such VPC fails: 'The vpc ... has dependencies and cannot be deleted'."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.vpcs import VPCEndPoint

    def delete_endpoint(self: Any, account_id: str, region_name: str) -> None:
        ec2_backends[account_id][region_name].delete_vpc_endpoints([self.id])

    def delete_nat(self: Any, account_id: str, region_name: str) -> None:
        ec2_backends[account_id][region_name].delete_nat_gateway(self.id)

    def delete_route_table(self: Any, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        if any(self.id in (e.route_table_ids or []) and e.state != "deleted" for e in backend.vpc_end_points.values()):
            # A gateway endpoint still routes through this table; moto's delete loop retries later.
            raise RuntimeError(f"route table {self.id} is still used by a gateway endpoint")
        # Subnet associations have no CloudFormation delete in moto either; they go with the table.
        self._associations.clear()
        backend.delete_route_table(self.id)

    VPCEndPoint.delete = delete_endpoint
    NatGateway.delete = delete_nat
    RouteTable.delete = delete_route_table


def _security_group_rules_without_ports() -> None:
    """A rule for a protocol without ports (ESP, IP protocol 50, for IPsec) has no FromPort/ToPort,
    which EC2 and CloudFormation accept; moto 5.2.5 calls int(None) on them and fails the stack."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    original = SecurityGroupRule.__init__
    signature = inspect.signature(original)

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        if str(bound.arguments.get("ip_protocol")).lower() not in ("tcp", "udp", "icmp", "icmpv6", "6", "17", "1", "58", "-1", "all"):
            for port in ("from_port", "to_port"):
                if bound.arguments.get(port) is None:
                    bound.arguments[port] = -1
        original(*bound.args, **bound.kwargs)

    SecurityGroupRule.__init__ = init


_ADDED_MODELS: list[type] = []


class _Deployed:
    """What a stack records for a resource moto's CloudFormation gains here."""

    def __init__(self, name: str, delete: Any) -> None:
        self.physical_resource_id = name
        self._delete = delete

    def delete(self, account_id: str, region_name: str) -> None:  # noqa: ARG002 - moto's signature
        self._delete()

    def is_created(self) -> bool:
        return True


def _sagemaker_pipelines_and_registry_groups_deploy() -> None:
    """moto 5.2.5's CloudFormation skips AWS::SageMaker::Pipeline and ModelPackageGroup ("No Moto
    CloudFormation support") although its SageMaker API has both: the deployed platform would
    have neither its training pipeline nor its registry group. These create them through that API."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.sagemaker.models import sagemaker_backends

    def api_backed(cfn_type: str, name_property: str, create: Any) -> type:
        """A CloudFormation model whose create(backend, name, properties) returns how to delete it."""

        class ApiBacked(CloudFormationModel):
            # moto's metaclass reads the service from the module path (moto.<service>....); when this
            # file runs as __main__ that path has no service.
            __module__ = "moto.sagemaker.models"

            @staticmethod
            def cloudformation_type() -> str:
                return cfn_type

            @staticmethod
            def cloudformation_name_type() -> str:
                return name_property

            @classmethod
            def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                                region_name: str, **kwargs: Any) -> _Deployed:  # noqa: ARG003 - moto's signature
                props = cloudformation_json["Properties"]
                name = props.get(name_property, resource_name)
                return _Deployed(name, create(sagemaker_backends[account_id][region_name], name, props))

            @classmethod
            def update_from_cloudformation_json(cls, original_resource: _Deployed, new_resource_name: str,
                                                cloudformation_json: Any, account_id: str, region_name: str) -> _Deployed:
                original_resource.delete(account_id, region_name)
                return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        return ApiBacked

    def create_pipeline(backend: Any, name: str, props: dict) -> Any:
        backend.create_pipeline(
            pipeline_name=name,
            pipeline_display_name=props.get("PipelineDisplayName", name),
            pipeline_definition=props["PipelineDefinition"].get("PipelineDefinitionBody"),
            pipeline_definition_s3_location=None,
            pipeline_description=props.get("PipelineDescription", ""),
            role_arn=props["RoleArn"],
            tags=props.get("Tags", []),
            parallelism_configuration=props.get("ParallelismConfiguration"),
        )
        return lambda: backend.delete_pipeline(name)

    def create_group(backend: Any, name: str, props: dict) -> Any:
        backend.create_model_package_group(name, props.get("ModelPackageGroupDescription", ""), props.get("Tags", []))
        return lambda: backend.model_package_groups.pop(name, None)  # moto has no DeleteModelPackageGroup

    # moto finds models through CloudFormationModel.__subclasses__(), which holds only weak
    # references: without a strong one the garbage collector would remove these at random.
    _ADDED_MODELS.extend((
        api_backed("AWS::SageMaker::Pipeline", "PipelineName", create_pipeline),
        api_backed("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName", create_group),
    ))
    # The model map is cached on first use; it must see the new subclasses.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


#: The usages SageMaker's Service Quotas are named for ("<instance type> for <usage>"), and the botocore
#: enum of the instance types each applies to. The names are SageMaker's quota names as the Service Quotas
#: console and `aws service-quotas list-service-quotas --service-code sagemaker` show them.
SAGEMAKER_QUOTA_USAGES = {
    "training job usage": "TrainingInstanceType",
    "spot training job usage": "TrainingInstanceType",
    "processing job usage": "ProcessingInstanceType",
    "transform job usage": "TransformInstanceType",
    "endpoint usage": "ProductionVariantInstanceType",
    "notebook instance usage": "InstanceType",
}


def sagemaker_quota_catalog(region: str, account: str) -> list[dict]:
    """Every SageMaker instance quota, at 0 (a new account's value for most GPU types): what a test or a user
    raises with RequestServiceQuotaIncrease, which the emulator grants at once."""
    import hashlib

    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    quotas = []
    for usage, shape in SAGEMAKER_QUOTA_USAGES.items():
        for instance_type in model.shape_for(shape).enum:
            name = f"{instance_type} for {usage}"
            code = "L-" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()
            quotas.append({"ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker", "QuotaCode": code,
                           "QuotaName": name, "Value": 0.0, "Unit": "None", "Adjustable": True, "GlobalQuota": False,
                           "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:sagemaker/{code}"})
    return quotas


#: Lambda's "Concurrent executions" quota (AWS Lambda quotas page; the code the Service Quotas console shows).
LAMBDA_CONCURRENCY_QUOTA_CODE = "L-B99A9384"


def _service_quotas_list_and_grant_sagemaker_quotas() -> None:
    """moto 5.2.5's Service Quotas knows only VPC defaults: no ListServiceQuotas, nothing for SageMaker, and
    no RequestServiceQuotaIncrease. The preflight check lists SageMaker's quotas; tests set them by asking
    for an increase, as a user would."""
    from moto.servicequotas import models, responses

    def quotas(backend: Any, service_code: str) -> list[dict]:
        if service_code not in ("sagemaker", "lambda"):
            raise models.NoSuchResource
        if not hasattr(backend, "_quotas"):
            backend._quotas = {
                "sagemaker": sagemaker_quota_catalog(backend.region_name, backend.account_id),
                # Lambda's account concurrency: 1,000 by default (some new accounts get 10).
                "lambda": [{"ServiceCode": "lambda", "ServiceName": "AWS Lambda", "QuotaCode": LAMBDA_CONCURRENCY_QUOTA_CODE,
                            "QuotaName": "Concurrent executions", "Value": 1000.0, "Unit": "None", "Adjustable": True,
                            "GlobalQuota": False}],
            }
        return list(backend._quotas[service_code])

    def increase(backend: Any, service_code: str, quota_code: str, desired: float) -> dict:
        for quota in quotas(backend, service_code):
            if quota["QuotaCode"] == quota_code:
                quota["Value"] = float(desired)
                return {"Id": f"request-{quota_code}", "ServiceCode": service_code, "QuotaCode": quota_code,
                        "QuotaName": quota["QuotaName"], "DesiredValue": float(desired), "Status": "APPROVED"}
        raise models.NoSuchResource

    def list_service_quotas(self: Any) -> str:
        params = json.loads(self.body)
        return json.dumps({"Quotas": quotas(self.backend, str(params.get("ServiceCode")))})

    def request_service_quota_increase(self: Any) -> str:
        params = json.loads(self.body)
        request = increase(self.backend, str(params.get("ServiceCode")), str(params.get("QuotaCode")),
                           float(params.get("DesiredValue")))
        return json.dumps({"RequestedQuota": request})

    responses.ServiceQuotasResponse.list_service_quotas = list_service_quotas
    responses.ServiceQuotasResponse.request_service_quota_increase = request_service_quota_increase


FIXES = (_kms_key_accepts_cloudformation_tags, _change_sets_publish_and_import_outputs,
         _vpc_children_are_deleted_with_their_stack, _security_group_rules_without_ports,
         _sagemaker_pipelines_and_registry_groups_deploy)
#: Fixes run when their module loads (moto loads a service's models on its first request): applying
#: the CloudFormation fixes when CloudFormation's models load (not at start) spares the 1.8 s of
#: imports on every emulator start whose client never calls CloudFormation.
TRIGGERS = {
    "moto.cloudformation.models": FIXES,
    "moto.servicequotas.responses": (_service_quotas_list_and_grant_sagemaker_quotas,),
}


class _FixWhenLoaded(importlib.abc.MetaPathFinder):
    """Runs a module's fixes right after its body has executed, before anyone uses it."""

    def __init__(self) -> None:
        self.pending = dict(TRIGGERS)

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:  # noqa: ARG002 - the finder protocol's signature
        if name not in self.pending:
            return None
        fixes = self.pending.pop(name)
        if not self.pending:
            sys.meta_path.remove(self)  # every trigger seen; the real finders below locate the module
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return None  # moto is not installed: the import fails as it would without this finder
        load = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            load(module)
            for fix in fixes:
                fix()

        spec.loader.exec_module = exec_module
        return spec


def main(argv: list[str] | None = None) -> None:
    sys.meta_path.insert(0, _FixWhenLoaded())
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
