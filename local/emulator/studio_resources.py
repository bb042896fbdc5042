"""SageMaker Studio in the emulator: the domain, user profiles, spaces and Studio lifecycle configurations.

moto 5.2.5 has a Domain API (CreateDomain, DescribeDomain, ListDomains, DeleteDomain) but no CloudFormation for any
of the four types ("No Moto CloudFormation support"), and no API at all for profiles, spaces or Studio lifecycle
configurations: a Studio stack would deploy nothing. These deploy the domain through moto's own API and keep the
other three on moto's SageMaker backend, with the Describe/List calls a user's boto3 code makes to see them
(DescribeUserProfile, ListUserProfiles, DescribeSpace, ListSpaces, DescribeStudioLifecycleConfig,
ListStudioLifecycleConfigs), answered in the shapes of botocore's SageMaker model.

What SageMaker refuses is refused here too, so a wrong stack fails in the emulator as it would in AWS: a profile or
space in a domain that does not exist, a private space whose owner profile does not exist, a lifecycle config ARN
that names none, a second profile or space of the same name, and deleting a domain that still has profiles or spaces
("DeleteDomain: ... you must delete all user profiles and spaces first", SageMaker API Reference), or a profile
that still owns a space. No app ever runs: JupyterLab itself is not emulated. Remove this once the pinned moto
release has these types.

What SageMaker leaves behind is left here too, so the platform's clean-up is tested against it: a domain in a VPC gets
its home EFS volume (tagged ManagedByAmazonSageMakerResource with the domain's ARN) with a mount target in each of its
subnets and the two NFS security groups SageMaker creates (security-group-for-inbound-nfs-<domain id>, ...-outbound-...,
each referring to the other); DeleteDomain deletes the volume only with RetentionPolicy HomeEfsFileSystem=Delete, and
the security groups never. Apps can be created, listed and deleted through the API (CreateApp, DescribeApp, ListApps,
DeleteApp, as a JupyterLab space's start and stop make them; a deleted app is Deleting until the next look, and the
List calls answer in SageMaker's pages of 10), and a space with an app that is not deleted cannot be deleted.
Custom::StudioTeardown (lambda/studio_teardown) runs its handler's teardown here, against this emulator: moto runs no
Lambda function.
"""

# Patching moto's models and responses at run time is what this module is for (as server.py; each fix says why).
# mypy: disable-error-code="attr-defined, method-assign"

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

#: createOnlyProperties of each type's CloudFormation registry schema (as cfn-lint ships it): a change replaces it.
#: Nested paths are the schema's own: the RStudio settings they name are never set by the platform.
REPLACED_BY = {
    "AWS::SageMaker::Domain": ("AuthMode", "DomainName", "DomainSettings/RStudioServerProDomainSettings/DefaultResourceSpec",
                               "KmsKeyId"),
    "AWS::SageMaker::UserProfile": ("DomainId", "UserProfileName", "UserSettings/RStudioServerProAppSettings/AccessStatus",
                                    "SingleSignOnUserIdentifier", "SingleSignOnUserValue",
                                    "UserSettings/RStudioServerProAppSettings/UserGroup"),
    "AWS::SageMaker::Space": ("DomainId", "SpaceName", "SpaceSharingSettings", "OwnershipSettings"),
    "AWS::SageMaker::StudioLifecycleConfig": ("StudioLifecycleConfigAppType", "StudioLifecycleConfigContent",
                                              "StudioLifecycleConfigName", "Tags"),
}
#: StudioLifecycleConfigContent: base64, at most 16384 characters (CreateStudioLifecycleConfig).
MAX_LIFECYCLE_CONTENT = 16384
LIFECYCLE_APP_TYPES = ("JupyterServer", "KernelGateway", "CodeEditor", "JupyterLab")


def utcnow() -> Any:
    from moto.core.utils import utcnow as moto_utcnow  # moto loads only inside the emulator's server

    return moto_utcnow()


class StudioError(Exception):
    """A request SageMaker would refuse (moto's error types need a request context this code does not have)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def studio(backend: Any) -> dict[str, dict]:
    """The backend's profiles, spaces and lifecycle configs (added on first use)."""
    if not hasattr(backend, "studio"):
        backend.studio = {"profiles": {}, "spaces": {}, "lifecycle_configs": {}, "apps": {}}
    return dict(backend.studio)


def _arn(backend: Any, resource: str) -> str:
    return f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:{resource}"


def _domain(backend: Any, domain_id: str) -> Any:
    if domain_id not in backend.domains:
        raise StudioError("ResourceNotFound", f"Domain {domain_id} does not exist")
    return backend.domains[domain_id]


def _lifecycle_arns(settings: Any) -> list[str]:
    """Every StudioLifecycleConfig ARN a settings block names (DefaultResourceSpec.LifecycleConfigArn, LifecycleConfigArns)."""
    found: list[str] = []
    if isinstance(settings, dict):
        for key, value in settings.items():
            if key == "LifecycleConfigArn" and isinstance(value, str):
                found.append(value)
            elif key == "LifecycleConfigArns" and isinstance(value, list):
                found += [v for v in value if isinstance(v, str)]
            else:
                found += _lifecycle_arns(value)
    elif isinstance(settings, list):
        for value in settings:
            found += _lifecycle_arns(value)
    return found


def _check_lifecycle_configs(backend: Any, settings: Any, what: str) -> None:
    known = {config["StudioLifecycleConfigArn"] for config in studio(backend)["lifecycle_configs"].values()}
    for arn in _lifecycle_arns(settings):
        if arn not in known:
            raise StudioError("ResourceNotFound", f"{what}: lifecycle config {arn} does not exist")


def create_lifecycle_config(backend: Any, name: str, props: dict) -> dict:
    configs = studio(backend)["lifecycle_configs"]
    if name in configs:
        raise StudioError("ResourceInUse", f"Studio lifecycle config {name} already exists")
    app_type, content = props.get("StudioLifecycleConfigAppType"), str(props.get("StudioLifecycleConfigContent", ""))
    if app_type not in LIFECYCLE_APP_TYPES:
        raise StudioError("ValidationException", f"StudioLifecycleConfigAppType {app_type!r} is not one of {', '.join(LIFECYCLE_APP_TYPES)}")
    if not content or len(content) > MAX_LIFECYCLE_CONTENT:
        raise StudioError("ValidationException", f"StudioLifecycleConfigContent must be 1-{MAX_LIFECYCLE_CONTENT} characters")
    try:
        base64.b64decode(content, validate=True)
    except binascii.Error:
        raise StudioError("ValidationException", "StudioLifecycleConfigContent is not base64") from None
    now = utcnow()
    configs[name] = {"StudioLifecycleConfigArn": _arn(backend, f"studio-lifecycle-config/{name}"), "StudioLifecycleConfigName": name,
                     "StudioLifecycleConfigAppType": app_type, "StudioLifecycleConfigContent": content,
                     "CreationTime": now, "LastModifiedTime": now}
    return configs[name]


def delete_lifecycle_config(backend: Any, name: str) -> None:
    studio(backend)["lifecycle_configs"].pop(name, None)


def delete_unused_lifecycle_config(backend: Any, name: str, arn: str) -> None:
    """DeleteStudioLifecycleConfig: refused while a profile or space still names it ("You must also remove the Lifecycle
    Configuration from UserSettings in all Domains and UserProfiles", SageMaker API Reference)."""
    held = studio(backend)
    users = sorted(n for (_, n), p in held["profiles"].items() if arn in _lifecycle_arns(p.get("UserSettings")))
    users += sorted(n for (_, n), sp in held["spaces"].items() if arn in _lifecycle_arns(sp.get("SpaceSettings")))
    if users:
        raise StudioError("ResourceInUse", f"Studio lifecycle config {name} is used by {', '.join(users)}")
    delete_lifecycle_config(backend, name)


def _new_in_domain(backend: Any, kind: str, what: str, name: str, props: dict) -> tuple[str, dict]:
    """(domain id, the store) for a new profile or space: its domain exists and the name is free there."""
    domain_id = str(props.get("DomainId"))
    _domain(backend, domain_id)
    held = studio(backend)[kind]
    if (domain_id, name) in held:
        raise StudioError("ResourceInUse", f"{what} {name} already exists in domain {domain_id}")
    return domain_id, held


def create_profile(backend: Any, name: str, props: dict) -> dict:
    domain_id, profiles = _new_in_domain(backend, "profiles", "User profile", name, props)
    _check_lifecycle_configs(backend, props.get("UserSettings"), f"user profile {name}")
    now = utcnow()
    profiles[(domain_id, name)] = {
        "DomainId": domain_id, "UserProfileArn": _arn(backend, f"user-profile/{domain_id}/{name}"), "UserProfileName": name,
        "Status": "InService", "CreationTime": now, "LastModifiedTime": now,
        "UserSettings": props.get("UserSettings") or {},
        **({"SingleSignOnUserIdentifier": props["SingleSignOnUserIdentifier"]} if props.get("SingleSignOnUserIdentifier") else {}),
        **({"SingleSignOnUserValue": props["SingleSignOnUserValue"]} if props.get("SingleSignOnUserValue") else {}),
        "Tags": props.get("Tags") or [],
    }
    return profiles[(domain_id, name)]


def update_profile(backend: Any, domain_id: str, name: str, props: dict) -> None:
    _check_lifecycle_configs(backend, props.get("UserSettings"), f"user profile {name}")
    profile = studio(backend)["profiles"][(domain_id, name)]
    profile.update(UserSettings=props.get("UserSettings") or {}, Tags=props.get("Tags") or [], LastModifiedTime=utcnow())


def delete_profile(backend: Any, domain_id: str, name: str) -> None:
    owned = sorted(space_name for (space_domain, space_name), space in studio(backend)["spaces"].items()
                   if space_domain == domain_id and space.get("OwnershipSettings", {}).get("OwnerUserProfileName") == name)
    if owned:
        raise StudioError("ResourceInUse", f"User profile {name} still owns spaces {', '.join(owned)}: delete them first")
    studio(backend)["profiles"].pop((domain_id, name), None)


def create_space(backend: Any, name: str, props: dict) -> dict:
    domain_id, spaces = _new_in_domain(backend, "spaces", "Space", name, props)
    sharing = (props.get("SpaceSharingSettings") or {}).get("SharingType", "Shared")
    owner = (props.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
    if sharing == "Private" and not owner:
        raise StudioError("ValidationException", f"Space {name}: a private space needs OwnershipSettings.OwnerUserProfileName")
    if owner and (domain_id, owner) not in studio(backend)["profiles"]:
        raise StudioError("ResourceNotFound", f"Space {name}: owner user profile {owner} does not exist in domain {domain_id}")
    _check_lifecycle_configs(backend, props.get("SpaceSettings"), f"space {name}")
    now = utcnow()
    spaces[(domain_id, name)] = {
        "DomainId": domain_id, "SpaceArn": _arn(backend, f"space/{domain_id}/{name}"), "SpaceName": name,
        "SpaceDisplayName": props.get("SpaceDisplayName", name), "Status": "InService", "CreationTime": now, "LastModifiedTime": now,
        "SpaceSettings": props.get("SpaceSettings") or {}, "SpaceSharingSettings": {"SharingType": sharing},
        **({"OwnershipSettings": {"OwnerUserProfileName": owner}} if owner else {}),
        "Url": f"https://{domain_id}.studio.{backend.region_name}.sagemaker.aws/jupyterlab/default/spaces/{name}",
        "Tags": props.get("Tags") or [],
    }
    return spaces[(domain_id, name)]


def update_space(backend: Any, domain_id: str, name: str, props: dict) -> None:
    _check_lifecycle_configs(backend, props.get("SpaceSettings"), f"space {name}")
    space = studio(backend)["spaces"][(domain_id, name)]
    space.update(SpaceSettings=props.get("SpaceSettings") or {}, SpaceDisplayName=props.get("SpaceDisplayName", name),
                 Tags=props.get("Tags") or [], LastModifiedTime=utcnow())


def live_apps(backend: Any, domain_id: str, owner: str) -> list[str]:
    return sorted(f"{app['AppType']}/{app['AppName']}" for (d, o, _, _), app in studio(backend)["apps"].items()
                  if d == domain_id and o == owner and app["Status"] not in ("Deleted", "Failed"))


def delete_space(backend: Any, domain_id: str, name: str) -> None:
    running = live_apps(backend, domain_id, name)
    if running:
        raise StudioError("ResourceInUse", f"Space {name} has apps that are not deleted ({', '.join(running)}): delete them first")
    studio(backend)["spaces"].pop((domain_id, name), None)


def create_app(backend: Any, domain_id: str, owner: str, app_type: str, app_name: str, spec: dict | None) -> dict:
    """CreateApp in a space (or a profile, as Studio Classic did); the app is InService at once."""
    _domain(backend, domain_id)
    held = studio(backend)
    if (domain_id, owner) not in held["spaces"] and (domain_id, owner) not in held["profiles"]:
        raise StudioError("ResourceNotFound", f"Space or user profile {owner} does not exist in domain {domain_id}")
    key = (domain_id, owner, app_type, app_name)
    if key in held["apps"] and held["apps"][key]["Status"] not in ("Deleted", "Failed"):
        raise StudioError("ResourceInUse", f"App {app_type}/{app_name} already exists in {owner}")
    arn = _arn(backend, f"app/{domain_id}/{owner}/{app_type.lower()}/{app_name}")
    owner_key = "SpaceName" if (domain_id, owner) in held["spaces"] else "UserProfileName"
    held["apps"][key] = {"AppArn": arn, "DomainId": domain_id, owner_key: owner, "AppType": app_type, "AppName": app_name,
                         "Status": "InService", "CreationTime": utcnow(), "ResourceSpec": spec or {}}
    return held["apps"][key]


def delete_app(backend: Any, domain_id: str, owner: str, app_type: str, app_name: str) -> None:
    """DeleteApp: the app is Deleting, and Deleted once someone looks again (as SageMaker takes minutes to stop one)."""
    app = studio(backend)["apps"].get((domain_id, owner, app_type, app_name))
    if app is None or app["Status"] == "Deleted":
        raise StudioError("ResourceNotFound", f"App {app_type}/{app_name} does not exist in {owner}")
    if app["Status"] == "Deleting":
        raise StudioError("ResourceInUse", f"App {app_type}/{app_name} of {owner} is already being deleted")
    app["Status"] = "Deleting"


def looked_at(app: dict) -> dict:
    """An app as a Describe or List call sees it: a Deleting one has finished by the next look."""
    seen = dict(app)
    if app["Status"] == "Deleting":
        app["Status"] = "Deleted"
    return seen


#: MaxResults' default in SageMaker's List calls (ListApps, ListSpaces, ListUserProfiles): answers come in pages of 10.
PAGE = 10


def page(items: list[dict], token: str | None, size: int | None) -> dict:
    """One page of a List answer: items from ``token`` (an offset), and NextToken while more remain."""
    start, size = int(token or 0), size or PAGE
    return {"items": items[start:start + size], **({"NextToken": str(start + size)} if start + size < len(items) else {})}


def home_file_system(backend: Any, domain: Any) -> None:
    """What CreateDomain makes in a VPC of this emulator: the home EFS volume, a mount target per subnet, and the two
    NFS security groups (see the module docstring). Nothing for a VPC the emulator does not hold."""
    from moto.ec2.models import ec2_backends
    from moto.efs.models import efs_backends

    ec2, efs = ec2_backends[backend.account_id][backend.region_name], efs_backends[backend.account_id][backend.region_name]
    if not domain.vpc_id or domain.vpc_id not in ec2.vpcs:
        return
    inbound = ec2.create_security_group(f"security-group-for-inbound-nfs-{domain.id}", "NFS from Studio apps to the home volume",
                                        vpc_id=domain.vpc_id)
    outbound = ec2.create_security_group(f"security-group-for-outbound-nfs-{domain.id}", "NFS from Studio apps to the home volume",
                                         vpc_id=domain.vpc_id)
    ec2.authorize_security_group_ingress(inbound.id, "tcp", "2049", "2049", [], source_groups=[{"GroupId": outbound.id}])
    ec2.authorize_security_group_egress(outbound.id, "tcp", "2049", "2049", [], source_groups=[{"GroupId": inbound.id}])
    volume = efs.create_file_system(creation_token=f"{domain.id}-home", performance_mode="generalPurpose", encrypted=True,
                                    kms_key_id=domain.kms_key_id, throughput_mode="bursting", provisioned_throughput_in_mibps=0,
                                    availability_zone_name="", backup=False,
                                    tags=[{"Key": "ManagedByAmazonSageMakerResource", "Value": domain.arn}])
    for subnet in domain.subnet_ids:
        efs.create_mount_target(volume.file_system_id, subnet, security_groups=[inbound.id])
    domain.home_efs_file_system_id = volume.file_system_id


def delete_home_file_system(backend: Any, domain: Any) -> None:
    """RetentionPolicy HomeEfsFileSystem=Delete: the volume and its mount targets go; the security groups stay."""
    from moto.efs.models import efs_backends

    efs = efs_backends[backend.account_id][backend.region_name]
    volume = efs.file_systems_by_id.get(domain.home_efs_file_system_id)
    if volume is None:
        return
    for target in efs.describe_mount_targets(max_items=1000, file_system_id=volume.file_system_id, mount_target_id=None,
                                             access_point_id=None, marker=None)[1]:
        efs.delete_mount_target(target.mount_target_id)
    efs.delete_file_system(volume.file_system_id)


def studio_deploys() -> None:
    """The four CloudFormation types (see the module docstring); Ref and Fn::GetAtt as their template references
    document them: a domain's Ref and DomainId are its ID, a profile's and a space's attributes their ARNs."""
    from moto.sagemaker.models import sagemaker_backends

    from local.emulator.cloudformation import Deployed, api_backed, register

    def create_domain(backend: Any, name: str, props: dict) -> Deployed:
        backend.create_domain(
            domain_name=name, auth_mode=props.get("AuthMode"), default_user_settings=props.get("DefaultUserSettings") or {},
            subnet_ids=props.get("SubnetIds") or [], vpc_id=props.get("VpcId"), domain_settings=props.get("DomainSettings"),
            tags=props.get("Tags") or [], app_network_access_type=props.get("AppNetworkAccessType"),
            home_efs_file_system_kms_key_id=None, kms_key_id=props.get("KmsKeyId"),
            app_security_group_management=props.get("AppSecurityGroupManagement"),
            default_space_settings=props.get("DefaultSpaceSettings"),
        )
        (domain,) = [d for d in backend.domains.values() if d.domain_name == name]
        home_file_system(backend, domain)
        attributes = {"DomainId": domain.id, "DomainArn": domain.arn, "Url": domain.url, "HomeEfsFileSystemId": domain.home_efs_file_system_id,
                      "SecurityGroupIdForDomainBoundary": domain.security_group_id_for_domain_boundary,
                      "SingleSignOnManagedApplicationInstanceId": domain.single_sign_on_managed_application_instance_id,
                      "SingleSignOnApplicationArn": domain.single_sign_on_managed_application_arn}
        def delete() -> None:
            # Already gone (Custom::StudioTeardown deleted it) counts as deleted, as in CloudFormation's handler contract.
            if domain.id in backend.domains:
                backend.delete_domain(domain.id, None)

        return Deployed(domain.id, delete, attributes, name=name)

    def update_domain(backend: Any, deployed: Deployed, props: dict) -> Deployed:
        # UpdateDomain changes the default user and space settings, subnets and tags in place.
        domain = backend.domains[deployed.physical_resource_id]
        domain.default_user_settings = props.get("DefaultUserSettings") or {}
        domain.default_space_settings = props.get("DefaultSpaceSettings")
        domain.subnet_ids, domain.vpc_id, domain.tags = props.get("SubnetIds") or [], props.get("VpcId"), props.get("Tags") or []
        domain.app_network_access_type = props.get("AppNetworkAccessType") or domain.app_network_access_type
        domain.last_modified_time = utcnow()
        return deployed

    def created_lifecycle_config(backend: Any, name: str, props: dict) -> Deployed:
        config = create_lifecycle_config(backend, name, props)
        arn = config["StudioLifecycleConfigArn"]
        return Deployed(name, lambda: delete_lifecycle_config(backend, name), {"StudioLifecycleConfigArn": arn}, name=name)

    def created_profile(backend: Any, name: str, props: dict) -> Deployed:
        profile = create_profile(backend, name, props)
        domain_id = profile["DomainId"]
        return Deployed(profile["UserProfileArn"], lambda: delete_profile(backend, domain_id, name),
                        {"UserProfileArn": profile["UserProfileArn"]}, name=name)

    def updated_profile(backend: Any, deployed: Deployed, props: dict) -> Deployed:
        update_profile(backend, str(props.get("DomainId")), deployed.name, props)
        return deployed

    def created_space(backend: Any, name: str, props: dict) -> Deployed:
        space = create_space(backend, name, props)
        domain_id = space["DomainId"]
        return Deployed(space["SpaceArn"], lambda: delete_space(backend, domain_id, name),
                        {"SpaceArn": space["SpaceArn"], "Url": space["Url"]}, name=name)

    def updated_space(backend: Any, deployed: Deployed, props: dict) -> Deployed:
        update_space(backend, str(props.get("DomainId")), deployed.name, props)
        return deployed

    register(
        teardown_type(),
        api_backed("AWS::SageMaker::Domain", "DomainName", create_domain, backends=sagemaker_backends,
                   attributes=("DomainId", "DomainArn", "Url", "HomeEfsFileSystemId", "SecurityGroupIdForDomainBoundary",
                               "SingleSignOnManagedApplicationInstanceId", "SingleSignOnApplicationArn"),
                   replaced_by=REPLACED_BY["AWS::SageMaker::Domain"], update=update_domain),
        api_backed("AWS::SageMaker::StudioLifecycleConfig", "StudioLifecycleConfigName", created_lifecycle_config,
                   backends=sagemaker_backends, attributes=("StudioLifecycleConfigArn",),
                   replaced_by=REPLACED_BY["AWS::SageMaker::StudioLifecycleConfig"]),
        api_backed("AWS::SageMaker::UserProfile", "UserProfileName", created_profile, backends=sagemaker_backends,
                   attributes=("UserProfileArn",), replaced_by=REPLACED_BY["AWS::SageMaker::UserProfile"], update=updated_profile),
        api_backed("AWS::SageMaker::Space", "SpaceName", created_space, backends=sagemaker_backends,
                   attributes=("SpaceArn", "Url"), replaced_by=REPLACED_BY["AWS::SageMaker::Space"], update=updated_space),
    )


def teardown_type() -> type:
    """Custom::StudioTeardown as CloudFormation runs it: the handler's on_delete (lambda/studio_teardown/handler.py), with
    the stack's ID and the resource's properties as the Delete event carries them, and clients of this emulator (moto
    runs no Lambda). So it tears down only while its stack is DELETE_IN_PROGRESS, as in AWS."""
    from local.emulator.cloudformation import emulator_clients, handler_run_type

    def on_delete(stack_id: str, properties: dict, region_name: str) -> None:
        clients = emulator_clients(region_name, "cloudformation", "sagemaker", "ec2")
        teardown_handler_module().on_delete(*clients, stack_id, properties, seconds_left=lambda: 900.0, sleep=lambda _: None)

    return handler_run_type("Custom::StudioTeardown", lambda p: f"studio-teardown-{p.get('DomainId')}", on_delete)


def teardown_handler_module() -> Any:
    """lambda/studio_teardown/handler.py, imported from its folder as Lambda does ('lambda' is no package name)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "lambda" / "studio_teardown" / "handler.py"
    spec = importlib.util.spec_from_file_location("studio_teardown_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def studio_api() -> None:
    """DeleteDomain refuses while profiles or spaces remain, and the Describe/List calls of profiles, spaces and
    Studio lifecycle configs answer (see the module docstring)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker import models, responses
    from moto.sagemaker.exceptions import ResourceNotFound, ValidationError

    original_delete_domain = models.SageMakerModelBackend.delete_domain
    original_describe_domain = models.SageMakerModelBackend.describe_domain

    def describe_domain(self: Any, domain_id: str) -> dict[str, Any]:
        # SageMaker answers ResourceNotFound for a domain that does not exist (botocore: DescribeDomain's errors); moto
        # answered ValidationException.
        if domain_id not in self.domains:
            raise ResourceNotFound(message=f"Could not find domain '{domain_id}'.")
        return dict(original_describe_domain(self, domain_id))

    def delete_domain(self: Any, domain_id: str, retention_policy: Any) -> None:
        held = studio(self)
        left = sorted([f"user profile {n}" for d, n in held["profiles"] if d == domain_id]
                      + [f"space {n}" for d, n in held["spaces"] if d == domain_id])
        if left:
            raise ValidationError(message=f"Domain {domain_id} still has {', '.join(left)}: delete them first")
        if domain_id not in self.domains:
            raise ResourceNotFound(message=f"Could not find domain '{domain_id}'.")
        domain = self.domains.get(domain_id)
        original_delete_domain(self, domain_id, retention_policy)
        if (retention_policy or {}).get("HomeEfsFileSystem") == "Delete":
            delete_home_file_system(self, domain)

    def found(held: dict, key: Any, what: str) -> dict:
        # botocore's output shape picks the members it has (Tags, for one, is not in a Describe answer).
        if key not in held:
            raise ResourceNotFound(message=f"{what} does not exist")
        return dict(held[key])

    def api_describe_user_profile(self: Any) -> ActionResult:
        domain_id, name = self._get_param("DomainId"), self._get_param("UserProfileName")
        return ActionResult(found(studio(self.sagemaker_backend)["profiles"], (domain_id, name), f"User profile {name} in domain {domain_id}"))

    def api_list_user_profiles(self: Any) -> ActionResult:
        domain_id = self._get_param("DomainIdEquals")
        profiles = [{k: p[k] for k in ("DomainId", "UserProfileName", "Status", "CreationTime", "LastModifiedTime")}
                    for (d, _), p in sorted(studio(self.sagemaker_backend)["profiles"].items()) if not domain_id or d == domain_id]
        one = page(profiles, self._get_param("NextToken"), self._get_param("MaxResults"))
        return ActionResult({"UserProfiles": one.pop("items"), **one})

    def api_describe_space(self: Any) -> ActionResult:
        domain_id, name = self._get_param("DomainId"), self._get_param("SpaceName")
        return ActionResult(found(studio(self.sagemaker_backend)["spaces"], (domain_id, name), f"Space {name} in domain {domain_id}"))

    def api_list_spaces(self: Any) -> ActionResult:
        domain_id = self._get_param("DomainIdEquals")
        spaces = []
        for (d, _), s in sorted(studio(self.sagemaker_backend)["spaces"].items()):
            if domain_id and d != domain_id:
                continue
            summary = {k: s[k] for k in ("DomainId", "SpaceName", "SpaceDisplayName", "Status", "CreationTime", "LastModifiedTime",
                                         "SpaceSharingSettings") if k in s}
            summary["SpaceSharingSettingsSummary"] = summary.pop("SpaceSharingSettings")
            if "OwnershipSettings" in s:
                summary["OwnershipSettingsSummary"] = s["OwnershipSettings"]
            summary["SpaceSettingsSummary"] = {"AppType": s["SpaceSettings"].get("AppType")} if s["SpaceSettings"].get("AppType") else {}
            spaces.append(summary)
        one = page(spaces, self._get_param("NextToken"), self._get_param("MaxResults"))
        return ActionResult({"Spaces": one.pop("items"), **one})

    def api_describe_studio_lifecycle_config(self: Any) -> ActionResult:
        name = self._get_param("StudioLifecycleConfigName")
        return ActionResult(found(studio(self.sagemaker_backend)["lifecycle_configs"], name, f"Studio lifecycle config {name}"))

    def api_list_studio_lifecycle_configs(self: Any) -> ActionResult:
        contains = self._get_param("NameContains") or ""
        configs = [{k: v for k, v in c.items() if k != "StudioLifecycleConfigContent"}
                   for name, c in sorted(studio(self.sagemaker_backend)["lifecycle_configs"].items()) if contains in name]
        return ActionResult({"StudioLifecycleConfigs": configs})

    def api_delete_studio_lifecycle_config(self: Any) -> ActionResult:
        name = self._get_param("StudioLifecycleConfigName")
        config = found(studio(self.sagemaker_backend)["lifecycle_configs"], name, f"Studio lifecycle config {name}")
        refused(lambda: delete_unused_lifecycle_config(self.sagemaker_backend, name, config["StudioLifecycleConfigArn"]))
        return ActionResult({})

    def refused(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except StudioError as error:
            raise (ResourceNotFound if error.code == "ResourceNotFound" else ValidationError)(message=error.message) from None

    def api_create_app(self: Any) -> ActionResult:
        owner = self._get_param("SpaceName") or self._get_param("UserProfileName")
        app = refused(lambda: create_app(self.sagemaker_backend, self._get_param("DomainId"), owner,
                                                      self._get_param("AppType"), self._get_param("AppName"),
                                                      self._get_param("ResourceSpec")))
        return ActionResult({"AppArn": app["AppArn"]})

    def api_describe_app(self: Any) -> ActionResult:
        owner = self._get_param("SpaceName") or self._get_param("UserProfileName")
        key = (self._get_param("DomainId"), owner, self._get_param("AppType"), self._get_param("AppName"))
        apps = studio(self.sagemaker_backend)["apps"]
        found(apps, key, f"App {key[2]}/{key[3]} in {owner}")
        return ActionResult(looked_at(apps[key]))

    def api_list_apps(self: Any) -> ActionResult:
        domain_id = self._get_param("DomainIdEquals")
        apps = [a for (d, _, _, _), a in sorted(studio(self.sagemaker_backend)["apps"].items()) if not domain_id or d == domain_id]
        one = page(apps, self._get_param("NextToken"), self._get_param("MaxResults"))
        return ActionResult({"Apps": [looked_at(a) for a in one.pop("items")], **one})

    def api_delete_app(self: Any) -> ActionResult:
        owner = self._get_param("SpaceName") or self._get_param("UserProfileName")
        refused(lambda: delete_app(self.sagemaker_backend, self._get_param("DomainId"), owner, self._get_param("AppType"),
                                                self._get_param("AppName")))
        return ActionResult({})

    def api_delete_space(self: Any) -> ActionResult:
        domain_id, name = self._get_param("DomainId"), self._get_param("SpaceName")
        found(studio(self.sagemaker_backend)["spaces"], (domain_id, name), f"Space {name} in domain {domain_id}")
        refused(lambda: delete_space(self.sagemaker_backend, domain_id, name))
        return ActionResult({})

    def api_delete_user_profile(self: Any) -> ActionResult:
        domain_id, name = self._get_param("DomainId"), self._get_param("UserProfileName")
        found(studio(self.sagemaker_backend)["profiles"], (domain_id, name), f"User profile {name} in domain {domain_id}")
        refused(lambda: delete_profile(self.sagemaker_backend, domain_id, name))
        return ActionResult({})

    models.SageMakerModelBackend.delete_domain = delete_domain
    models.SageMakerModelBackend.describe_domain = describe_domain
    for handler in (api_describe_user_profile, api_list_user_profiles, api_describe_space, api_list_spaces,
                    api_describe_studio_lifecycle_config, api_list_studio_lifecycle_configs, api_create_app, api_describe_app,
                    api_list_apps, api_delete_app, api_delete_space, api_delete_user_profile, api_delete_studio_lifecycle_config):
        setattr(responses.SageMakerResponse, handler.__name__.removeprefix("api_"), handler)
