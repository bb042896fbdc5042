"""Custom::StudioTeardown: when a disposable environment's Studio stack is deleted, leave nothing behind.

CloudFormation alone cannot delete a Studio domain cleanly:
- a space or profile with a running app cannot be deleted ("the user profile or space cannot contain any non-failed
  apps", SageMaker developer guide, "Delete a domain"), and a JupyterLab app runs until it idles out;
- AWS::SageMaker::Domain's delete handler calls DeleteDomain without a RetentionPolicy, whose default keeps the home
  EFS volume ("By default, all resources are retained", SageMaker API Reference, DeleteDomain); its mount targets in
  the private subnets then keep the network stack from being deleted (aws-cloudformation/cloudformation-coverage-roadmap#1085);
- the two security groups SageMaker makes for that volume (security-group-for-inbound-nfs-<domain id> and
  security-group-for-outbound-nfs-<domain id>) stay in the VPC, each referring to the other.

This resource depends on the domain, its profiles and spaces, so CloudFormation deletes it first. Its Delete does
what the stack's own deletes cannot, in order: deletes every app of the domain and waits, deletes the spaces, the
profiles, then the domain with RetentionPolicy HomeEfsFileSystem=Delete (SageMaker deletes the volume), and the NFS
security groups. CloudFormation's own deletes of those resources then find them gone, which its resource handler
contract counts as deleted. Every step is idempotent: a deletion that ran out of time is finished by deleting the
stack again. Create and Update do nothing.

Standard library and boto3 only (Lambda's Python runtime has both).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

#: App states that need no more deleting.
APP_DONE = ("Deleted", "Failed")
#: Seconds between polls, and how much of the Lambda's time is kept to answer CloudFormation.
POLL_SECONDS = 10
MARGIN_SECONDS = 30
NFS_GROUPS = ("security-group-for-inbound-nfs-{}", "security-group-for-outbound-nfs-{}")


class OutOfTime(Exception):
    """A deletion still running when the Lambda must answer: deleting the stack again finishes it."""


def _gone(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return code in ("ResourceNotFound", "ResourceNotFoundException", "InvalidGroup.NotFound") or "does not exist" in message \
        or "Could not find" in message


def _pages(call: Callable[..., dict], key: str, **kwargs: Any) -> list[dict]:
    items, token = [], None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


class Teardown:
    """The steps of the module docstring, against a SageMaker and an EC2 client, within ``seconds_left()``."""

    def __init__(self, sagemaker: Any, ec2: Any, domain_id: str, seconds_left: Callable[[], float],
                 sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = print) -> None:
        self.sagemaker, self.ec2, self.domain_id = sagemaker, ec2, domain_id
        self.seconds_left, self.sleep, self.log = seconds_left, sleep, log

    def run(self) -> None:
        self.delete_apps()
        self.delete_spaces()
        self.delete_profiles()
        self.delete_domain()
        self.delete_nfs_security_groups()

    def wait(self, what: str, done: Callable[[], bool]) -> None:
        while not done():
            if self.seconds_left() < MARGIN_SECONDS + POLL_SECONDS:
                raise OutOfTime(f"{what}: still deleting when the function had to answer; delete the stack again to finish")
            self.sleep(POLL_SECONDS)

    def apps(self) -> list[dict]:
        return _pages(self.sagemaker.list_apps, "Apps", DomainIdEquals=self.domain_id)

    def delete_apps(self) -> None:
        for app in self.apps():
            if app.get("Status") in (*APP_DONE, "Deleting"):
                continue
            owner = {"SpaceName": app["SpaceName"]} if app.get("SpaceName") else {"UserProfileName": app["UserProfileName"]}
            self.log(f"deleting app {app['AppType']}/{app['AppName']} of {next(iter(owner.values()))}")
            try:
                self.sagemaker.delete_app(DomainId=self.domain_id, AppType=app["AppType"], AppName=app["AppName"], **owner)
            except ClientError as error:
                if not _gone(error):
                    raise
        self.wait("apps", lambda: all(app.get("Status") in APP_DONE for app in self.apps()))

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

    def domain_exists(self) -> bool:
        try:
            self.sagemaker.describe_domain(DomainId=self.domain_id)
        except ClientError as error:
            if _gone(error):
                return False
            raise
        return True

    def delete_domain(self) -> None:
        if not self.domain_exists():
            return
        self.log(f"deleting domain {self.domain_id} and its home EFS volume")
        self._delete(lambda: self.sagemaker.delete_domain(DomainId=self.domain_id, RetentionPolicy={"HomeEfsFileSystem": "Delete"}))
        self.wait("domain", lambda: not self.domain_exists())

    def delete_nfs_security_groups(self) -> None:
        names = [name.format(self.domain_id) for name in NFS_GROUPS]
        groups = self.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": names}])["SecurityGroups"]
        # Each group's rules name the other: no group can go while a rule refers to it.
        for group in groups:
            if group.get("IpPermissions"):
                self.ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
            if group.get("IpPermissionsEgress"):
                self.ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
        for group in groups:
            self.log(f"deleting security group {group['GroupName']} ({group['GroupId']})")
            self._delete(lambda group_id=group["GroupId"]: self.ec2.delete_security_group(GroupId=group_id))

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


def handler(event: dict, context: Any) -> None:
    try:
        if event["RequestType"] == "Delete":
            Teardown(boto3.client("sagemaker"), boto3.client("ec2"), event["ResourceProperties"]["DomainId"],
                     lambda: context.get_remaining_time_in_millis() / 1000).run()
    except Exception as error:  # noqa: BLE001 - every failure is CloudFormation's to report, in one line
        print(f"teardown failed: {error}")
        respond(event, "FAILED", f"{type(error).__name__}: {error}")
        return
    respond(event, "SUCCESS")
