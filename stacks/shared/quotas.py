"""IAM's size quotas and CloudFormation's template size, checked on the synthesized templates before anything
deploys.

Every model adds policies to its environment's shared roles (the jobs, pipelines and endpoints roles of
<env>-Roles), and a Studio team's role names each member. IAM refuses a role whose inline policies add up
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
#: Fn::GetAtt <resource>.Arn at its longest: arn:aws-us-gov:<service>:<region>:<account>:<resource part>.
_ARN = {"AWS::Lambda::Function": 27 + 14 + 12 + len("function:") + 64, "AWS::KMS::Key": 24 + 14 + 12 + len("key/") + 36,
        "AWS::IAM::Role": 26 + 12 + len("role/") + 64 + 512, "AWS::S3::Bucket": 26 + 63,
        "AWS::Logs::LogGroup": 25 + 14 + 12 + len("log-group:") + 512 + 2, "AWS::SNS::Topic": 24 + 14 + 12 + 256,
        "AWS::SQS::Queue": 24 + 14 + 12 + 80}
#: Other attributes, at their longest: a Studio domain's id (d- and 12 characters), a security group's, a VPC's.
_ATTRIBUTE = {"DomainId": 14, "GroupId": 20, "VpcId": 21}
_UNKNOWN = 160  # any other reference: longer than most ARNs


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
            kind = resources.get(target, {}).get("Type")
            return _ARN.get(kind, _UNKNOWN) if attribute == "Arn" else _ATTRIBUTE.get(attribute, 64)
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list):
            delimiter, parts = argument
            return sum(self.text(part, stack) for part in parts) + len(delimiter) * max(len(parts) - 1, 0)
        if function == "Fn::ImportValue" and isinstance(argument, str) and argument in self.exports:
            producer, exported = self.exports[argument]
            return self.text(exported, producer)
        if function == "Fn::Sub" and isinstance(argument, str):
            return len(argument) + 64 * argument.count("${")
        return _UNKNOWN

    # -- roles ----------------------------------------------------------------------------------
    def role_of(self, reference: object, stack: str) -> tuple[str, str] | None:
        """The (stack, logical id) of the role a policy's Roles entry names; None for a role outside the app."""
        if isinstance(reference, dict) and "Ref" in reference:
            return (stack, reference["Ref"]) if self._is_role(stack, reference["Ref"]) else None
        if isinstance(reference, dict) and isinstance(name := reference.get("Fn::ImportValue"), str) and name in self.exports:
            producer, exported = self.exports[name]
            return self.role_of(exported, producer)
        return None

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
                roles = [named for reference in properties.get("Roles", []) if (named := assembly.role_of(reference, stack))]
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
