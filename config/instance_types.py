"""SageMaker instance-type vocabularies, read from the API model that botocore ships.

botocore's request validator does not check enums, so an invented type such as
``ml.g5.9000xlarge`` would only fail at deploy time. The enums on the shapes are the
authoritative lists; reading them here keeps validation offline and in step with
the SDK version we pin.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

import botocore.session

NOTEBOOK_SHAPE = "InstanceType"


@lru_cache(maxsize=None)
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
