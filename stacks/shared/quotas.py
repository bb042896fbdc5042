"""IAM's size quotas and CloudFormation's template size, checked on the synthesized templates before anything
deploys.

A model's pipeline, its jobs and its endpoint have roles of their own stacks, so models add nothing to a shared role
(of <env>-Roles); a Studio team's role names each member. IAM refuses a role whose inline policies add up
to more than 10,240 characters, a managed policy over 6,144, more than 10 managed policies on a role
(the default quota) and a trust policy over 2,048, all counted without white space ("IAM and AWS STS
quotas", docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). CloudFormation learns that
only when the stack that crosses the line deploys, after the stacks before it did. This reads the cloud
assembly `cdk synth` wrote, counts each role's policies across all of its environment's stacks (a policy
in a model's stack names the role through an import), and says which role would be refused.

Values that are references until deploy (an imported ARN, a generated function name) count at the
longest they can resolve to, so the estimate errs toward refusing: an account id is 12 characters, a
region 14 (ap-southeast-2), a generated name its service's maximum.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

#: IAM's quotas (docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
INLINE_POLICIES_PER_ROLE = 10_240
MANAGED_POLICY = 6_144
MANAGED_POLICIES_PER_ROLE = 10
TRUST_POLICY = 2_048
QUOTAS_PAGE = "docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"

#: CloudFormation's largest template, uploaded through S3 as CDK does ("CloudFormation quotas",
#: docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html: 1 MB).
TEMPLATE_BYTES = 1_048_576
CFN_QUOTAS_PAGE = "docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"

_PSEUDO = {"AWS::AccountId": 12, "AWS::Region": 14, "AWS::Partition": 10, "AWS::URLSuffix": 13, "AWS::NoValue": 0,
           "AWS::StackName": 128, "AWS::StackId": 160}
#: What Ref of a resource type resolves to, at its longest: a name or an id.
_REF = {"AWS::S3::Bucket": 63, "AWS::IAM::Role": 64, "AWS::Lambda::Function": 64, "AWS::EC2::SecurityGroup": 20,
        "AWS::EC2::Subnet": 24, "AWS::EC2::VPC": 21, "AWS::KMS::Key": 36, "AWS::Logs::LogGroup": 512,
        "AWS::SNS::Topic": 300, "AWS::SQS::Queue": 160, "AWS::SageMaker::Pipeline": 256}
#: An ARN's fixed part at its longest: arn:aws-us-gov:<service>:<region of 14>:<account of 12>: (no region or account
#: where the service's ARNs have none).
def _arn_prefix(service: str, regional: bool = True) -> int:
    return len(f"arn:aws-us-gov:{service}:") + (14 if regional else 0) + 1 + (12 if regional or service == "iam" else 0) + 1


#: Fn::GetAtt <resource>.Arn at its longest (a role's path is read from the template: see _Assembly.text).
_ARN = {"AWS::Lambda::Function": _arn_prefix("lambda") + len("function:") + 64,
        "AWS::KMS::Key": _arn_prefix("kms") + len("key/") + 36,
        "AWS::S3::Bucket": len("arn:aws-us-gov:s3:::") + 63,
        "AWS::Logs::LogGroup": _arn_prefix("logs") + len("log-group:") + 512 + len(":*"),
        "AWS::SNS::Topic": _arn_prefix("sns") + 256, "AWS::SQS::Queue": _arn_prefix("sqs") + 80}
_ROLE_ARN = _arn_prefix("iam", regional=False) + len("role") + 64  # + the role's path, "/" unless it sets one
#: Other attributes, at their longest: a Studio domain's id (d- and 12 characters), a security group's, a VPC's.
_ATTRIBUTE = {"DomainId": 14, "GroupId": 20, "VpcId": 21}
_UNKNOWN = 160  # any other reference: longer than most ARNs


class UnknownRole(ValueError):
    """A policy names its role in a way the check cannot follow: it says so rather than skip the policy."""


def _is_intrinsic(key: str) -> bool:
    return key == "Ref" or key.startswith("Fn::")


class _Assembly:
    """Every stack template under a cloud assembly directory, and the exports between them."""

    def __init__(self, outdir: Path) -> None:
        self.templates: dict[str, dict] = {}  # display name (dev/Roles) -> template
        self.template_bytes: dict[str, int] = {}  # the file CDK uploads, as written
        self._read(outdir)
        self.exports: dict[str, tuple[str, object]] = {}
        for name, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if isinstance(export, str):
                    self.exports[export] = (name, output.get("Value"))

    def _read(self, directory: Path) -> None:
        manifest = directory / "manifest.json"
        if not manifest.is_file():
            return
        for artifact in json.loads(manifest.read_text()).get("artifacts", {}).values():
            properties = artifact.get("properties", {})
            if artifact.get("type") == "aws:cloudformation:stack":
                name, path = artifact.get("displayName", properties["templateFile"]), directory / properties["templateFile"]
                self.templates[name] = json.loads(path.read_text())
                self.template_bytes[name] = path.stat().st_size
            elif artifact.get("type") == "cdk:cloud-assembly":
                self._read(directory / properties["directoryName"])

    # -- sizes ----------------------------------------------------------------------------------
    def size(self, value: object, stack: str) -> int:
        """Characters of a policy document as IAM counts them: JSON without white space, references resolved."""
        if isinstance(value, dict):
            if len(value) == 1 and _is_intrinsic(next(iter(value))):
                return 2 + self.text(value, stack)  # a string once resolved, in quotes
            return 2 + sum(len(json.dumps(k)) + 1 + self.size(v, stack) for k, v in value.items()) + max(len(value) - 1, 0)
        if isinstance(value, list):
            return 2 + sum(self.size(v, stack) for v in value) + max(len(value) - 1, 0)
        return len(json.dumps(value, ensure_ascii=False))

    def text(self, value: object, stack: str) -> int:
        """The longest a value can be once CloudFormation resolves it, as text."""
        if isinstance(value, str):
            return len(json.dumps(value, ensure_ascii=False)) - 2
        if isinstance(value, (int, float)):
            return len(str(value))
        if not isinstance(value, dict) or len(value) != 1:
            return _UNKNOWN
        (function, argument), = value.items()
        resources = self.templates[stack].get("Resources", {})
        if function == "Ref":
            if argument in _PSEUDO:
                return _PSEUDO[argument]
            return _REF.get(resources.get(argument, {}).get("Type"), 64)
        if function == "Fn::GetAtt":
            target, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self._attribute(resources.get(target, {}), attribute)
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list):
            delimiter, parts = argument
            return sum(self.text(part, stack) for part in parts) + len(delimiter) * max(len(parts) - 1, 0)
        if function == "Fn::ImportValue" and isinstance(argument, str) and argument in self.exports:
            producer, exported = self.exports[argument]
            return self.text(exported, producer)
        if function == "Fn::Sub":
            template, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            return self._substituted(template, variables, stack)
        if function == "Fn::Select" and isinstance(argument, list) and len(argument) == 2:
            return self.text(argument[1], stack)  # a part is no longer than the whole it was split from
        if function == "Fn::Split" and isinstance(argument, list) and len(argument) == 2:
            return self.text(argument[1], stack)
        return _UNKNOWN

    def _attribute(self, resource: dict, attribute: str) -> int:
        kind = str(resource.get("Type"))
        if attribute == "Arn" and kind == "AWS::IAM::Role":
            return _ROLE_ARN + len(resource.get("Properties", {}).get("Path", "/"))
        return _ARN.get(kind, _UNKNOWN) if attribute == "Arn" else _ATTRIBUTE.get(attribute, 64)

    def _substituted(self, template: str, variables: dict, stack: str) -> int:
        """Fn::Sub's text: each ${Name} its variable, a parameter, a resource's Ref or ${Resource.Attribute}."""
        resources = self.templates[stack].get("Resources", {})
        size = 0
        for literal, name in re.findall(r"([^$]*(?:\$(?!\{)[^$]*)*)(?:\$\{([^}]*)\})?", template):
            size += len(literal)
            if not name or name.startswith("!"):
                size += len(name) + 3 if name else 0  # ${!Literal} is written as ${Literal}
            elif name in variables:
                size += self.text(variables[name], stack)
            elif "." in name:
                target, attribute = name.split(".", 1)
                size += self._attribute(resources.get(target, {}), attribute)
            else:
                size += self.text({"Ref": name}, stack)
        return size

    # -- roles ----------------------------------------------------------------------------------
    def role_of(self, reference: object, stack: str) -> tuple[str, str] | None:
        """The (stack, logical id) of the role a policy's Roles entry names: a Ref, an import of one, the name or the
        name part of an imported ARN (Fn::Select of Fn::Split, as a role imported by ARN writes it), or a literal
        name of a role the app names. None for a role outside the app; UnknownRole for a shape it cannot follow."""
        if isinstance(reference, str):
            return self._named_role(reference)
        if not isinstance(reference, dict) or len(reference) != 1:
            raise UnknownRole(reference)
        (function, argument), = reference.items()
        if function == "Ref" and isinstance(argument, str):
            return (stack, argument) if self._is_role(stack, argument) else None
        if function == "Fn::ImportValue" and isinstance(argument, str) and argument in self.exports:
            producer, exported = self.exports[argument]
            return self.role_of(exported, producer)
        if function == "Fn::Select" and isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            split = argument[1].get("Fn::Split")
            if isinstance(split, list) and len(split) == 2:
                return self._role_of_arn(split[1], stack)
        if function == "Fn::GetAtt" and isinstance(argument, list) and self._is_role(stack, argument[0]):
            return (stack, argument[0])
        raise UnknownRole(reference)

    def _role_of_arn(self, arn: object, stack: str) -> tuple[str, str] | None:
        if isinstance(arn, dict) and isinstance(name := arn.get("Fn::ImportValue"), str) and name in self.exports:
            producer, exported = self.exports[name]
            return self._role_of_arn(exported, producer)
        if isinstance(arn, dict) and isinstance(target := arn.get("Fn::GetAtt"), list) and self._is_role(stack, target[0]):
            return (stack, target[0])
        if isinstance(arn, dict) and isinstance(select := arn.get("Fn::Select"), list) and len(select) == 2 and \
                isinstance(select[1], dict) and isinstance(split := select[1].get("Fn::Split"), list) and len(split) == 2:
            return self._role_of_arn(split[1], stack)  # an ARN's part, itself split from the ARN
        if isinstance(arn, str) and ":role/" in arn:
            return self._named_role(arn.rsplit("/", 1)[1])
        raise UnknownRole(arn)

    def _named_role(self, name: str) -> tuple[str, str] | None:
        for stack, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource.get("Type") == "AWS::IAM::Role" and resource.get("Properties", {}).get("RoleName") == name:
                    return (stack, logical_id)
        return None  # a role the app does not create: its other policies are not the app's to count

    def _is_role(self, stack: str, logical_id: str) -> bool:
        return self.templates[stack].get("Resources", {}).get(logical_id, {}).get("Type") == "AWS::IAM::Role"


def quota_problems(outdir: Path) -> list[str]:
    """One line per template CloudFormation, or role or policy IAM, would refuse, naming it, its size and the
    quota; [] when all fit."""
    assembly = _Assembly(outdir)
    inline: dict[tuple[str, str], list[tuple[str, int]]] = {}
    managed: dict[tuple[str, str], int] = {}
    problems = [f"{stack}: its template is {size:,} bytes; CloudFormation takes at most {TEMPLATE_BYTES:,} ({CFN_QUOTAS_PAGE}) "
                "(allowed: fewer or shorter tags, fewer availability zones, teams or models in that environment)"
                for stack, size in assembly.template_bytes.items() if size > TEMPLATE_BYTES]
    for stack, template in assembly.templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            kind, properties = resource.get("Type"), resource.get("Properties", {})
            if kind == "AWS::IAM::Role":
                role = (stack, logical_id)
                for policy in properties.get("Policies", []):
                    inline.setdefault(role, []).append((stack, assembly.size(policy.get("PolicyDocument"), stack)))
                managed[role] = managed.get(role, 0) + len(properties.get("ManagedPolicyArns", []))
                trust = assembly.size(properties.get("AssumeRolePolicyDocument"), stack)
                if trust > TRUST_POLICY:
                    problems.append(f"{stack}: role {logical_id}'s trust policy would be {trust:,} characters; IAM allows "
                                    f"{TRUST_POLICY:,} ({QUOTAS_PAGE})")
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                size = assembly.size(properties.get("PolicyDocument"), stack)
                roles = []
                for reference in properties.get("Roles", []):
                    try:
                        if named := assembly.role_of(reference, stack):
                            roles.append(named)
                    except UnknownRole:
                        problems.append(f"{stack}: policy {logical_id} names a role as {json.dumps(reference)[:120]}, which the "
                                        "quota check cannot follow to its role (allowed: a Ref, an import, a role name or ARN)")
                if kind == "AWS::IAM::ManagedPolicy":
                    for named in roles:
                        managed[named] = managed.get(named, 0) + 1
                    if size > MANAGED_POLICY:
                        problems.append(f"{stack}: managed policy {logical_id} would be {size:,} characters; IAM allows "
                                        f"{MANAGED_POLICY:,} a managed policy ({QUOTAS_PAGE}); {_remedy(roles)}")
                    continue
                for named in roles:
                    inline.setdefault(named, []).append((stack, size))
    for (stack, logical_id), policies in sorted(inline.items()):
        total = sum(size for _, size in policies)
        if total > INLINE_POLICIES_PER_ROLE:
            elsewhere = sum(1 for s, _ in policies if s != stack)
            spread = f" ({len(policies)} policies, {elsewhere} of them in other stacks of its environment)" if elsewhere else ""
            problems.append(f"{stack}: role {logical_id}'s inline policies would add up to {total:,} characters{spread}; "
                            f"IAM allows {INLINE_POLICIES_PER_ROLE:,} a role ({QUOTAS_PAGE}); {_remedy([(stack, logical_id)])}")
    for (stack, logical_id), count in sorted(managed.items()):
        if count > MANAGED_POLICIES_PER_ROLE:
            problems.append(f"{stack}: role {logical_id} would have {count} managed policies; IAM allows "
                            f"{MANAGED_POLICIES_PER_ROLE} a role by default ({QUOTAS_PAGE}); {_remedy([(stack, logical_id)])}")
    return problems


def _remedy(roles: list[tuple[str, str]]) -> str:
    if any(stack.endswith("/Studio") for stack, _ in roles):
        return "allowed: fewer members or models for that Studio team (split it into two teams)"
    return "allowed: fewer models in that environment (serve or train the rest from another environment)"
