"""Lifecycle scripts of notebook instances and of Studio JupyterLab spaces, rendered from the real files next to this module.

No CDK imports: the stacks put the rendered text into
AWS::SageMaker::NotebookInstanceLifecycleConfig (base64), and tests can render and run it.
Rendering is deterministic, so an unchanged config synthesizes an unchanged template.
"""

from __future__ import annotations

import base64
import gzip
import re
import shlex
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

from naming import NOTEBOOKS_PREFIX

#: SageMaker's limit per lifecycle script. It applies to the base64-encoded Content,
#: so the plain script may use only about three quarters of it.
MAX_SCRIPT_CHARS = 16384

_HERE = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")


def _read(name: str) -> str:
    # newline="" keeps the bytes exact, so the embedded autostop.py equals the file.
    with open(_HERE / name, encoding="utf-8", newline="") as handle:
        return handle.read()


def _section(script: str, name: str, *, keep: bool) -> str:
    pattern = re.compile(rf"^# >>> {name}\n.*?^# <<< {name}\n", re.M | re.S)
    if len(pattern.findall(script)) != 1:
        raise ValueError(f"lifecycle template: expected one '{name}' section")
    return script if keep else pattern.sub("", script)


def _fill(script: str, values: dict[str, str]) -> str:
    # One pass, so placeholder-like text inside a value is never substituted again.
    found = set(_PLACEHOLDER.findall(script))
    if found != set(values):
        raise ValueError(f"lifecycle template placeholders {sorted(found)} do not match {sorted(values)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], script)


def _checked(name: str, script: str) -> str:
    size = len(base64.b64encode(script.encode("utf-8")))
    if size > MAX_SCRIPT_CHARS:
        raise ValueError(
            f"{name} is {size} characters base64-encoded; SageMaker allows at most {MAX_SCRIPT_CHARS} "
            "(configure fewer or shorter packages)"
        )
    return script


def render_on_create() -> str:
    """The OnCreate script: lays out the persistent volume once."""
    return _checked("on_create.sh", _read("on_create.sh"))


@dataclass(frozen=True)
class SdkDefaults:
    """What jobs started from a notebook with the SageMaker Python SDK must use (training, tuning through the estimator,
    and processing: the notebooks role creates no models or transform jobs), as the SDK's config file
    (its schema: sagemaker.core.config.config_schema). Values may be CDK tokens: the file is text in the template."""

    bucket: str
    role_arn: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    kms_key_arn: str

    def longest(self) -> SdkDefaults:
        """The same shape at the longest each value can resolve to, for the size check: a bucket name of 63, a
        role ARN with a 64-character name in the longest partition, subnet and group ids, a key ARN."""
        return replace(self, bucket="b" * 63, role_arn=f"arn:aws-us-gov:iam::{'1' * 12}:role/{'r' * 64}",
                       subnet_ids=tuple(f"subnet-{'0' * 17}" for _ in self.subnet_ids), security_group_id=f"sg-{'0' * 17}",
                       kms_key_arn=f"arn:aws-us-gov:kms:ap-southeast-2:{'1' * 12}:key/{'k' * 36}")

    def yaml(self) -> str:
        """Each value once (YAML anchors, which the SDK's safe_load reads): the file is inside a 16 KiB script."""
        subnets = ", ".join("'" + subnet + "'" for subnet in self.subnet_ids)
        vpc = f"{{SecurityGroupIds: ['{self.security_group_id}'], Subnets: [{subnets}]}}"
        return textwrap.dedent(f"""\
            SchemaVersion: '1.0'
            SageMaker:
              PythonSDK:
                Modules:
                  Session:
                    DefaultS3Bucket: '{self.bucket}'
                    DefaultS3ObjectKeyPrefix: {NOTEBOOKS_PREFIX}
              TrainingJob:
                RoleArn: &role '{self.role_arn}'
                VpcConfig: &vpc {vpc}
                OutputDataConfig: {{KmsKeyId: &key '{self.kms_key_arn}'}}
                EnableInterContainerTrafficEncryption: true
              ProcessingJob:
                RoleArn: *role
                NetworkConfig: {{VpcConfig: *vpc, EnableInterContainerTrafficEncryption: true}}
                ProcessingOutputConfig: {{KmsKeyId: *key}}""")


def render_on_start(*, idle_minutes: int, packages: list[str], sdk_defaults: SdkDefaults | None = None) -> str:
    """The OnStart script: background package install, the SageMaker SDK's defaults when given, and, unless
    idle_minutes is 0, auto-stop. The size check measures the defaults at their longest (they may be tokens)."""
    if sdk_defaults is not None:
        _checked("on_start.sh", _render_on_start(idle_minutes, packages, sdk_defaults.longest()))
    return _render_on_start(idle_minutes, packages, sdk_defaults)


def _render_on_start(idle_minutes: int, packages: list[str], sdk_defaults: SdkDefaults | None) -> str:
    if isinstance(idle_minutes, bool) or not isinstance(idle_minutes, int) or idle_minutes < 0:
        raise ValueError(f"idle_minutes must be an integer >= 0 (0 turns auto-stop off), got {idle_minutes!r}")
    if not all(isinstance(package, str) and package for package in packages):
        raise ValueError(f"packages must be non-empty strings, got {packages!r}")
    autostop = _read("autostop.py")

    script = _section(_read("on_start.sh"), "packages", keep=bool(packages))
    script = _section(script, "sdkdefaults", keep=sdk_defaults is not None)
    script = _section(script, "autostop", keep=idle_minutes > 0)
    values = {"IDLE_SECONDS": str(idle_minutes * 60)}
    if packages:
        values["PACKAGES"] = " ".join(shlex.quote(package) for package in packages)
    if sdk_defaults is not None:
        values["SDK_DEFAULTS"] = sdk_defaults.yaml()
    if idle_minutes > 0:
        # mtime 0: the same module gives the same bytes, so an unchanged config synthesizes an unchanged template.
        packed = base64.b64encode(gzip.compress(autostop.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")
        values["AUTOSTOP_PY"] = "\n".join(textwrap.wrap(packed, 76))
    return _checked("on_start.sh", _fill(script, values))


def render_jupyterlab_on_start(*, packages: list[str]) -> str:
    """The Studio JupyterLab lifecycle script of a team: installs its packages in the background at app start.
    The same MAX_SCRIPT_CHARS limit applies (StudioLifecycleConfigContent: base64, at most 16384 characters)."""
    if not all(isinstance(package, str) and package for package in packages):
        raise ValueError(f"packages must be non-empty strings, got {packages!r}")
    values = {"PACKAGES": " ".join(shlex.quote(package) for package in packages)}
    return _checked("jupyterlab_on_start.sh", _fill(_read("jupyterlab_on_start.sh"), values))
