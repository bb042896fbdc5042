"""Serving functions for SageMaker's XGBoost container (model_fn, input_fn, predict_fn, output_fn).

train.py copies this file into the model as code/inference.py, so a model package carries
its own serving code. Requests are feature rows without the label: text/csv (one row a
line) or application/json ({"instances": [[...], ...]} or a bare list of rows). The answer
is one probability a row. Malformed input raises ValueError naming the problem. The
XGBoost container's server answers any such error with a 500 and logs the message (only
its own UnsupportedFormatError maps to 415); turning these into 4xx answers is the serving
layer's job.

Self-contained on purpose: nothing else from training_scripts/ travels with the model.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import List

import numpy as np
import xgboost as xgb

MODEL_FILE = "xgboost-model.json"
CSV, JSON = "text/csv", "application/json"


def model_fn(model_dir: str) -> xgb.Booster:
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {MODEL_FILE} in {model_dir}; the model archive must come from train.py")
    booster = xgb.Booster()
    booster.load_model(str(path))
    return booster


def input_fn(body, content_type: str = CSV) -> np.ndarray:
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
    media_type = (content_type or CSV).split(";")[0].strip().lower()
    if media_type == CSV:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    elif media_type == JSON:
        rows = _json_rows(text)
    else:
        raise ValueError(f"content type {content_type!r} is not supported; send {CSV} or {JSON}")
    return _matrix(rows)


def _json_rows(text: str) -> List[list]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"request body is not valid JSON: {error.msg} at character {error.pos}") from None
    rows = payload.get("instances") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ValueError('JSON body must be {"instances": [[feature, ...], ...]} or a list of rows')
    return rows


def _matrix(rows: List[list]) -> np.ndarray:
    if not rows:
        raise ValueError("request has no rows; send at least one row of features")
    width = len(rows[0])
    values = []
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValueError(f"row {number} has {len(row)} features, row 1 has {width}; every row needs the same number")
        try:
            values.append([float(cell) if cell not in ("", None) else math.nan for cell in row])
        except (TypeError, ValueError):
            raise ValueError(f"row {number} has a value that is not a number; features must be numeric") from None
    return np.asarray(values, dtype=np.float64)


def predict_fn(features: np.ndarray, model: xgb.Booster) -> np.ndarray:
    expected = model.num_features()
    if features.shape[1] != expected:
        raise ValueError(f"rows have {features.shape[1]} features; this model expects {expected} (no label column)")
    return model.predict(xgb.DMatrix(features))


def output_fn(predictions: np.ndarray, accept: str = CSV):
    media_type = (accept or CSV).split(";")[0].strip().lower()
    if media_type in (CSV, "*/*"):
        return "\n".join(f"{p:.6f}" for p in predictions) + "\n", CSV
    if media_type == JSON:
        return json.dumps({"predictions": [round(float(p), 6) for p in predictions]}), JSON
    raise ValueError(f"accept type {accept!r} is not supported; ask for {CSV} or {JSON}")
