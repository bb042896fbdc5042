"""SageMaker framework image URIs per region, from the table the SageMaker SDK maintains.

`sagemaker.core.image_uris.retrieve()` answers this offline, but importing it costs
~2.7 s (it loads every generated API shape) on every synth. Its answers come from JSON
files shipped in the `sagemaker-core` wheel, one registry account per region; this module
reads those same files without importing the package and builds the URI the same way
(`<account>.dkr.<ecr hostname from botocore>/<repository>:<version>`).
tests/unit/test_images.py checks it agrees with `retrieve()` for every region we allow.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import metadata

import botocore.loaders
import botocore.regions

#: The wheel whose image table we read; pinned in requirements.txt.
DISTRIBUTION = "sagemaker-core"
TABLE_DIR = "sagemaker/core/image_uri_config"


@cache
def _table(framework: str) -> dict:
    path = metadata.distribution(DISTRIBUTION).locate_file(f"{TABLE_DIR}/{framework}.json")
    return json.loads(path.read_text())


@cache
def _sagemaker_regions() -> tuple[str, ...]:
    """The regions an environment may name (config.environment's region check: SageMaker's, in botocore)."""
    import botocore.session

    return tuple(botocore.session.get_session().get_available_regions("sagemaker"))


@lru_cache(maxsize=1)
def _endpoint_resolver() -> botocore.regions.EndpointResolver:
    # Loading botocore's endpoints.json takes ~50 ms: once, not once per region.
    return botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))


@cache
def _ecr_hostname(region: str) -> str:
    endpoint = _endpoint_resolver().construct_endpoint("ecr", region)
    return endpoint["hostname"] if endpoint else f"ecr.{region}.amazonaws.com"


def xgboost_versions() -> tuple[str, ...]:
    """Framework versions of SageMaker's XGBoost container (e.g. '1.7-1', '3.0-5')."""
    return tuple(_table("xgboost")["training"]["versions"])


def xgboost_image(region: str, version: str) -> str:
    """The XGBoost framework container (training, processing and serving use one image)."""
    versions = _table("xgboost")["training"]["versions"]
    if version not in versions:
        raise ValueError(f"XGBoost framework version {version!r} is unknown (allowed: {', '.join(versions)})")
    entry = versions[version]
    return _uri(entry["registries"], entry["repository"], version, region, "XGBoost")


def debugger_rules_image(region: str) -> str:
    """The image that evaluates SageMaker Debugger's built-in rules."""
    entry = _table("debugger")["versions"]["latest"]
    return _uri(entry["registries"], entry["repository"], "latest", region, "Debugger rules")


def model_monitor_image(region: str) -> str:
    """Model Monitor's analyzer, which runs data-quality monitoring jobs. The SDK names it without
    a tag (the registry's default), and so do we."""
    entry = _table("model-monitor")["versions"][""]
    return _uri(entry["registries"], entry["repository"], None, region, "Model Monitor analyzer")


def _uri(registries: dict, repository: str, tag: str | None, region: str, what: str) -> str:
    if region not in registries:
        offered = sorted(set(registries) & set(_sagemaker_regions()))  # not the partitions the config cannot name
        raise ValueError(f"{what} images are not published in {region} (allowed: {', '.join(offered)})")
    uri = f"{registries[region]}.dkr.{_ecr_hostname(region)}/{repository}"
    return f"{uri}:{tag}" if tag else uri


def repository(uri: str) -> tuple[str, str, str]:
    """(registry account, region, repository) of an image URI as _uri builds it: what an IAM statement names to pull it,
    arn:<partition>:ecr:<region>:<account>:repository/<repository>."""
    host, _, path = uri.partition("/")
    account, dkr, ecr, region, *_ = host.split(".")
    if (dkr, ecr) != ("dkr", "ecr") or not account.isdigit() or not path:
        raise ValueError(f"{uri!r} is not an ECR image URI (allowed: <account>.dkr.ecr.<region>.<domain>/<repository>[:tag])")
    return account, region, path.split("@")[0].split(":")[0]
