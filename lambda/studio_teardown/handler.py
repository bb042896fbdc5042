"""Custom::StudioTeardown: when a disposable environment's Studio stack is deleted, leave nothing behind.

CloudFormation alone cannot delete a Studio domain cleanly:
- a space or profile with a running app cannot be deleted ("the user profile or space cannot contain any non-failed
  apps", SageMaker developer guide, "Delete a domain"), and a JupyterLab app runs until it idles out;
- AWS::SageMaker::Domain's delete handler (aws-cloudformation-resource-providers-sagemaker) calls DeleteDomain without a
  RetentionPolicy, whose default keeps the home EFS volume ("By default, all resources are retained", SageMaker API
  Reference, DeleteDomain); its mount targets in the private subnets then keep the network stack from being deleted
  (aws-cloudformation/cloudformation-coverage-roadmap#1085). Whatever a later handler does, deleting with Delete here
  first leaves nothing to depend on it;
- the two security groups SageMaker makes for that volume (security-group-for-inbound-nfs-<domain id> and
  security-group-for-outbound-nfs-<domain id>) stay in the VPC, each referring to the other.

This resource depends on the domain, its profiles and spaces, so CloudFormation deletes it first. CloudFormation also
sends Delete when the resource leaves the template or an update that added it rolls back: the teardown runs only when
its stack itself is going (DELETE_IN_PROGRESS, or ROLLBACK_IN_PROGRESS of a failed create), else it answers SUCCESS and
keeps everything. When it runs, it does what the stack's own deletes cannot, in order: deletes every app of the domain
and waits, deletes the spaces, the profiles, then the domain with RetentionPolicy HomeEfsFileSystem=Delete (SageMaker
deletes the volume), the NFS security groups (retrying while the volume's network interfaces still hold them), and the
environment's JupyterLab lifecycle configs that an in-use replacement left behind.
CloudFormation's own deletes of those resources then find them gone, which its resource handler contract counts as
deleted. Every step is idempotent: a deletion that ran out of time is finished by deleting the
stack again. Create and Update do nothing.

Standard library and boto3 only (Lambda's Python runtime has both).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

#: App states that need no more deleting.
APP_DONE = ("Deleted", "Failed")
#: The stack statuses in which the stack itself is going away: only then does a Delete tear the domain down.
STACK_GOING = ("DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
#: Error codes that mean "already gone" (SageMaker's ResourceNotFound; EC2's for groups and rules).
GONE = ("ResourceNotFound", "ResourceNotFoundException", "InvalidGroup.NotFound", "InvalidPermission.NotFound")
#: Seconds between polls, and how much of the Lambda's time is kept to answer CloudFormation.
POLL_SECONDS = 10
MARGIN_SECONDS = 30
NFS_GROUPS = ("security-group-for-inbound-nfs-{}", "security-group-for-outbound-nfs-{}")


class OutOfTime(Exception):
    """A deletion still running when the Lambda must answer: deleting the stack again finishes it."""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _gone(error: ClientError) -> bool:
    return _code(error) in GONE


def _pages(call: Callable[..., dict], key: str, **kwargs: Any) -> list[dict]:
    items, token = [], None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


def stack_is_going(cloudformation: Any, stack_id: str) -> bool:
    """Whether the stack is being deleted (or a failed create rolled back): the only time to tear down."""
    (stack,) = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    return str(stack["StackStatus"]) in STACK_GOING


class Teardown:
    """The steps of the module docstring, against a SageMaker and an EC2 client, within ``seconds_left()``."""

    def __init__(self, sagemaker: Any, ec2: Any, domain_id: str, seconds_left: Callable[[], float],
                 sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = print, vpc_id: str | None = None,
                 lifecycle_prefixes: Sequence[str] = ()) -> None:
        self.sagemaker, self.ec2, self.domain_id, self.vpc_id = sagemaker, ec2, domain_id, vpc_id
        self.lifecycle_prefixes = tuple(lifecycle_prefixes)
        self.seconds_left, self.sleep, self.log = seconds_left, sleep, log

    def run(self) -> None:
        self.delete_apps()
        self.delete_spaces()
        self.delete_profiles()
        self.delete_domain()
        self.delete_nfs_security_groups()
        self.delete_lifecycle_configs()

    def wait(self, what: str, done: Callable[[], bool]) -> None:
        while not done():
            if self.seconds_left() < MARGIN_SECONDS + POLL_SECONDS:
                raise OutOfTime(f"{what}: still deleting when the function had to answer; delete the stack again to finish")
            self.sleep(POLL_SECONDS)

    def apps(self) -> list[dict]:
        return _pages(self.sagemaker.list_apps, "Apps", DomainIdEquals=self.domain_id)

    def delete_apps(self) -> None:
        asked: set[tuple[str, str, str]] = set()

        def pass_() -> bool:
            """Ask to delete every app in service (a Pending one is asked once it is); True when none is left."""
            left = False
            for app in self.apps():
                status = app.get("Status")
                if status in APP_DONE:
                    continue
                left = True
                owner = {"SpaceName": app["SpaceName"]} if app.get("SpaceName") else {"UserProfileName": app["UserProfileName"]}
                key = (next(iter(owner.values())), app["AppType"], app["AppName"])
                if status == "InService" and key not in asked:
                    asked.add(key)
                    self.log(f"deleting app {app['AppType']}/{app['AppName']} of {key[0]}")
                    self._delete(lambda a=app, o=owner: self.sagemaker.delete_app(
                        DomainId=self.domain_id, AppType=a["AppType"], AppName=a["AppName"], **o))
            return not left

        self.wait("apps", pass_)

    def delete_spaces(self) -> None:
        spaces = _pages(self.sagemaker.list_spaces, "Spaces", DomainIdEquals=self.domain_id)
        for space in spaces:
            if space.get("Status") != "Deleting":
                self.log(f"deleting space {space['SpaceName']}")
                self._delete(lambda name=space["SpaceName"]: self.sagemaker.delete_space(DomainId=self.domain_id, SpaceName=name))
        self.wait("spaces", lambda: not _pages(self.sagemaker.list_spaces, "Spaces", DomainIdEquals=self.domain_id))

    def delete_profiles(self) -> None:
        profiles = _pages(self.sagemaker.list_user_profiles, "UserProfiles", DomainIdEquals=self.domain_id)
        for profile in profiles:
            if profile.get("Status") != "Deleting":
                self.log(f"deleting user profile {profile['UserProfileName']}")
                self._delete(lambda name=profile["UserProfileName"]: self.sagemaker.delete_user_profile(
                    DomainId=self.domain_id, UserProfileName=name))
        self.wait("user profiles", lambda: not _pages(self.sagemaker.list_user_profiles, "UserProfiles", DomainIdEquals=self.domain_id))

    def domain_status(self) -> str | None:
        """The domain's status; None once it is gone. A failed deletion is an error with SageMaker's reason."""
        try:
            domain = self.sagemaker.describe_domain(DomainId=self.domain_id)
        except ClientError as error:
            if _gone(error):
                return None
            raise
        if domain.get("Status") == "Delete_Failed":
            raise RuntimeError(f"domain {self.domain_id}: deletion failed: {domain.get('FailureReason', 'no reason given')}")
        return str(domain.get("Status", ""))

    def delete_domain(self) -> None:
        status = self.domain_status()
        if status is None:
            return
        if status != "Deleting":
            self.log(f"deleting domain {self.domain_id} and its home EFS volume")
            self._delete(lambda: self.sagemaker.delete_domain(DomainId=self.domain_id,
                                                              RetentionPolicy={"HomeEfsFileSystem": "Delete"}))
        self.wait("domain", lambda: self.domain_status() is None)

    def nfs_security_groups(self) -> list[dict]:
        names = [name.format(self.domain_id) for name in NFS_GROUPS]
        filters = [{"Name": "group-name", "Values": names}] + ([{"Name": "vpc-id", "Values": [self.vpc_id]}] if self.vpc_id else [])
        return list(self.ec2.describe_security_groups(Filters=filters)["SecurityGroups"])

    def delete_nfs_security_groups(self) -> None:
        groups = self.nfs_security_groups()
        # Each group's rules name the other: no group can go while a rule refers to it.
        for group in groups:
            if group.get("IpPermissions"):
                self._delete(lambda g=group: self.ec2.revoke_security_group_ingress(GroupId=g["GroupId"], IpPermissions=g["IpPermissions"]))
            if group.get("IpPermissionsEgress"):
                self._delete(lambda g=group: self.ec2.revoke_security_group_egress(
                    GroupId=g["GroupId"], IpPermissions=g["IpPermissionsEgress"]))

        def pass_() -> bool:
            """Delete what is left; the home volume's network interfaces may still hold a group (DependencyViolation)."""
            for group in self.nfs_security_groups():
                try:
                    self.ec2.delete_security_group(GroupId=group["GroupId"])
                    self.log(f"deleted security group {group['GroupName']} ({group['GroupId']})")
                except ClientError as error:
                    if _code(error) != "DependencyViolation" and not _gone(error):
                        raise
            return not self.nfs_security_groups()

        self.wait("NFS security groups", pass_)

    def delete_lifecycle_configs(self) -> None:
        """The teams' JupyterLab lifecycle configs (named <prefix><digest>, one prefix a team): a changed team script
        replaces its config, and CloudFormation's deletion of the old one fails while a running app uses it."""
        for prefix in self.lifecycle_prefixes:
            configs = _pages(self.sagemaker.list_studio_lifecycle_configs, "StudioLifecycleConfigs", NameContains=prefix)
            for name in (c["StudioLifecycleConfigName"] for c in configs):
                if name.startswith(prefix):
                    self.log(f"deleting lifecycle config {name}")
                    self._delete(lambda n=name: self.sagemaker.delete_studio_lifecycle_config(StudioLifecycleConfigName=n))

    @staticmethod
    def _delete(call: Callable[[], Any]) -> None:
        try:
            call()
        except ClientError as error:
            if not _gone(error):
                raise


def respond(event: dict, status: str, reason: str = "") -> None:
    """The custom resource's answer, PUT to CloudFormation's presigned URL (CloudFormation User Guide, "Custom resources")."""
    physical = event.get("PhysicalResourceId") or f"studio-teardown-{event['ResourceProperties']['DomainId']}"
    body = json.dumps({"Status": status, "Reason": reason[:3000] or status, "PhysicalResourceId": physical,
                       "StackId": event["StackId"], "RequestId": event["RequestId"],
                       "LogicalResourceId": event["LogicalResourceId"]}).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def on_delete(cloudformation: Any, sagemaker: Any, ec2: Any, stack_id: str, properties: dict, seconds_left: Callable[[], float],
              sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = print) -> bool:
    """A Delete: tear the domain down if the stack itself is going; True if it did."""
    if not stack_is_going(cloudformation, stack_id):
        log(f"stack {stack_id} is not being deleted: the domain {properties['DomainId']} stays")
        return False
    Teardown(sagemaker, ec2, properties["DomainId"], seconds_left, sleep=sleep, log=log, vpc_id=properties.get("VpcId"),
             lifecycle_prefixes=properties.get("LifecycleConfigPrefixes") or ()).run()
    return True


def handler(event: dict, context: Any) -> None:
    try:
        if event["RequestType"] == "Delete":
            on_delete(boto3.client("cloudformation"), boto3.client("sagemaker"), boto3.client("ec2"), event["StackId"],
                      event["ResourceProperties"], lambda: context.get_remaining_time_in_millis() / 1000)
    except Exception as error:  # noqa: BLE001 - every failure is CloudFormation's to report, in one line
        print(f"teardown failed: {error}")
        respond(event, "FAILED", f"{type(error).__name__}: {error}")
        return
    respond(event, "SUCCESS")
