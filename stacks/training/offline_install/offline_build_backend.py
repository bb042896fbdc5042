"""A PEP 517 build backend that needs nothing from a package index (shipped beside the training code).

SageMaker's script-mode toolkit installs the code directory with `pip install .`; with no index (network
isolation) pip cannot install setuptools into an isolated build environment. This backend declares no build
requirements and builds a wheel of metadata only: the scripts run from the code directory, so the install
just has to succeed. Standard library only.
"""

import base64
import hashlib
import os
import zipfile

NAME, VERSION, TAG = "training_code", "1.0.0", "py3-none-any"


def _record(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):  # noqa: ARG001 - PEP 517's hook signature
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # noqa: ARG001 - PEP 517's hook signature
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: offline_build_backend\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode(),
    }
    lines = [_record(path, data) for path, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(lines) + "\n").encode()
    name = f"{NAME}-{VERSION}-{TAG}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name
