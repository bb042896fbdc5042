"""CloudFormation resource types the emulator adds to moto's CloudFormation, and how they update.

A type added here is created, updated and deleted through moto's own service API (its backends), so the
service's Describe/List calls answer for what a stack deployed. Imported only inside the moto server, once
moto's CloudFormation has loaded (server.py's triggers).
"""

# Patching moto's models at run time is what this module is for (as server.py; each fix says why).
# mypy: disable-error-code="method-assign, attr-defined, assignment"

from __future__ import annotations

import copy
import random
import string
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any

#: moto finds resource types through CloudFormationModel.__subclasses__(), which holds only weak references:
#: without a strong one the garbage collector would remove the added types at random.
ADDED_MODELS: list[type] = []


class Deployed:
    """What a stack records for a resource deployed here: its physical ID (what Ref returns), its
    Fn::GetAtt attributes, the properties it was deployed with, and how to delete it."""

    def __init__(self, physical_id: str, delete: Callable[[], Any], attributes: Mapping[str, Any] | None = None,
                 *, name: str | None = None, properties: Mapping[str, Any] | None = None) -> None:
        self.physical_resource_id = physical_id
        self.name = name if name is not None else physical_id
        self.attributes = dict(attributes or {})
        self.properties = copy.deepcopy(dict(properties or {}))
        self._delete = delete

    def delete(self, account_id: str, region_name: str) -> None:  # noqa: ARG002 - moto's signature
        self._delete()

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute: str) -> Any:
        if attribute in self.attributes:
            return self.attributes[attribute]
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()


def generated_name(logical_id: str, limit: int = 63) -> str:
    """A physical name for a resource whose template gives none: the logical ID and a random suffix, as
    CloudFormation makes them, within the service's length limit (SageMaker names: 63 characters)."""
    suffix = "".join(random.choices(string.ascii_letters + string.digits, k=12))
    return f"{logical_id[: limit - len(suffix) - 1]}-{suffix}"


def changed_properties(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    return {key for key in set(old) | set(new) if old.get(key) != new.get(key)}


def stack_error(logical_id: str, cfn_type: str, error: Exception) -> Exception:
    """A service error while deploying a resource, as a CloudFormation error the CDK CLI can print. moto has
    no resource failure states: the error ends the API call, and a service's own (JSON) error body would
    reach the CLI as 'XML parse error'."""
    from moto.cloudformation.exceptions import ValidationError

    message = getattr(error, "message", None) or str(error)
    return ValidationError(message=f"{logical_id} ({cfn_type}): Resource handler returned message: \"{message}\"")


def api_backed(
    cfn_type: str,
    name_property: str,
    create: Callable[[Any, str, dict], Deployed],
    *,
    backends: Any,
    service: str = "sagemaker",
    attributes: Collection[str] = (),
    replaced_by: Collection[str] = (),
    update: Callable[[Any, Deployed, dict], Deployed] | None = None,
    name_limit: int = 63,
) -> type:
    """A CloudFormation resource type deployed through a moto backend.

    create(backend, name, properties) deploys it under a physical name: the template's ``name_property``,
    else one generated from the logical ID. A change to any property in ``replaced_by`` (the type's
    createOnlyProperties in its CloudFormation registry schema: "Update requires: Replacement") replaces the
    resource as CloudFormation does: the new one first, then the old one deleted; a template-given name that
    stays the same cannot be replaced. Any other change updates it in place with
    update(backend, deployed, properties), or only records the new properties where there is none."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.common_models import CloudFormationModel

    def deploy(logical_id: str, properties: dict, account_id: str, region_name: str, name: str | None = None) -> Deployed:
        backend = backends[account_id][region_name]
        name = properties.get(name_property) or name or generated_name(logical_id, name_limit)
        try:
            deployed = create(backend, name, properties)
        except Exception as error:
            raise stack_error(logical_id, cfn_type, error) from error
        deployed.properties = copy.deepcopy(properties)
        return deployed

    class ApiBacked(CloudFormationModel):
        # moto's metaclass reads the service from the module path (moto.<service>....).
        __module__ = f"moto.{service}.models"

        @staticmethod
        def cloudformation_type() -> str:
            return cfn_type

        @staticmethod
        def cloudformation_name_type() -> str:
            return name_property

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in attributes

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str, **kwargs: Any) -> Deployed:
            logical_id = kwargs.get("LogicalId", resource_name)
            return deploy(logical_id, cloudformation_json.get("Properties") or {}, account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Deployed, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str, region_name: str) -> Deployed:
            logical_id = getattr(original_resource, "logical_resource_id", new_resource_name)
            properties = cloudformation_json.get("Properties") or {}
            changed = changed_properties(original_resource.properties, properties)
            if not changed & set(replaced_by):
                updated = original_resource
                if changed and update is not None:
                    try:
                        updated = update(backends[account_id][region_name], original_resource, properties)
                    except Exception as error:
                        raise stack_error(logical_id, cfn_type, error) from error
                updated.properties = copy.deepcopy(properties)
                return updated
            new_name = properties.get(name_property) or generated_name(logical_id, name_limit)
            if new_name == original_resource.name:
                raise ValidationError(message=f"CloudFormation cannot update a stack when a custom-named resource requires "
                                              f"replacing. Rename {new_name} and update the stack again.")
            replacement = deploy(logical_id, properties, account_id, region_name, new_name)
            retire(original_resource, account_id, region_name)
            return replacement

    ApiBacked.__name__ = ApiBacked.__qualname__ = "ApiBacked" + cfn_type.replace("::", "")
    return ApiBacked


#: Resources replaced during the stack update in progress (per request thread), deleted once it is done.
_REPLACED = threading.local()


def retire(resource: Deployed, account_id: str, region_name: str) -> None:
    """Delete a replaced resource when the stack update is done, as CloudFormation's cleanup phase does: until
    then what still refers to it (an endpoint config to its old model) keeps working. Outside an update, now."""
    pending = getattr(_REPLACED, "pending", None)
    if pending is None:
        resource.delete(account_id, region_name)
    else:
        pending.append((resource, account_id, region_name))


def emulator_clients(region_name: str, *services: str) -> list[Any]:
    """boto3 clients of this emulator, for code the server runs itself (a custom resource's handler, a transform job)."""
    import os

    import boto3

    endpoint = f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}"
    # A session of their own: boto3's default session is not thread-safe, and request threads and transform-job
    # threads of this server make clients at the same time.
    session = boto3.session.Session()
    return [session.client(service, endpoint_url=endpoint, region_name=region_name, aws_access_key_id="testing",
                           aws_secret_access_key="testing") for service in services]


def handler_run_type(cfn_type: str, physical_id: Callable[[dict], str],
                     on_delete: Callable[[str, dict, str], None]) -> type:
    """A Lambda-backed Custom:: type whose handler the emulator runs itself (moto runs no Lambda): Create and Update
    only keep the resource's properties; Delete calls ``on_delete(stack_id, properties, region_name)``, as the
    handler's Delete event carries them. Register it with register()."""
    from moto.core.common_models import CloudFormationModel

    class HandlerRun(CloudFormationModel):
        __module__ = "moto.cloudformation.models"

        def __init__(self, stack_id: str, properties: dict, region_name: str) -> None:
            self.stack_id, self.properties, self.region_name = stack_id, properties, region_name
            self.physical_resource_id = physical_id(properties)

        @staticmethod
        def cloudformation_type() -> str:
            return cfn_type

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:  # noqa: ARG003 - moto's signature
            return False

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,  # noqa: ARG003
                                            region_name: str, **kwargs: Any) -> Any:
            return cls(kwargs["StackId"], dict(cloudformation_json.get("Properties") or {}), region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,  # noqa: ARG003
                                            cloudformation_json: Any, account_id: str, region_name: str) -> Any:  # noqa: ARG003
            original_resource.properties = dict(cloudformation_json.get("Properties") or {})  # Update does nothing
            return original_resource

        def is_created(self) -> bool:
            return True

        def delete(self, account_id: str, region_name: str) -> None:  # noqa: ARG002 - moto's signature
            on_delete(self.stack_id, self.properties, region_name)

    HandlerRun.__name__ = HandlerRun.__qualname__ = "HandlerRun" + cfn_type.replace("::", "")
    return HandlerRun


def register(*models: type) -> None:
    """Make added resource types visible to moto's CloudFormation, ahead of moto's own for the same type."""
    from moto.cloudformation import parsing

    ADDED_MODELS.extend(models)
    _custom_types_added_here_come_first()
    # The model map is cached on first use; it must see the new subclasses. It is built from
    # CloudFormationModel.__subclasses__() in creation order, so for a type moto also has, the one made here wins.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    for model in models:
        assert parsing.get_model_map()[model.cloudformation_type()] is model, model.cloudformation_type()


def _custom_types_added_here_come_first() -> None:
    """moto treats every Custom:: type as a Lambda-backed custom resource and invokes its function, which it cannot
    run without Docker; a Custom:: type added here (the emulator runs its handler itself) is taken instead."""
    from moto.cloudformation import parsing

    if getattr(parsing.resource_class_from_type, "_emulator", False):
        return
    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        for model in ADDED_MODELS:
            if resource_type.startswith("Custom::") and model.cloudformation_type() == resource_type:
                return model
        return original(resource_type)

    resource_class_from_type._emulator = True
    parsing.resource_class_from_type = resource_class_from_type


def resolved_properties(resource_json: Mapping[str, Any], resources: Any) -> Any:
    """A resource's properties with Ref, Fn::GetAtt, Fn::Sub ... resolved against the stack as it is now."""
    from moto.cloudformation import parsing

    return parsing.clean_json(copy.deepcopy(dict(resource_json.get("Properties") or {})), resources)


def updates_reach_dependent_resources() -> None:
    """moto 5.2.5 updates only resources whose template text changed. A resource that references a replaced
    one (Ref, Fn::GetAtt) keeps the same text but not the same properties: CloudFormation updates it too. So a
    new model version (a new AWS::SageMaker::Model, whose name the endpoint config reads with Fn::GetAtt) never
    reached the endpoint config nor, through it, the endpoint. This records each resource's resolved
    properties when it is created or updated, and after moto's update re-resolves every other resource
    (until nothing changes) and updates those whose properties differ. Resources replaced on the way are
    deleted at the end, as in CloudFormation's cleanup phase."""
    from moto.cloudformation import parsing

    original_create = parsing.parse_and_create_resource
    original_update = parsing.parse_and_update_resource
    original_map_update = parsing.ResourceMap.update

    def record(resource: Any, resource_json: Mapping[str, Any], resources: Any) -> Any:
        if resource is not None and not isinstance(resource, str | dict | list):
            try:
                resource._emulator_resolved = resolved_properties(resource_json, resources)
            except Exception:  # noqa: BLE001 - a resource whose properties do not resolve is simply not tracked
                pass
        return resource

    def create(logical_id: str, resource_json: dict, resources: Any, account_id: str, region_name: str) -> Any:
        return record(original_create(logical_id, resource_json, resources, account_id, region_name), resource_json, resources)

    def update(logical_id: str, resource_json: dict, resources: Any, account_id: str, region_name: str) -> Any:
        return record(original_update(logical_id, resource_json, resources, account_id, region_name), resource_json, resources)

    def map_update(self: Any, template: dict, parameters: dict | None = None) -> None:
        outer, _REPLACED.pending = getattr(_REPLACED, "pending", None), []  # a nested stack's update has its own
        try:
            original_map_update(self, template, parameters)
            for _ in range(len(self._resource_json_map) + 1):
                if not _update_stale(self):
                    break
        finally:
            replaced, _REPLACED.pending = _REPLACED.pending, outer
            for resource, account_id, region_name in replaced:
                resource.delete(account_id, region_name)

    parsing.parse_and_create_resource = create
    parsing.parse_and_update_resource = update
    parsing.ResourceMap.update = map_update


def _update_stale(resources: Any) -> bool:
    """One pass: update every resource whose resolved properties are not those it was deployed with."""
    from moto.cloudformation import parsing

    changed = False
    for logical_id, resource_json in list(resources._resource_json_map.items()):
        resource = resources._parsed_resources.get(logical_id)
        recorded = getattr(resource, "_emulator_resolved", None)
        if recorded is None:
            continue
        try:
            now = resolved_properties(resource_json, resources)
        except Exception:  # noqa: BLE001 - as when recording: what does not resolve is not tracked
            continue
        if now == recorded:
            continue
        updated = parsing.parse_and_update_resource(logical_id, resource_json, resources, resources._account_id, resources._region_name)
        if updated is None:  # a type moto cannot update: keep it, and do not try again
            resource._emulator_resolved = now
            continue
        resources._parsed_resources[logical_id] = updated
        changed = True
    return changed
