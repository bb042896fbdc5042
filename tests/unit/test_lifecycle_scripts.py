"""The rendered lifecycle scripts parse, fit SageMaker's limit, and do what they claim when run.

Sections are run with bash against fake sudo/systemctl/python in a temp dir, so nothing
touches this machine's users, systemd units or /usr/local. The scripts target Amazon Linux
2023 notebook platforms, which have systemd and no cron.
"""

from __future__ import annotations

import base64
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import notebook_lifecycle
from notebook_lifecycle import MAX_SCRIPT_CHARS, SdkDefaults, render_on_create, render_on_start

AUTOSTOP_SOURCE = (Path(notebook_lifecycle.__file__).parent / "autostop.py").read_bytes()
PACKAGES = ["xgboost==3.4.1", "pandas[excel]>=2,<3", "it's; rm -rf / $(id)"]

FAKE_SUDO = """#!/bin/bash
printf '%s\\n' "$*" >>"$SUDO_LOG"
while [[ $1 == -* ]]; do [[ $1 == -u ]] && shift; shift; done
exec "$@"
"""
FAKE_SYSTEMCTL = """#!/bin/bash
printf '%s\\n' "$*" >>"$SYSTEMCTL_LOG"
"""
FAKE_PYTHON = """#!/bin/bash
printf '%s\\0' "$@"
"""


@pytest.fixture
def fakes(tmp_path):
    """A bin dir with fake sudo, systemctl and python, and the env that points at it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"sudo": FAKE_SUDO, "systemctl": FAKE_SYSTEMCTL, "python": FAKE_PYTHON}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "SUDO_LOG": str(tmp_path / "sudo.log"),
        "SYSTEMCTL_LOG": str(tmp_path / "systemctl.log"),
    }
    return bin_dir, env


def bash(script: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    path = tmp_path / "script.sh"
    path.write_text(script)
    return subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=10, check=False)


def section(script: str, name: str) -> str:
    (match,) = re.findall(rf"^# >>> {name}\n.*?^# <<< {name}\n", script, re.M | re.S)
    return match


def run_section(script: str, name: str, tmp_path: Path, env: dict[str, str], **variables: str) -> None:
    """Run one marked section of a rendered script, with its variables set, and wait for its jobs."""
    assignments = "".join(f"{key}={shlex.quote(value)}\n" for key, value in variables.items())
    result = bash(f"set -euo pipefail\n{assignments}{section(script, name)}wait\n", tmp_path, env)
    assert result.returncode == 0, result.stderr


def idle_seconds_line(script: str) -> str:
    (line,) = re.findall(r"^IDLE_SECONDS=.*$", script, re.M)
    return line.split("=", 1)[1]


VARIANTS = {
    "on_create": render_on_create,
    "on_start": lambda: render_on_start(idle_minutes=60, packages=PACKAGES),
    "on_start-no-autostop": lambda: render_on_start(idle_minutes=0, packages=PACKAGES),
    "on_start-bare": lambda: render_on_start(idle_minutes=0, packages=[]),
    "on_start-week": lambda: render_on_start(idle_minutes=10080, packages=[]),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_scripts_parse_fit_and_are_complete(variant):
    script = VARIANTS[variant]()
    checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=10, check=False)
    assert checked.returncode == 0, checked.stderr
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail\n" in script
    assert len(base64.b64encode(script.encode())) <= MAX_SCRIPT_CHARS
    assert not re.search(r"@[A-Z_]+@", script), "unfilled placeholder"


def test_rendering_is_deterministic():
    assert render_on_start(idle_minutes=45, packages=PACKAGES) == render_on_start(idle_minutes=45, packages=PACKAGES)
    assert render_on_create() == render_on_create()


def test_a_realistic_package_list_fits():
    render_on_start(idle_minutes=60, packages=[f"some-package-{i}==1.22.333" for i in range(40)])


def test_over_long_render_raises_one_line_error():
    with pytest.raises(ValueError, match=str(MAX_SCRIPT_CHARS)) as error:
        render_on_start(idle_minutes=60, packages=[f"package-{i}==1.0.0" for i in range(1000)])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("idle_minutes", [-1, True, "60", 1.5])
def test_bad_idle_minutes_is_rejected(idle_minutes):
    with pytest.raises(ValueError, match="idle_minutes"):
        render_on_start(idle_minutes=idle_minutes, packages=[])


def test_packages_install_in_the_background_as_ec2_user(fakes, tmp_path):
    _, env = fakes
    script = render_on_start(idle_minutes=0, packages=PACKAGES)
    for package in PACKAGES:
        assert shlex.quote(package) in script
    # The install command (continuation lines joined) is nohup'd and backgrounded.
    (command,) = [line for line in script.replace("\\\n", " ").splitlines() if line.startswith("nohup ")]
    assert command.rstrip().endswith("&") and "sudo -u ec2-user" in command

    log_dir = tmp_path / "volume" / ".lifecycle"
    run_section(script, "packages", tmp_path, env, LOG_DIR=str(log_dir), USER_PYTHON=str(fakes[0] / "python"))
    argv = (log_dir / "pip-install.log").read_text().split("\0")[:-1]
    assert argv == ["-m", "pip", "install", "--no-input", "--disable-pip-version-check", *PACKAGES]
    assert (tmp_path / "sudo.log").read_text().startswith("-u ec2-user -H bash -c ")


def test_autostop_section_embeds_the_module_and_runs_it_from_a_systemd_timer(fakes, tmp_path):
    """Amazon Linux 2023 has no cron (AWS: notebook instances on AL2023): the idle check is a systemd
    service run every 5 minutes by a timer, as ec2-user, with its output appended to the log."""
    _, env = fakes
    target = tmp_path / "sagemaker-autostop.py"
    units = tmp_path / "systemd"
    units.mkdir()
    paths = {"AUTOSTOP_PATH": str(target), "SYSTEM_PYTHON": sys.executable, "AUTOSTOP_LOG": "/var/log/autostop.log",
             "SYSTEMD_DIR": str(units)}

    def start(idle_minutes: int) -> None:
        script = render_on_start(idle_minutes=idle_minutes, packages=[])
        run_section(script, "autostop", tmp_path, env, IDLE_SECONDS=idle_seconds_line(script), **paths)

    start(90)
    assert target.read_bytes() == AUTOSTOP_SOURCE
    start(30)  # a changed threshold replaces the unit, it is not added beside it
    assert sorted(p.name for p in units.iterdir()) == ["sagemaker-autostop.service", "sagemaker-autostop.timer"]
    service = (units / "sagemaker-autostop.service").read_text().splitlines()
    assert "User=ec2-user" in service and "Type=oneshot" in service
    assert [line for line in service if line.startswith("ExecStart=")] == [
        f"ExecStart={sys.executable} {target} --idle-seconds 1800"]
    assert "StandardOutput=append:/var/log/autostop.log" in service and "StandardError=append:/var/log/autostop.log" in service
    timer = (units / "sagemaker-autostop.timer").read_text().splitlines()
    assert "OnUnitActiveSec=5min" in timer and "WantedBy=timers.target" in timer
    calls = (tmp_path / "systemctl.log").read_text().splitlines()
    assert calls == ["daemon-reload", "enable sagemaker-autostop.timer", "restart sagemaker-autostop.timer"] * 2


def test_autostop_uses_the_jupyter_system_python_and_a_root_owned_path():
    script = render_on_start(idle_minutes=60, packages=[])
    assert idle_seconds_line(script) == "3600"
    assert "SYSTEM_PYTHON=/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python\n" in script
    assert "AUTOSTOP_PATH=/usr/local/sbin/sagemaker-autostop.py\n" in script


def test_idle_minutes_zero_installs_no_timer_and_no_module():
    script = render_on_start(idle_minutes=0, packages=PACKAGES)
    assert idle_seconds_line(script) == "0"
    assert "systemctl" not in script and "AUTOSTOP_PY" not in script and "def decide" not in script


def test_no_script_relies_on_cron_which_amazon_linux_2023_lacks():
    for render in VARIANTS.values():
        assert "crontab" not in render() and not re.search(r"^\S+ \S+ \S+ \S+ \S+ .*sudo", render(), re.M)


def test_no_packages_means_no_install():
    script = render_on_start(idle_minutes=60, packages=[])
    assert "nohup" not in script and "pip install" not in script


def test_on_create_prepares_the_volume_as_ec2_user_and_keeps_user_edits(fakes, tmp_path):
    bin_dir, env = fakes
    home = tmp_path / "SageMaker"
    home.mkdir()
    script = render_on_create()
    for original, test_value in {
        "SAGEMAKER_HOME=/home/ec2-user/SageMaker\n": f"SAGEMAKER_HOME={home}\n",
        "export PATH=": f"export PATH={bin_dir}:",
    }.items():
        assert script.count(original) == 1
        script = script.replace(original, test_value)

    result = bash(script, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert all((home / name).is_dir() for name in ("data", "notebooks", ".lifecycle"))
    assert "only storage that survives" in (home / "README.md").read_text()
    assert (tmp_path / "sudo.log").read_text().startswith("-u ec2-user -H bash -s ")

    (home / "README.md").write_text("mine\n")
    assert bash(script, tmp_path, env).returncode == 0
    assert (home / "README.md").read_text() == "mine\n"


SDK_DEFAULTS = SdkDefaults(
    bucket="dev-model-artifacts-123456789012", role_arn="arn:aws:iam::123456789012:role/dev-Roles-ExperimentsRole6B8A3F2C-AbC",
    subnet_ids=("subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"), security_group_id="sg-0123456789abcdef0",
    kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
)


def test_the_sdk_defaults_file_is_what_the_sagemaker_sdk_reads_for_jobs_started_here(fakes, tmp_path):
    """The on-start script writes the SageMaker Python SDK's admin config, and the SDK itself (sagemaker-core, the
    official package: its loader, schema validation and resolver) reads from it the platform's VPC, experiments role,
    bucket and key for a training job and a processing job, the values the notebooks role requires (it creates no
    models and no transform jobs, so nothing is set for them)."""
    from sagemaker.core.common_utils import resolve_value_from_config
    from sagemaker.core.config import config as sdk_config
    from sagemaker.core.config import config_schema as paths

    _, env = fakes
    script = render_on_start(idle_minutes=60, packages=[], sdk_defaults=SDK_DEFAULTS)
    assert sdk_config._DEFAULT_ADMIN_CONFIG_FILE_PATH == "/etc/xdg/sagemaker/config.yaml"  # where the SDK looks (Linux)
    assert section(script, "sdkdefaults").count("/etc/xdg/sagemaker") == 4
    target = tmp_path / "xdg"
    body = section(script, "sdkdefaults").replace("/etc/xdg/sagemaker", str(target))
    result = bash(f"set -euo pipefail\n{body}", tmp_path, env)
    assert result.returncode == 0, result.stderr
    loaded = sdk_config.load_sagemaker_config(additional_config_paths=[str(target / "config.yaml")])  # validates the schema
    vpc = {"SecurityGroupIds": [SDK_DEFAULTS.security_group_id], "Subnets": list(SDK_DEFAULTS.subnet_ids)}
    expected = {
        paths.TRAINING_JOB_ROLE_ARN_PATH: SDK_DEFAULTS.role_arn, paths.TRAINING_JOB_VPC_CONFIG_PATH: vpc,
        paths.TRAINING_JOB_KMS_KEY_ID_PATH: SDK_DEFAULTS.kms_key_arn, paths.TRAINING_JOB_INTER_CONTAINER_ENCRYPTION_PATH: True,
        paths.PROCESSING_JOB_ROLE_ARN_PATH: SDK_DEFAULTS.role_arn,
        paths.PROCESSING_JOB_NETWORK_CONFIG_PATH: {"VpcConfig": vpc, "EnableInterContainerTrafficEncryption": True},
        paths.PROCESSING_OUTPUT_CONFIG_PATH: {"KmsKeyId": SDK_DEFAULTS.kms_key_arn},
        paths.SESSION_DEFAULT_S3_BUCKET_PATH: SDK_DEFAULTS.bucket, paths.SESSION_DEFAULT_S3_OBJECT_KEY_PREFIX_PATH: "notebooks",
    }
    for path, value in expected.items():
        assert resolve_value_from_config(config_path=path, sagemaker_config=loaded) == value, path
    for path in (paths.MODEL_EXECUTION_ROLE_ARN_PATH, paths.TRANSFORM_OUTPUT_KMS_KEY_ID_PATH):
        assert resolve_value_from_config(config_path=path, sagemaker_config=loaded) is None, path
    # A value the caller names still wins over the defaults.
    assert resolve_value_from_config("arn:aws:iam::123456789012:role/other", paths.TRAINING_JOB_ROLE_ARN_PATH,
                                     sagemaker_config=loaded) == "arn:aws:iam::123456789012:role/other"


def test_the_sdk_defaults_at_their_longest_still_fit_beside_packages_and_autostop():
    """The values are CloudFormation references at synth: the size check measures them at the longest they can
    resolve to, so a script that passes at synth fits at deploy."""
    six_zones = SdkDefaults(bucket="b", role_arn="r", subnet_ids=tuple("abcdef"), security_group_id="g", kms_key_arn="k")
    longest = render_on_start(idle_minutes=60, packages=[], sdk_defaults=six_zones.longest())
    assert len(base64.b64encode(longest.encode())) <= MAX_SCRIPT_CHARS
    with pytest.raises(ValueError, match="on_start.sh is .* characters base64-encoded"):
        render_on_start(idle_minutes=60, packages=[f"package-{i}==1.0.0" for i in range(200)], sdk_defaults=six_zones)
    render_on_start(idle_minutes=60, packages=[f"package-{i}==1.0.0" for i in range(200)])  # fits without the defaults


def test_the_autostop_module_is_embedded_compressed_and_unpacks_to_the_file():
    script = render_on_start(idle_minutes=60, packages=[])
    assert "def decide" not in script and "base64 -d <<'AUTOSTOP_PY' | gzip -dc >\"$AUTOSTOP_PATH\"" in script
    assert render_on_start(idle_minutes=60, packages=[]) == script  # gzip without a timestamp: deterministic
