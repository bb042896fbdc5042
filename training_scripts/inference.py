"""Serving functions for SageMaker's XGBoost container (model_fn, input_fn, predict_fn, output_fn).

train.py copies this file into the model as code/inference.py, so a model package carries
its own serving code. Requests are feature rows without the label: text/csv (one row a
line) or application/json ({"instances": [[...], ...]} or a bare list of rows). The answer
is one probability a row.

Malformed input is a RequestError: a ValueError that carries the HTTP status it deserves
(400 malformed, 406 unsupported accept type, 413 too large, 415 unsupported content type)
and a message naming the problem. serve.py (local mode and tests) answers with that status.
SageMaker's XGBoost container answers anything its user functions raise with a 500, but it
passes a response object that output_fn returns straight to the client; so inside the
container (sagemaker_containers importable) input_fn and predict_fn hand the error on
instead of raising, and output_fn turns it into a response with that status.

Self-contained on purpose: nothing else from training_scripts/ travels with the model.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from http import HTTPStatus
from pathlib import Path

import numpy as np
import xgboost as xgb

MODEL_FILE = "xgboost-model.json"
CSV, JSON = "text/csv", "application/json"
#: SageMaker real-time endpoints accept request payloads of at most 6 MB.
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", 6 * 1024 * 1024))

try:  # Inside SageMaker's XGBoost container: the response type its transformer passes through.
    # beta.framework binds `worker` to sagemaker_containers._worker; it is a name, not a module.
    from sagemaker_containers.beta.framework import worker as _container_worker  # type: ignore

    ContainerResponse = _container_worker.Response
except (ImportError, AttributeError):
    ContainerResponse = None


class RequestError(ValueError):
    """A request the model cannot answer, with the HTTP status to send back."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_json(self) -> str:
        return json.dumps({"error": HTTPStatus(self.status).phrase, "message": self.message})


def _refuse(error: RequestError):
    """Outside the container raise; inside it, pass the error on for output_fn to answer."""
    if ContainerResponse is None:
        raise error
    return error


def model_fn(model_dir: str) -> xgb.Booster:
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {MODEL_FILE} in {model_dir}; the model archive must come from train.py")
    booster = xgb.Booster()
    booster.load_model(str(path))
    # The device is a run-time setting, not saved with the model: on a GPU instance, predict there.
    booster.set_param({"device": device()})
    return booster


def device() -> str:
    """cuda where this XGBoost build has CUDA and the NVIDIA driver shows a GPU, else cpu."""
    gpus = Path(os.environ.get("NVIDIA_GPUS_DIR", "/proc/driver/nvidia/gpus"))
    has_gpu = gpus.is_dir() and any(gpus.iterdir())
    return "cuda" if has_gpu and xgb.build_info().get("USE_CUDA") else "cpu"


def media_type(header: str | None) -> str:
    return (header or CSV).split(";")[0].strip().lower()


def default_accept() -> str:
    """What */* or no Accept header means; the registered model sets it to text/csv, as serve.py does."""
    return os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", CSV)


def negotiate(accept: str | None) -> str | None:
    """The type of an Accept header we can write, best quality first (q=0 means never), or None."""
    ranked = []
    for position, part in enumerate((accept or "*/*").split(",")):
        kind, *params = [item.strip().lower() for item in part.split(";")]
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        writable = {"*/*": default_accept(), "": default_accept(), "text/*": CSV, "application/*": JSON,
                    CSV: CSV, JSON: JSON}.get(kind)
        if writable and quality > 0:
            ranked.append((-quality, position, writable))
    return min(ranked)[2] if ranked else None


def input_fn(body, content_type: str = CSV):
    try:
        return parse(body, content_type)
    except RequestError as error:
        return _refuse(error)


def parse(body, content_type: str = CSV) -> np.ndarray:
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", 413)
    kind = media_type(content_type)
    if kind not in (CSV, JSON):
        raise RequestError(f"content type {content_type!r} is not supported; send {CSV} or {JSON}", 415)
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if not data.strip():
        raise RequestError("request body is empty; send at least one row of features")
    if kind == CSV:
        return _csv_matrix(data)
    return _matrix(_json_rows(data))


def _csv_matrix(data: bytes) -> np.ndarray:
    # numpy's C parser first (1000 rows of 131 features in ~7 ms, five times faster than the csv
    # module); when it refuses the input, the slow path finds the row and says what is wrong.
    try:
        matrix = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.float64, ndmin=2)
        if matrix.shape[0]:
            return matrix
    except ValueError:
        pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("request body is not UTF-8 text") from None
    return _matrix([row for row in csv.reader(io.StringIO(text)) if row])


def _json_rows(data: bytes) -> list[list]:
    try:
        payload = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        detail = f"{error.msg} at character {error.pos}" if isinstance(error, json.JSONDecodeError) else "not UTF-8"
        raise RequestError(f"request body is not valid JSON: {detail}") from None
    rows = payload.get("instances") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise RequestError('JSON body must be {"instances": [[feature, ...], ...]} or a list of rows')
    return rows


def _matrix(rows: list[list]) -> np.ndarray:
    if not rows:
        raise RequestError("request has no rows; send at least one row of features")
    width = len(rows[0])
    values = []
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise RequestError(f"row {number} has {len(row)} features, row 1 has {width}; every row needs the same number")
        try:
            values.append([_number(cell) for cell in row])
        except (TypeError, ValueError):
            raise RequestError(f"row {number} has a value that is not a number; features must be numeric") from None
    return np.asarray(values, dtype=np.float64)


def _number(cell) -> float:
    if cell in ("", None):
        return math.nan
    if isinstance(cell, bool):  # JSON true/false would pass float() as 1.0/0.0
        raise TypeError(cell)
    return float(cell)


def predict_fn(features, model: xgb.Booster):
    if isinstance(features, RequestError):
        return features
    expected = model.num_features()
    if features.shape[1] != expected:
        return _refuse(RequestError(f"rows have {features.shape[1]} features; this model expects {expected} (no label column)"))
    return model.inplace_predict(features)


def output_fn(predictions, accept: str | None = CSV):
    if isinstance(predictions, RequestError):
        return _container_answer(predictions)
    kind = negotiate(accept)
    # 9 significant digits: every float32 score reads back exactly, so scores near each other (a model
    # of many shallow trees) are not tied by rounding, and an AUC from served scores is the report's.
    if kind == CSV:
        return "\n".join(f"{p:.9g}" for p in predictions) + "\n", CSV
    if kind == JSON:
        return json.dumps({"predictions": [float(f"{p:.9g}") for p in predictions]}), JSON
    return _container_answer(_refuse(RequestError(f"accept type {accept!r} is not supported; ask for {CSV} or {JSON}", 406)))


def _container_answer(error: RequestError):
    return ContainerResponse(response=error.to_json(), status=error.status, mimetype=JSON)
