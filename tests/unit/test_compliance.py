"""Compliance: cdk-nag on every stage, cfn-lint on every template, acknowledgments with reasons."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from config import load_environment
from stacks.shared.compliance import acknowledge, add_compliance_checks
from tests.helpers.assembly import cdk_context
from tests.helpers.configs import ENVIRONMENTS, expected_stack_count
from tests.helpers.paths import CONFIG_DIR, ROOT


def test_every_stage_synthesizes_with_zero_unacknowledged_findings(assembly):
    # The session synth ran both packs on every stage; a finding would have failed it.
    report = assembly.outdir / "validation-report.json"
    if report.exists():
        for plugin in json.loads(report.read_text())["pluginReports"]:
            assert plugin["conclusion"] == "success", plugin["pluginName"]
    for env in ENVIRONMENTS:
        assert (assembly.outdir / f"assembly-{env}" / "manifest.json").exists()


def test_checks_reach_stacks_inside_a_stage(tmp_path):
    """A non-compliant bucket inside a stage must fail the synth: proves the packs are wired per stage."""
    app = cdk.App(context=cdk_context(), outdir=str(tmp_path))
    stage = cdk.Stage(app, "probe", env=cdk.Environment(account="123456789012", region="us-east-1"))
    stack = cdk.Stack(stage, "Probe")
    s3.Bucket(stack, "Plain")
    add_compliance_checks(stage)
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10", "NIST.800.53.R5-S3BucketLoggingEnabled"} <= rules


def test_acknowledgment_needs_a_specific_reason(tmp_path):
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "S")
    with pytest.raises(ValueError, match="needs a specific reason"):
        acknowledge(stack, "not needed", "AwsSolutions-S1")


def test_cfn_lint_has_no_errors_or_warnings(assembly):
    templates = sorted(str(p) for p in Path(assembly.outdir).glob("assembly-*/*.template.json"))
    assert len(templates) == expected_stack_count()
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", "--", *templates], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_iam_wildcard_without_a_reason_is_refused(tmp_path):
    from stacks.foundation.execution_role import SageMakerExecutionRole

    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "S", env=cdk.Environment(account="123456789012", region="us-east-1"))
    role = SageMakerExecutionRole(stack, "R", description="probe")
    with pytest.raises(ValueError, match=r"statement Probe has wildcards \['Resource::arn:aws:s3:::b/\*'\] but no wildcard_reason"):
        role.allow("Probe", ["s3:GetObject"], ["arn:aws:s3:::b/*"])
    role.allow("Scoped", ["s3:GetObject"], ["arn:aws:s3:::b/key"])  # no wildcard, no reason needed


def test_cdk_synth_fails_on_an_unacknowledged_finding_and_chosen_packs_check_only_their_environments(tmp_path):
    """Run as the CDK CLI 2.1148 runs it (CDK_OUTDIR, and CDK_CONTEXT_JSON with
    @aws-cdk/core:failSynthOnValidationErrors false: the CLI takes the reporting over), aws-cdk-lib does not
    raise on failed validation, and `cdk synth` reported success with 80 findings. app.py reads the report. Here every acknowledgment
    is disabled: the app exits 1 naming each finding, NIST's in every environment, PCI DSS's (chosen by
    prod's config only) in prod only."""
    import os

    script = (
        "import sys, aws_cdk, app, stacks.shared.compliance as c; "
        "c.Acknowledgment = lambda id, reason: aws_cdk.Acknowledgment(id='disabled-' + id, reason=reason); "
        "sys.exit(app.main())"
    )
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"),
           "CDK_CONTEXT_JSON": json.dumps({**cdk_context(), "config_dir": str(CONFIG_DIR),
                                           "@aws-cdk/core:failSynthOnValidationErrors": False})}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("compliance: ")]
    assert lines[-1].startswith("compliance: ") and "unacknowledged finding(s); the full report is" in lines[-1]
    findings = [line.split(": ", 2)[1:] for line in lines[:-1]]
    envs_by_pack: dict[str, set[str]] = {}
    for pack, where in findings:
        envs_by_pack.setdefault(pack, set()).add(where.split(" at ")[1].split("/")[0])
    chosen = {env: load_environment(CONFIG_DIR / f"{env}.yaml").compliance.packs for env in ENVIRONMENTS}
    assert envs_by_pack["NIST.800.53.R5"] == set(ENVIRONMENTS)
    assert envs_by_pack["PCI.DSS.321"] == {env for env, packs in chosen.items() if "pci-dss-3.2.1" in packs} == {"prod"}
