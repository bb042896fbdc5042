"""IAM requests simulated against the synthesized policies with @cloud-copilot/iam-simulate (tools/iam_simulate.cjs).

The templates are resolved with the local runner's intrinsic resolver (local/cloud_assembly.Resolver) over
made-up physical IDs, as a deploy would assign them: every Ref, GetAtt, Join, Sub and ImportValue becomes a
concrete ARN, so the simulator sees the policies as AWS would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cloud_assembly import Resolver, StackTemplate
from tests.helpers.assembly import Assembly
from tests.helpers.paths import ROOT

NODE = Path(sys.executable).parent / "node"  # the venv's pinned Node


class _Resolver(Resolver):
    """The local runner's resolver, answering every attribute a policy may name with a made-up, well-formed value."""

    def get_att(self, logical: str, attribute: str) -> str:
        try:
            return super().get_att(logical, attribute)
        except Exception:  # noqa: BLE001 - an attribute the runner never needs: made up below
            resource = self.stack.template.get("Resources", {}).get(logical, {})
            kind, physical = resource.get("Type", "AWS::Unknown::Thing"), self.physical.get(logical, logical)
            service = kind.split("::")[1].lower()
            account, region = self.pseudo["AWS::AccountId"], self.pseudo["AWS::Region"]
            if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
                return f"arn:aws:logs:{region}:{account}:log-group:{physical}:*"
            if attribute == "Arn":
                return f"arn:aws:{service}:{region}:{account}:{physical}"
            return f"{physical}-{attribute}"


def _physical(stack: str, logical: str, resource: dict, account: str, region: str) -> str:
    props = resource.get("Properties", {})
    kind = resource["Type"]
    names = {"AWS::IAM::Role": "RoleName", "AWS::S3::Bucket": "BucketName", "AWS::Lambda::Function": "FunctionName"}
    if kind in names and isinstance(props.get(names[kind]), str):
        return str(props[names[kind]])
    if kind == "AWS::S3::Bucket":
        return f"{stack}-{logical}".lower()[:63]
    if kind == "AWS::SNS::Topic":
        return f"arn:aws:sns:{region}:{account}:{stack}-{logical}"
    if kind == "AWS::KMS::Key":
        return f"key-{stack}-{logical}".lower()
    if kind == "AWS::EC2::SecurityGroup":
        return f"sg-{logical.lower()}"
    if kind == "AWS::EC2::Subnet":
        return f"subnet-{logical.lower()}"
    return f"{stack}-{logical}"[:64]


@dataclass
class Environment:
    """One synthesized environment, resolved: its stacks' templates with every intrinsic replaced."""

    account: str
    region: str
    templates: dict[str, dict] = field(default_factory=dict)  # stack id -> resolved Resources

    @classmethod
    def of(cls, assembly: Assembly, env: str, account: str, region: str) -> Environment:
        stacks = {stack: StackTemplate(f"{env}-{stack}", assembly.template_json(env, stack), assembly.template_path(env, stack))
                  for stack in assembly.stack_names(env)}
        return cls.of_stacks(stacks, account, region)

    @classmethod
    def of_stacks(cls, stacks: dict[str, StackTemplate], account: str, region: str) -> Environment:
        """Any stacks deployed together in one account (a stage's, or the app-level Delivery stack)."""
        physical = {stack: {logical: _physical(t.stack_name, logical, r, account, region)
                            for logical, r in t.template.get("Resources", {}).items()} for stack, t in stacks.items()}
        exports: dict[str, str] = {}
        for _ in range(3):  # outputs may import what another stack exports
            for stack, template in stacks.items():
                resolver = _Resolver(template, physical=physical[stack], exports=exports, account=account, region=region)
                for output in template.template.get("Outputs", {}).values():
                    if "Export" in output:
                        try:
                            exports[resolver.resolve(output["Export"]["Name"])] = resolver.resolve(output["Value"])
                        except Exception:  # noqa: BLE001 - resolved on a later pass once its import is known
                            continue
        result = cls(account, region)
        for stack, template in stacks.items():
            resolver = _Resolver(template, physical=physical[stack], exports=exports, account=account, region=region)
            resolved = {}
            for logical, resource in template.template.get("Resources", {}).items():
                if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role", "AWS::KMS::Key",
                                        "AWS::S3::BucketPolicy", "AWS::Lambda::Function", "AWS::S3::Bucket",
                                        "AWS::SageMaker::Pipeline", "AWS::CodeBuild::Project"):
                    resolved[logical] = {"Type": resource["Type"], "Physical": physical[stack][logical],
                                         "Properties": resolver.resolve(resource.get("Properties", {}))}
            result.templates[stack] = resolved
        return result

    def role_arn(self, stack: str, logical_prefix: str) -> str:
        (name,) = [r["Physical"] for k, r in self.templates[stack].items()
                   if r["Type"] == "AWS::IAM::Role" and k.startswith(logical_prefix)]
        return f"arn:aws:iam::{self.account}:role/{name}"

    def identity_policies(self, role_arn: str) -> list[dict]:
        """Every policy document the environment attaches to the role: inline, attached and on the role itself."""
        name = role_arn.rsplit("/", 1)[1]
        policies = []
        for stack, resources in self.templates.items():
            for logical, resource in resources.items():
                props = resource["Properties"]
                if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and name in props.get("Roles", []):
                    policies.append({"name": f"{stack}/{logical}", "policy": props["PolicyDocument"]})
                if resource["Type"] == "AWS::IAM::Role" and resource["Physical"] == name:
                    policies += [{"name": f"{stack}/{logical}/{p['PolicyName']}", "policy": p["PolicyDocument"]}
                                 for p in props.get("Policies", [])]
        return policies

    def resource_policy(self, kind: str, arn: str) -> dict | None:
        """The key policy of a key, or the bucket policy of a bucket, by ARN."""
        for resources in self.templates.values():
            for resource in resources.values():
                props = resource["Properties"]
                if kind == "key" and resource["Type"] == "AWS::KMS::Key" and arn.endswith("/" + resource["Physical"]):
                    return dict(props["KeyPolicy"])
                if kind == "bucket" and resource["Type"] == "AWS::S3::BucketPolicy" and \
                        arn.split(":::")[1].split("/")[0] == props["Bucket"]:
                    return dict(props["PolicyDocument"])
        return None

    def physical(self, stack: str, logical_prefix: str, kind: str) -> str:
        (value,) = [r["Physical"] for k, r in self.templates[stack].items() if r["Type"] == kind and k.startswith(logical_prefix)]
        return str(value)


@dataclass(frozen=True)
class Call:
    """One AWS call a principal makes at run time, with the request context AWS would send."""

    what: str
    principal: str
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    resource_policy: dict | None = None


def simulate(env: Environment, calls: list[Call]) -> list[str]:
    """Each call's result: Allowed, ImplicitlyDenied or ExplicitlyDenied (a validation error fails the test).
    A call on a bucket or key of the environment is judged with its bucket or key policy too, and is made
    over TLS (aws:SecureTransport true) unless the call's context says otherwise."""
    def resource_policy(call: Call) -> dict | None:
        if call.resource_policy:
            return call.resource_policy
        if call.resource.startswith("arn:aws:s3:::"):
            return env.resource_policy("bucket", call.resource)
        if call.resource.startswith("arn:aws:kms:"):
            return env.resource_policy("key", call.resource)
        return None

    simulations = []
    for call in calls:
        policy = resource_policy(call)
        simulations.append({
            "identityPolicies": env.identity_policies(call.principal),
            "serviceControlPolicies": [], "resourceControlPolicies": [],
            **({"resourcePolicy": policy} if policy else {}),
            "request": {"action": call.action, "principal": call.principal,
                        "resource": {"accountId": env.account, "resource": call.resource},
                        "contextVariables": {"aws:SecureTransport": "true", **call.context}},
        })
    return run_simulations(simulations, [call.what for call in calls])


def expect(env: Environment, allowed: list[Call], denied: list[Call]) -> None:
    """The allowed calls are Allowed and the denied ones ImplicitlyDenied, in one simulator run; a failure names
    each call that went the other way."""
    results = simulate(env, [*allowed, *denied])
    wrong = [f"{call.what}: {call.action} on {call.resource} -> {result} (expected {expected})"
             for call, result, expected in zip([*allowed, *denied], results,
                                               ["Allowed"] * len(allowed) + ["ImplicitlyDenied"] * len(denied), strict=True)
             if result != expected]
    assert not wrong, "\n".join(wrong)


def run_simulations(simulations: list[dict], names: list[str]) -> list[str]:
    """iam-simulate's verdict on each simulation (its Simulation shape); a validation error fails the test."""
    out = subprocess.run([str(NODE), "tools/iam_simulate.cjs"], cwd=ROOT, input=json.dumps(simulations),
                         capture_output=True, text=True, timeout=120, check=True)
    results = json.loads(out.stdout)
    errors = [f"{name}: {r['errors']}" for name, r in zip(names, results, strict=True) if "errors" in r]
    assert not errors, "\n".join(errors)
    return [r["result"] for r in results]
