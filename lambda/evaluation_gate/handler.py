"""Lambda entry point of the training pipeline's evaluation gate (a SageMaker Pipelines Lambda step).

Thin on purpose: clients are created per call (none at import time, so tests and the local
runner can point them at an emulator), the decision is gate.evaluate's, and one JSON log
line records it. The pipeline reads "decision" and "reasons" as String outputs.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from gate import evaluate, fit_output_parameter


def handler(event: Any, context: Any = None) -> dict[str, Any]:  # noqa: ARG001 - Lambda's handler signature
    try:
        result = evaluate(event, s3=boto3.client("s3"), sagemaker=boto3.client("sagemaker"))
    except Exception as error:  # noqa: BLE001 - fail closed: a crash must read as "reject", never escape
        reason = f"evaluation gate error: {type(error).__name__}: {error}"
        result = {"decision": "reject", "reasons": fit_output_parameter(reason), "reason_list": [reason], "metrics": {},
                  "champion": None}

    fields = event if isinstance(event, dict) else {}
    print(json.dumps({
        "event": "evaluation_gate",
        "decision": result["decision"],
        "reasons": result["reason_list"],
        "metrics": result["metrics"],
        "champion": result["champion"],
        "evaluation_uri": fields.get("evaluation_uri"),
        "model_package_group_name": fields.get("model_package_group_name"),
    }, default=str))
    return result
