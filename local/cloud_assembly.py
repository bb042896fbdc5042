"""Read a deployed stack's template from cdk.out and resolve its intrinsic functions.

The local pipeline runner starts from what `cdk synth` wrote, not from our Python objects:
the pipeline definition in the template is a Fn::Join of JSON text and deploy-time values
(bucket names, role ARNs, the gate's ARN). Those values are looked up in the emulator
where the stacks were deployed: the stack's resources, the account's exports, and the
pseudo parameters. Only the intrinsics CDK writes for these templates are understood; any
other one fails with its name, never silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.emulator import ACCOUNT


class AssemblyError(RuntimeError):
    """cdk.out lacks what was asked for, or a value cannot be resolved; one line."""


@dataclass(frozen=True)
class StackTemplate:
    """A stack's synthesized template as cdk.out holds it, found by the stack's deployed name."""

    stack_name: str
    template: dict
    path: Path

    def resources_of_type(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.template.get("Resources", {}).items() if v.get("Type") == resource_type}


def _stack_artifacts(cdk_out: Path) -> dict[str, Path]:
    """Every stack of the cloud assembly (stage stacks live in nested assemblies): name -> template file."""
    if not (cdk_out / "manifest.json").is_file():
        raise AssemblyError(f"{cdk_out} has no manifest.json; run `cdk synth` (or `make demo`) first")
    stacks: dict[str, Path] = {}
    for manifest_path in sorted(cdk_out.rglob("manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        for artifact in manifest.get("artifacts", {}).values():
            props = artifact.get("properties", {})
            if artifact.get("type") == "aws:cloudformation:stack" and props.get("stackName"):
                stacks[props["stackName"]] = manifest_path.parent / props["templateFile"]
    return stacks


def find_stack(cdk_out: Path, stack_name: str) -> StackTemplate:
    """The template of the stack deployed as ``stack_name``."""
    stacks = _stack_artifacts(cdk_out)
    if stack_name not in stacks:
        raise AssemblyError(f"stack {stack_name!r} is not in {cdk_out} (stacks there: {', '.join(sorted(stacks))})")
    return StackTemplate(stack_name, json.loads(stacks[stack_name].read_text()), stacks[stack_name])


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::ImportValue, Fn::Join, Fn::Select, Fn::Split and Fn::Sub
    against a deployed stack: ``physical`` maps logical ids to physical ids, ``exports`` the
    account's export names to values."""

    PSEUDO = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName", "AWS::StackId", "AWS::NoValue")

    def __init__(self, stack: StackTemplate, *, physical: dict[str, str], exports: dict[str, str], account: str, region: str) -> None:
        self.stack = stack
        self.physical = physical
        self.exports = exports
        self.pseudo = {
            "AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack.stack_name,
            # The stack's ID is its ARN; the unique part CloudFormation adds is made up here, as physical IDs are.
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack.stack_name}/00000000-0000-0000-0000-000000000000",
        }

    @classmethod
    def for_deployed(cls, stack: StackTemplate, emulator: Any) -> Resolver:
        cfn = emulator.client("cloudformation")
        physical: dict[str, str] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack.stack_name):
            for resource in page["StackResourceSummaries"]:
                physical[resource["LogicalResourceId"]] = resource.get("PhysicalResourceId", "")
        exports = {e["Name"]: e["Value"] for page in cfn.get_paginator("list_exports").paginate() for e in page["Exports"]}
        return cls(stack, physical=physical, exports=exports, account=ACCOUNT, region=emulator.region)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key.startswith("Fn::"):
                return self.function(key, arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.physical:
            return self.physical[name]
        if name in self.stack.template.get("Parameters", {}):
            raise AssemblyError(f"{self.stack.stack_name}: Ref to template parameter {name!r} is not resolvable locally")
        raise AssemblyError(f"{self.stack.stack_name}: Ref {name!r} names no deployed resource of the stack")

    def get_att(self, logical: str, attribute: str) -> str:
        resource = self.stack.template.get("Resources", {}).get(logical)
        if resource is None or logical not in self.physical:
            raise AssemblyError(f"{self.stack.stack_name}: Fn::GetAtt {logical}.{attribute} names no deployed resource")
        physical, kind = self.physical[logical], resource["Type"]
        account, region = self.pseudo["AWS::AccountId"], self.pseudo["AWS::Region"]
        arns = {
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{physical}",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{physical}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
            "AWS::KMS::Key": f"arn:aws:kms:{region}:{account}:key/{physical}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if attribute == "TopicArn" and kind == "AWS::SNS::Topic" or attribute == "GroupId" and kind == "AWS::EC2::SecurityGroup":
            return physical
        raise AssemblyError(f"{self.stack.stack_name}: Fn::GetAtt {logical}.{attribute} ({kind}) is not resolvable locally")

    def function(self, name: str, arg: Any) -> Any:
        if name == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(logical, self.resolve(attribute))
        if name == "Fn::ImportValue":
            export = self.resolve(arg)
            if export not in self.exports:
                raise AssemblyError(f"{self.stack.stack_name}: Fn::ImportValue {export!r}: no such export is deployed")
            return self.exports[export]
        if name == "Fn::Join":
            separator, values = arg
            return str(separator).join(str(self.resolve(v)) for v in self.resolve(values))
        if name == "Fn::Select":
            index, values = arg
            values = self.resolve(values)
            return values[int(self.resolve(index))]
        if name == "Fn::Split":
            separator, text = arg
            return str(self.resolve(text)).split(separator)
        if name == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else arg
            values = {k: str(self.resolve(v)) for k, v in variables.items()}
            return _substitute(template, values, self)
        raise AssemblyError(f"{self.stack.stack_name}: intrinsic {name} is not resolvable locally")


def _substitute(template: str, variables: dict[str, str], resolver: Resolver) -> str:
    out, rest = [], template
    while "${" in rest:
        before, _, after = rest.partition("${")
        name, _, rest = after.partition("}")
        out.append(before)
        if name.startswith("!"):
            out.append("${" + name[1:] + "}")
        elif name in variables:
            out.append(variables[name])
        elif "." in name:
            out.append(resolver.get_att(*name.split(".", 1)))
        else:
            out.append(resolver.ref(name))
    return "".join(out) + rest
