"""No test may reach AWS: endpoints point at a closed port, credentials are fake."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Nothing listens on port 9 (discard) here: any accidental AWS call fails fast.
CLOSED_ENDPOINT = "http://127.0.0.1:9"
OFFLINE_ENV = {
    "AWS_ENDPOINT_URL": CLOSED_ENDPOINT,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    # Built-in CloudFormation validation costs ~1 s a synth; cfn-lint runs on the assembly instead.
    "CDK_VALIDATION": "false",
}


def use_offline_environment() -> None:
    """Set OFFLINE_ENV (where the caller has not chosen otherwise) and the venv's Node for jsii."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)
    # jsii runs Node: use the venv's pinned Node 24 rather than the system's end-of-life Node 20.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
