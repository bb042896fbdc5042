"""moto's server with compatibility fixes for what this project deploys.

Each fix corrects a moto gap that would stop a valid template from deploying, or deploy
it without resources it declares (moto skips types it does not know); none changes what
the templates say. Remove a fix once the pinned moto release has it.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.util
import inspect
import json
import sys
from typing import Any

from local.emulator import bucket_resources, cloudformation, endpoints, hosting, serving_resources, studio_resources, tracking_resources


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
    without the account's exports, so Fn::ImportValue fails with 'No export named ...', (b) never
    recomputes outputs after executing one, so a stack's exports never appear, and (c) keeps an executed
    change set, so the CLI's next deploy of the stack (same change-set name) finds the old one: "After
    you execute a change set, CloudFormation removes all change sets that are associated with the stack"
    (CloudFormation User Guide, "Execute a change set"), and (d) lets an update remove or change an export that
    another stack imports, which CloudFormation refuses and rolls back ("Export ... cannot be deleted as it is in use
    by ...", "Cannot update export ... as it is in use by ..."; Fn::ImportValue's restrictions: "you can't modify or
    remove an output value that is referenced by another stack")."""
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

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        executed = self.change_sets.get(change_set_name) or next(
            (cs for cs in reversed(list(self.change_sets.values())) if cs.change_set_name == change_set_name
             and stack_name in (None, cs.stack_name, cs.stack_id)), None)
        if executed is not None and executed.change_set_type == "UPDATE" and refused_export_change(self, executed):
            for change_set_id in [k for k, cs in self.change_sets.items() if cs.stack_id == executed.stack_id]:
                del self.change_sets[change_set_id]
            return
        original_execute(self, change_set_name, stack_name)
        if executed is not None:
            self.stacks[executed.stack_id].status_reason = None  # a successful update has no reason (a refusal's goes)
            for change_set_id in [k for k, cs in self.change_sets.items() if cs.stack_id == executed.stack_id]:
                del self.change_sets[change_set_id]
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


def _exported_values(template: dict) -> dict[Any, str]:
    """Export name -> its output's Value, as the template writes it (JSON)."""
    return {(output.get("Export") or {}).get("Name"): json.dumps(output.get("Value"), sort_keys=True)
            for output in (template.get("Outputs") or {}).values() if output.get("Export")}


def refused_export_change(backend: Any, change_set: Any) -> bool:
    """Whether this update would remove an export that another live stack imports, or change what it exports: if so,
    the stack is rolled back as CloudFormation leaves it (UPDATE_ROLLBACK_COMPLETE, its template and resources
    unchanged, the reason naming the export and who imports it) and nothing of the change set is applied."""
    stack = backend.stacks[change_set.stack_id]
    new, old = _exported_values(change_set.template_dict), _exported_values(stack.template_dict)
    if not all(isinstance(name, str) for name in new):
        return False  # an export name computed by an intrinsic: not known before it is applied
    reasons = {}
    for export in stack.exports:
        if export.name not in new:
            reasons[export.name] = f"Export {export.name} cannot be deleted as it is in use by"
        elif export.name in old and old[export.name] != new[export.name]:
            reasons[export.name] = f"Cannot update export {export.name} as it is in use by"
    in_use = {name: users for name in reasons if (users := importing_stacks(backend, name, but=stack))}
    if not in_use:
        return False
    name, users = next(iter(in_use.items()))
    reason = f"{reasons[name]} {' and '.join(users)}"
    stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
    stack.status, stack.status_reason = "UPDATE_ROLLBACK_COMPLETE", reason
    change_set.execution_status = "EXECUTE_FAILED"
    return True


def _deleted_stacks_resolve_no_outputs() -> None:
    """moto 5.2.5 resolves a stack's outputs on every DescribeStacks, even once the stack is deleted: an output
    that refers to a resource (a topic's Ref the serving stack imports) then creates that resource again, and
    it is left behind. The CDK CLI describes each stack it destroys until it is gone, so every destroy leaked
    one. A stack being deleted or deleted has no outputs here."""
    from moto.cloudformation import models

    original = models.Stack.outputs

    def outputs(self: Any) -> Any:
        return None if self.status in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE") else original.fget(self)

    models.Stack.outputs = property(outputs)


def _change_sets_are_found_in_their_stack() -> None:
    """moto 5.2.5 finds a change set by name alone, ignoring StackName. The CDK CLI names every stack's change
    set cdk-deploy-change-set; on the second deploy of a changed stack it deletes that stack's old one and waits
    until DescribeChangeSet no longer finds it, but moto finds another stack's: the CLI waits forever (and
    ExecuteChangeSet could have run another stack's change set). A name is looked up in the named stack here,
    and a change set that is not there is ChangeSetNotFound, as CloudFormation answers."""
    from moto.cloudformation import exceptions, responses

    class ChangeSetNotFound(exceptions.CloudFormationError):
        code = "ChangeSetNotFoundException"  # the API model's shape: ChangeSetNotFound, HTTP 404, on the wire

    def change_set_id(self: Any) -> str:
        backend, name, stack = self.cloudformation_backend, self._get_param("ChangeSetName"), self._get_param("StackName")
        if name in backend.change_sets or not stack:  # an ARN, or no stack to look in: moto's own lookup
            return str(name)
        for change_set_id, change_set in backend.change_sets.items():
            if change_set.change_set_name == name and stack in (change_set.stack_name, change_set.stack_id):
                return str(change_set_id)
        raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")

    def by_id(action: str) -> Any:
        original = getattr(responses.CloudFormationResponse, action)

        def call(self: Any) -> Any:
            try:
                found = change_set_id(self)
            except ChangeSetNotFound:
                # The CDK CLI deletes "cdk-deploy-change-set" before every update, whether or not one is left
                # (there is none after an execution, which removes them all): by name that is a no-op.
                if action == "delete_change_set" and not str(self._get_param("ChangeSetName")).startswith("arn:"):
                    from moto.core.responses import EmptyResult

                    return EmptyResult()
                raise
            get_param = self._get_param
            self._get_param = lambda key, *default: found if key == "ChangeSetName" else get_param(key, *default)
            try:
                return original(self)
            finally:
                self._get_param = get_param

        return call

    for action in ("describe_change_set", "delete_change_set", "execute_change_set"):
        setattr(responses.CloudFormationResponse, action, by_id(action))


def _ssm_parameters_are_resolved_again_on_update() -> None:
    """The CDK CLI passes BootstrapVersion (an AWS::SSM::Parameter::Value<String> parameter) with
    UsePreviousValue on every update. moto 5.2.5 takes the previous value to be the resolved one ("30") and
    looks that up in SSM as a parameter name: the change set fails with HTTP 500, so no deployed CDK stack can
    be updated (a new model version never reaches its endpoint). CloudFormation keeps the parameter's value
    (the SSM name) and resolves it again on every update; so does this."""
    from moto.cloudformation import models

    def stack_parameters(self: Any) -> dict[str, Any]:
        values = dict(self.resource_map.resolved_parameters)
        for key, slot in ((self.template_dict or {}).get("Parameters") or {}).items():
            if key in values and str(slot.get("Type", "")).startswith("AWS::SSM::Parameter::"):
                values[key] = (self.parameters or {}).get(key, slot.get("Default"))
        return values

    models.Stack.stack_parameters = property(stack_parameters)


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


def _a_stack_whose_resources_cannot_be_deleted_is_delete_failed() -> None:
    """moto 5.2.5 takes a stack out of its list before deleting its resources: while they are deleted DescribeStacks no
    longer finds it, and when one cannot be deleted (a space with a running app, a domain that still has profiles) the
    request fails, the stack is gone from every list and what it still held stays in the account, unseen.
    CloudFormation shows the stack DELETE_IN_PROGRESS while it deletes, keeps a stack it could not empty as
    DELETE_FAILED with the resource's error, and deleting it again retries (User Guide, "Delete a stack"); so does this."""
    from moto.cloudformation import models

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        # Every stack of that name, as moto's own (a change set's review stack shares its name).
        for stack in [s for s in list(self.stacks.values()) if name_or_stack_id in (s.stack_id, s.name)]:
            export_names = [export.name for export in stack.exports]  # read while its outputs still resolve
            in_use = {name: importing_stacks(self, name, but=stack) for name in export_names}
            in_use = {name: users for name, users in in_use.items() if users}
            if in_use:
                # CloudFormation refuses before deleting anything: the stack keeps its status, the reason names
                # the export and who imports it (as aws/aws-cdk#604 shows it, "... and ..." for several).
                name, users = next(iter(in_use.items()))
                stack.status_reason = f"Export {name} cannot be deleted as it is in use by {' and '.join(users)}"
                stack._add_stack_event(stack.status, resource_status_reason=stack.status_reason)
                continue
            stack.status = "DELETE_IN_PROGRESS"
            try:
                stack.delete()
            except Exception as error:  # noqa: BLE001 - whatever a resource's delete raised is the stack's failure reason
                reason = getattr(error, "message", None) or str(error)
                stack.status, stack.status_reason = "DELETE_FAILED", f"The following resource(s) failed to delete: {reason}"
                stack._add_stack_event("DELETE_FAILED", resource_status_reason=stack.status_reason)
                continue
            self.stacks.pop(stack.stack_id, None)
            self.deleted_stacks[stack.stack_id] = stack
            for name in export_names:
                self.exports.pop(name, None)

    models.CloudFormationBackend.delete_stack = delete_stack

    from moto.cloudformation import responses

    def list_imports(self: Any) -> str:
        """ListImports, which moto 5.2.5 lacks (HTTP 500): the live stacks that import the export."""
        export = str(self._get_param("ExportName"))
        if export not in self.cloudformation_backend.exports:
            from moto.cloudformation.exceptions import ValidationError
            raise ValidationError(message=f"Export '{export}' does not exist.")
        importers = importing_stacks(self.cloudformation_backend, export)
        if not importers:  # CloudFormation's answer for an export nothing imports (a ValidationError, not an empty list)
            from moto.cloudformation.exceptions import ValidationError
            raise ValidationError(message=f"Export '{export}' is not imported by any stack.")
        members = "".join(f"<member>{name}</member>" for name in importers)
        return (f'<ListImportsResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><ListImportsResult>'
                f"<Imports>{members}</Imports></ListImportsResult></ListImportsResponse>")

    responses.CloudFormationResponse.list_imports = list_imports


def importing_stacks(backend: Any, export: str, but: Any = None) -> list[str]:
    """Names of the live stacks whose templates import ``export`` (Fn::ImportValue of that name)."""
    def imports(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("Fn::ImportValue") == export or any(imports(v) for v in node.values())
        return isinstance(node, list) and any(imports(v) for v in node)
    return sorted({s.name for s in backend.stacks.values() if s is not but and s.status != "DELETE_COMPLETE"
                   and s.status != "REVIEW_IN_PROGRESS" and imports(s.template_dict)})


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


def _sagemaker_pipelines_and_registry_groups_deploy() -> None:
    """moto 5.2.5's CloudFormation skips AWS::SageMaker::Pipeline and ModelPackageGroup ("No Moto
    CloudFormation support") although its SageMaker API has both: the deployed platform would
    have neither its training pipeline nor its registry group. These create them through that API;
    a changed property re-creates the resource under its (template-given) name."""
    from moto.sagemaker.models import sagemaker_backends

    from local.emulator.cloudformation import Deployed, api_backed, register

    def create_pipeline(backend: Any, name: str, props: dict) -> Deployed:
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
        return Deployed(name, lambda: backend.delete_pipeline(name))

    def create_group(backend: Any, name: str, props: dict) -> Deployed:
        backend.create_model_package_group(name, props.get("ModelPackageGroupDescription", ""), props.get("Tags", []))
        return Deployed(name, lambda: backend.model_package_groups.pop(name, None))  # moto has no DeleteModelPackageGroup

    def recreator(create: Any) -> Any:
        def recreate(backend: Any, deployed: Deployed, props: dict) -> Deployed:
            deployed.delete(backend.account_id, backend.region_name)
            return create(backend, deployed.name, props)

        return recreate

    register(
        api_backed("AWS::SageMaker::Pipeline", "PipelineName", create_pipeline, backends=sagemaker_backends,
                   replaced_by=("PipelineName",), update=recreator(create_pipeline)),
        api_backed("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName", create_group, backends=sagemaker_backends,
                   replaced_by=("ModelPackageGroupName",), update=recreator(create_group)),
    )


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


FIXES = (_kms_key_accepts_cloudformation_tags, _change_sets_publish_and_import_outputs, _change_sets_are_found_in_their_stack,
         _deleted_stacks_resolve_no_outputs, _a_stack_whose_resources_cannot_be_deleted_is_delete_failed,
         _ssm_parameters_are_resolved_again_on_update, _vpc_children_are_deleted_with_their_stack, _security_group_rules_without_ports,
         _sagemaker_pipelines_and_registry_groups_deploy, endpoints.sagemaker_endpoints_deploy,
         serving_resources.alarms_autoscaling_and_monitoring_deploy, tracking_resources.mlflow_tracking_servers_deploy,
         studio_resources.studio_deploys, bucket_resources.buckets_delete_as_cloudformation_does,
         cloudformation.updates_reach_dependent_resources)
#: Fixes run when their module loads (moto loads a service's models on its first request): applying
#: the CloudFormation fixes when CloudFormation's models load (not at start) spares the 1.8 s of
#: imports on every emulator start whose client never calls CloudFormation.
TRIGGERS = {
    "moto.cloudformation.models": FIXES,
    "moto.sagemaker.models": (endpoints.sagemaker_api_hosts_models_from_the_registry,
                              serving_resources.data_quality_summaries_name_their_endpoint),
    "moto.sagemaker.responses": (studio_resources.studio_api,),
    "moto.sagemakerruntime.responses": (endpoints.sagemaker_runtime_invokes_the_endpoints_model,),
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
    # Endpoints' model servers are this process's children in its process group, which the emulator signals
    # as a whole; on an orderly exit (Ctrl-C in a terminal) they are stopped here too.
    atexit.register(hosting.SERVERS.stop_all)
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
