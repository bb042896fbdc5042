#!/usr/bin/env python3
"""CDK app: load and validate each environment's config, build one Stage per environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aws_cdk as cdk

from config import ConfigError, load_delivery, load_environments
from stacks.stage import PlatformStage

ROOT = Path(__file__).resolve().parent


#: Creation stack traces embed temporary paths in cdk.out; without them two synths are byte-identical.
DETERMINISTIC_CONTEXT = {"aws:cdk:disable-creation-stack-traces": True}


def new_app(**kwargs) -> cdk.App:
    context = {**DETERMINISTIC_CONTEXT, **kwargs.pop("context", {})}
    return cdk.App(stack_traces=False, context=context, **kwargs)


def build_app(app: cdk.App) -> cdk.App:
    config_dir = ROOT / (app.node.try_get_context("config_dir") or "config")
    environments = load_environments(config_dir, display_root=ROOT)
    delivery = load_delivery(config_dir, environments, display_root=ROOT)
    # The VPC construct checks configured zones against the account's zone list, which CDK would
    # otherwise look up in AWS at synth time. Config names the zones: answer from it, stay offline.
    zones: dict[str, set[str]] = {}
    for env_config in environments:
        key = f"availability-zones:account={env_config.account}:region={env_config.region}"
        zones.setdefault(key, set()).update(env_config.network.availability_zones)
    for key, names in zones.items():
        app.node.set_context(key, sorted(names))
    # Stages stay children of the app whether or not the pipeline deploys them: stack names, the
    # `cdk deploy 'dev/*'` selectors and the local emulator's deploys are the same either way.
    smoke_tested = {stage.environment for stage in delivery.stages if stage.smoke_test} if delivery else set()
    stages = {
        env_config.name: PlatformStage(
            app, env_config.name, env_config=env_config,
            smoke_test_account=delivery.account if delivery and env_config.name in smoke_tested else None,
        )
        for env_config in environments
    }
    if delivery:
        # Imported here: the pipeline's module costs synth time that environments alone do not need.
        from stacks.delivery.delivery_stack import DeliveryPipelineStack

        DeliveryPipelineStack(
            app,
            "Delivery",
            delivery=delivery,
            stages=[(stage, stages[stage.environment]) for stage in delivery.stages],
            env=cdk.Environment(account=delivery.account, region=delivery.region),
            description="Delivery pipeline: git -> synth and unit tests -> each environment in order",
        )
    return app


def main() -> int:
    app = new_app()
    try:
        build_app(app)
    except ConfigError as exc:
        # One line per problem, no traceback: each names file, field, value and what is allowed.
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 1
    for child in app.node.children:
        for notice in getattr(child, "notices", ()):
            print(notice, file=sys.stderr)
    report = Path(app.outdir) / "validation-report.json"
    report.unlink(missing_ok=True)  # a stale report must not pass or fail this synth
    app.synth()
    return max(failed_validation(report), exceeded_quotas(Path(app.outdir)))


def exceeded_quotas(outdir: Path) -> int:
    """1, with one line per role or policy, when IAM would refuse what the templates hold (stacks/shared/
    quotas.py): found here, before a deploy creates the stacks in front of the one that fails."""
    from stacks.shared.quotas import quota_problems

    problems = quota_problems(outdir)
    for problem in problems:
        print(f"quota: {problem}", file=sys.stderr)
    return 1 if problems else 0


def failed_validation(report: Path) -> int:
    """1, with one line per finding, when a validation plugin (cdk-nag's packs) failed.

    Run by the CDK CLI, the app does not raise on failed validation: aws-cdk-lib only sets the exit code
    of its own Node.js process (the jsii kernel), which a Python app's exit code never sees, so `cdk synth`
    would report success with unacknowledged findings. The report file it writes is the record."""
    if not report.is_file():
        return 0
    failed = [p for p in json.loads(report.read_text())["pluginReports"] if p.get("conclusion") == "failure"]
    for plugin in failed:
        for violation in plugin["violations"]:
            for construct in violation["violatingConstructs"]:
                print(f"compliance: {plugin['pluginName']}: {violation['ruleName']} at {construct['constructPath']}",
                      file=sys.stderr)
    if failed:
        print(f"compliance: {sum(len(p['violations']) for p in failed)} unacknowledged finding(s); the full report is "
              f"{report} (fix each, or acknowledge it next to its resource with the reason)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
