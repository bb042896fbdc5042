"""SageMaker instance types: the vocabularies botocore ships, and the hardware rules that follow from a type.

botocore's request validator does not check enums, so an invented type such as
``ml.g5.9000xlarge`` would only fail at deploy time. The enums on the shapes are the
authoritative lists; reading them here keeps validation offline and in step with
the SDK version we pin. Two rules read the type's family: local NVMe storage (SageMaker
then refuses a volume KMS key) and NVIDIA GPUs the XGBoost image can use.
"""

from __future__ import annotations

import difflib
import re
from functools import cache

import botocore.session

NOTEBOOK_SHAPE = "InstanceType"


@cache
def allowed_instance_types(shape_name: str) -> tuple[str, ...]:
    """Return the sorted enum of a SageMaker API shape (e.g. ``InstanceType``)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    enum = model.shape_for(shape_name).enum
    if not enum:
        raise LookupError(f"botocore's SageMaker model has no enum on shape {shape_name!r}")
    return tuple(sorted(enum))


def notebook_instance_types() -> tuple[str, ...]:
    return allowed_instance_types(NOTEBOOK_SHAPE)


def suggest(value: str, choices: tuple[str, ...], limit: int = 3) -> list[str]:
    """Closest valid spellings, for error messages."""
    return difflib.get_close_matches(value, choices, n=limit, cutoff=0.6)


def check_instance_type(value: str, shape: str, what: str, examples: tuple[str, ...] = ()) -> str:
    """value, if it is in the SageMaker enum `shape`; else a ValueError that says what is allowed."""
    allowed = allowed_instance_types(shape)
    if value not in allowed:
        hint = suggest(value, allowed)
        did_you_mean = f"; did you mean {', '.join(hint)}?" if hint else ""
        e_g = f", e.g. {', '.join(examples)}" if examples else ""
        raise ValueError(f"not a SageMaker {what} instance type (allowed: the {len(allowed)} types of botocore's "
                         f"{shape} enum{e_g}){did_you_mean}")
    return value


#: Families whose instances carry local NVMe instance storage in SageMaker. SageMaker rejects a
#: volume KMS key (training VolumeKmsKeyId, processing/transform VolumeKmsKeyId, endpoint config
#: KmsKeyId) for them: instance storage is encrypted by the hardware and cannot take the key.
#: Families with a "d" after the generation (g4dn, p3dn, p4d, p4de, r5d, m5d, ...) are matched
#: by pattern; these newer accelerated families have NVMe without the letter.
NVME_FAMILIES = frozenset(
    {"g5", "g6", "g6e", "gr6", "g7", "g7e", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "p6e-gb200",
     "trn1", "trn1n", "trn2"}
)
_D_SUFFIX_FAMILY = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")


def has_local_nvme(instance_type: str) -> bool:
    """True where SageMaker forbids a volume KMS key (``ml.g4dn.xlarge``, ``ml.g5.2xlarge``, ...)."""
    family = instance_type.split(".")[1] if instance_type.count(".") == 2 else instance_type
    return family in NVME_FAMILIES or bool(_D_SUFFIX_FAMILY.match(family))


#: Accelerated hosting families with NVIDIA GPUs (ml.g4dn, ml.g5, ml.g6, ml.g6e, ml.p3, ml.p4d, ml.p5, ...).
_GPU_FAMILY = re.compile(r"^(?:g|p)\d+[a-z-]*\d*[a-z]*$|^gr\d+$")
#: ...that SageMaker's x86 XGBoost image with CUDA 12 can use: not p2 (K80, below CUDA 12's minimum)
#: and not the Grace-Blackwell families (an ARM host).
_UNUSABLE_GPU_FAMILY = re.compile(r"^p2$|gb\d+")


#: Graviton families: a "g" right after the generation (c6g, c6gd, c6gn, c7g, m8g, r7gd, ...), an ARM host. The SageMaker
#: Python SDK's own list of them (sagemaker-core's fw_utils.GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY) matches this; a test
#: holds it to that list.
_GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$")


def xgboost_image_problem(instance_type: str) -> str | None:
    """Why SageMaker's XGBoost image (x86, CUDA 12), which every pipeline step, batch transform and endpoint of a model
    runs, cannot run on ``instance_type``; None where it can. sagemaker-core's image table (image_uri_config/xgboost.json)
    has ARM (inference_graviton) builds only of 1.3-1 and 1.5-1, for inference, and none of the versions this project
    uses; a p2's K80 is below CUDA 12's minimum, so train.py's and inference.py's cuda device would fail there."""
    parts = instance_type.split(".")
    family = parts[1] if len(parts) == 3 else ""
    if _GRAVITON_FAMILY.match(family) or re.search(r"gb\d+", family):
        return (f"an ARM ({'Graviton' if _GRAVITON_FAMILY.match(family) else 'Grace'}) host, and SageMaker's XGBoost "
                "image is built for x86 only (allowed: an x86 type, e.g. ml.m5.xlarge, or ml.g5.xlarge for a GPU)")
    if family == "p2":
        return ("a K80 GPU host, below the CUDA 12 that SageMaker's XGBoost image needs (allowed: a newer GPU, e.g. "
                "ml.g4dn.xlarge or ml.g5.xlarge, or a CPU type)")
    return None


def is_gpu_instance_type(instance_type: str) -> bool:
    """True for SageMaker instance types with NVIDIA GPUs (ml.g4dn.xlarge, ml.g5.2xlarge, ml.p4d.24xlarge)."""
    parts = instance_type.split(".")
    return (len(parts) == 3 and parts[0] == "ml" and bool(_GPU_FAMILY.match(parts[1]))
            and not _UNUSABLE_GPU_FAMILY.search(parts[1]))


def notebook_platforms() -> tuple[str, ...]:
    """The notebook-instance platforms SageMaker accepts (PlatformIdentifier's pattern in botocore's model)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    pattern = model.shape_for("PlatformIdentifier").metadata.get("pattern", "")
    return tuple(sorted(set(re.findall(r"notebook-[a-z0-9]+-v\d+", pattern))))



#: ResourceSpec.InstanceType of CreateApp/CreateSpace (JupyterLab spaces among them).
APP_SHAPE = "AppInstanceType"
#: Members of AppInstanceType that no JupyterLab space can run on: "system" is the JupyterServer app of
#: Studio Classic (no instance), ml.geospatial.interactive the geospatial image's own (SageMaker developer guide,
#: "Amazon SageMaker Studio instance types" and "Geospatial capabilities").
NOT_JUPYTERLAB = frozenset({"system", "ml.geospatial.interactive"})


@cache
def jupyterlab_instance_types() -> tuple[str, ...]:
    """The instance types a JupyterLab space may run on: botocore's AppInstanceType enum, less NOT_JUPYTERLAB."""
    return tuple(t for t in allowed_instance_types(APP_SHAPE) if t not in NOT_JUPYTERLAB)


def check_jupyterlab_instance_type(value: str) -> str:
    allowed = jupyterlab_instance_types()
    if value not in allowed:
        hint = suggest(value, allowed)
        did_you_mean = f"; did you mean {', '.join(hint)}?" if hint else ""
        why = " (it runs no JupyterLab app)" if value in NOT_JUPYTERLAB else ""
        raise ValueError(f"not a JupyterLab instance type{why} (allowed: the {len(allowed)} types of botocore's {APP_SHAPE} "
                         f"enum but {', '.join(sorted(NOT_JUPYTERLAB))}, e.g. ml.t3.medium, ml.m5.xlarge, ml.g5.xlarge){did_you_mean}")
    return value
