"""Removing a model from the catalog removes its stacks: `cdk deploy` never deletes a stack, so the
local deploy (local/deployment.py, what `make demo` runs) deletes the stage's deployed stacks that the
cloud assembly no longer declares, serving before training, and leaves every other stack alone."""

from __future__ import annotations

import json
from pathlib import Path

from local.deployment import prune_stage, stage_stack_names

#: A stack with one resource that needs nothing else, as a stand-in for a deployed model stack.
TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


def cloud_assembly(root: Path, stacks: list[str]) -> Path:
    """A cdk.out whose dev stage declares these stacks (a nested assembly, as CDK writes a Stage)."""
    stage = root / "assembly-dev"
    stage.mkdir(parents=True)
    artifacts = {name: {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{name}.template.json", "stackName": name}}
                 for name in stacks}
    for name in stacks:
        (stage / f"{name}.template.json").write_text(TEMPLATE)
    (stage / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    (root / "manifest.json").write_text(json.dumps({"artifacts": {"assembly-dev": {"type": "cdk:cloud-assembly"}}}))
    return root


def test_stacks_of_a_removed_model_are_deleted_serving_first_and_the_rest_kept(emulator, tmp_path, monkeypatch):
    cfn = emulator.client("cloudformation")
    kept = ["dev-Data", "dev-direct-marketing-TrainingPipeline"]
    removed = ["dev-churn-TrainingPipeline", "dev-churn-Serving"]
    for name in [*kept, *removed, "prod-churn-Serving"]:
        cfn.create_stack(StackName=name, TemplateBody=TEMPLATE)
    deleted: list[str] = []
    original, client = cfn.delete_stack, emulator.client
    monkeypatch.setattr(emulator, "client", lambda service: cfn if service == "cloudformation" else client(service))

    def delete_stack(**kwargs):
        deleted.append(kwargs["StackName"])
        return original(**kwargs)

    monkeypatch.setattr(cfn, "delete_stack", delete_stack)

    gone = prune_stage(emulator, "dev", cloud_assembly(tmp_path / "cdk.out", kept))

    assert gone == deleted == ["dev-churn-Serving", "dev-churn-TrainingPipeline"]  # the endpoint before its pipeline
    assert stage_stack_names(emulator, "dev") == sorted(kept)
    assert "prod-churn-Serving" in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]  # another stage: untouched
    assert prune_stage(emulator, "dev", tmp_path / "cdk.out") == []  # nothing left to remove
