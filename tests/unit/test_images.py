"""catalog/images.py agrees with the SageMaker SDK's own resolver, without importing it at synth."""

from __future__ import annotations

import pytest

from catalog.images import (
    debugger_rules_image,
    model_monitor_image,
    xgboost_image,
    xgboost_versions,
)
from config.environment import sagemaker_regions

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"]


@pytest.fixture(scope="module")
def image_uris():
    from sagemaker.core import (
        image_uris,  # 2.7 s to import: the reason catalog/images.py exists
    )

    return image_uris


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("version", ["1.7-1", "3.0-5"])
def test_xgboost_image_matches_the_sdk(image_uris, region, version):
    assert xgboost_image(region, version) == image_uris.retrieve("xgboost", region=region, version=version)


@pytest.mark.parametrize("region", REGIONS)
def test_debugger_image_matches_the_sdk(image_uris, region):
    assert debugger_rules_image(region) == image_uris.retrieve("debugger", region=region)


@pytest.mark.parametrize("region", REGIONS)
def test_model_monitor_image_matches_the_sdk(image_uris, region):
    if region.startswith("us-gov-"):  # the analyzer is not published there: both refuse
        with pytest.raises(ValueError):
            image_uris.retrieve("model-monitor", region=region)
        with pytest.raises(ValueError, match=f"Model Monitor analyzer images are not published in {region}"):
            model_monitor_image(region)
        return
    assert model_monitor_image(region) == image_uris.retrieve("model-monitor", region=region)


def test_regions_without_the_image_are_named_and_the_configured_ones_have_it():
    missing = []
    for region in sagemaker_regions():
        try:
            assert xgboost_image(region, "3.0-5").endswith("/sagemaker-xgboost:3.0-5")
        except ValueError as error:  # SageMaker serves the region, the XGBoost image is not published there
            assert f"not published in {region}" in str(error)
            missing.append(region)
    assert len(missing) < len(sagemaker_regions()) / 4
    assert not {"us-east-1", "eu-west-1"} & set(missing)


def test_unknown_version_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"XGBoost framework version '0.1' is unknown \(allowed: .*3\.0-5"):
        xgboost_image("us-east-1", "0.1")
    assert "3.0-5" in xgboost_versions()


def test_no_xgboost_image_this_project_can_name_runs_on_arm_or_a_k80():
    """Where the SDK serves XGBoost on Graviton at all, it is a separate inference_graviton image of 1.3-1 and 1.5-1 only
    (sagemaker-core's image_uri_config/xgboost.json); the images catalog/images.py names are x86. So every Graviton
    family the SDK knows (fw_utils.GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY) is refused, and so is every newer one in
    botocore's hosting enum that has a "g" after its generation."""
    import json
    from pathlib import Path

    import botocore.session
    import sagemaker.core
    from sagemaker.core.fw_utils import GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY

    from catalog.instance_types import xgboost_image_problem
    from config.training import BUNDLED_CODE_FRAMEWORK_VERSIONS

    table = json.loads((Path(sagemaker.core.__file__).parent / "image_uri_config" / "xgboost.json").read_text())
    assert not set(table["inference_graviton"]["versions"]) & {*BUNDLED_CODE_FRAMEWORK_VERSIONS, *xgboost_versions()[-2:]}
    for family in GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY:
        assert "an ARM (Graviton) host" in (xgboost_image_problem(f"ml.{family}.xlarge") or ""), family
    hosting = botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum
    refused = {t.split(".")[1] for t in hosting if xgboost_image_problem(t)}
    assert refused >= set(GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY) | {"p2"}
    # x86 families, GPU and CPU, including those with a "g" elsewhere in the name, are not refused.
    for usable in ("ml.g5.xlarge", "ml.g4dn.xlarge", "ml.g6e.xlarge", "ml.m5.large", "ml.c5.xlarge", "ml.inf2.xlarge", "ml.p4d.24xlarge"):
        assert xgboost_image_problem(usable) is None, usable
