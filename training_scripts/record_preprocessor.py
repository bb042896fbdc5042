"""Model Monitor's record preprocessor: each captured request as rows of the business's named columns.

SageMaker's data-quality analyzer calls preprocess_handler once per captured request (a
CapturedData record: endpoint_input.encoding, .data, .observedContentType, as AWS documents on
"Preprocessing and Postprocessing", docs.aws.amazon.com/sagemaker/latest/dg/
model-monitor-pre-and-post-processing.html) and analyses what it returns: flattened JSON, one
dict per row, whose keys become the report's column names. Endpoints take raw rows in several
forms (CSV with or without a header line, in any column order with one; JSON records; JSON rows
of values), which the analyzer cannot read as one table by itself; this turns every form into
rows keyed by input column, so the drift report names the business's columns, the same names
the baseline (baseline.py) uses.

AWS does not say which Python the analyzer runs this with, so it keeps to Python 3.7 (no str.removeprefix,
no zip(strict=), no walrus); vermin checks that in tests/unit/test_training_scripts.py.

This file is a template: preprocess.py writes a copy into baseline/ with SCHEMA filled in (the
input columns in the dataset's order, which are numbers and which text, and the cells read as
missing), and the serving stack points the monitor's RecordPreprocessorSourceUri at that copy,
so the version's baseline and its preprocessor always travel together. It runs in the
analyzer's own container: standard library only.

A request of preprocessed feature vectors has no business columns to report; it is skipped
(an empty list, as AWS's custom-sampling example does) and logged.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging

#: Filled in by preprocess.py: {"columns": [{"name": ..., "type": "number" | "text"}, ...] in the
#: dataset's order, "label": the label column, "missing": the cells read as missing}.
SCHEMA: dict = {"columns": [], "label": None, "missing": []}

_log = logging.getLogger(__name__)
#: What pandas reads as True and False, in any case (inference.BOOLEAN_WORDS): 1 and 0 in a boolean column.
_BOOLEANS = {"true": 1, "false": 0}


def preprocess_handler(inference_record, logger=None) -> list[dict]:
    """The rows of one captured request, each {column: number, text or None}; [] to skip the request."""
    log = logger or _log
    captured = inference_record.endpoint_input
    text = _text(captured)
    if text is None:
        log.info("skipped a request whose body is not UTF-8 text")
        return []
    kind = (getattr(captured, "observedContentType", None) or "").split(";")[0].strip().lower()
    try:
        rows = _json_rows(text) if kind == "application/json" or captured.encoding == "JSON" else _csv_rows(text)
    except (ValueError, csv.Error) as error:  # csv.Error: a quote that never closes, past a cell's 131,072 characters
        log.info(f"skipped a request: {error}")
        return []
    return [_typed(row) for row in rows]


def _text(captured) -> str | None:
    data = captured.data or ""
    if captured.encoding == "BASE64":
        try:
            return base64.b64decode(data).decode("utf-8-sig")
        except (ValueError, UnicodeDecodeError):
            return None
    return data[1:] if data.startswith("\ufeff") else data  # not str.removeprefix: Python 3.9


def _names() -> list[str]:
    return [column["name"] for column in SCHEMA["columns"]]


def _csv_rows(text: str) -> list[dict]:
    lines = [row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]
    if not lines:
        raise ValueError("no rows")
    names, known = _names(), set(_names()) | {SCHEMA["label"]}
    first = [field.strip() for field in lines[0]]
    if any(field in known for field in first):  # a header line, in any order (the endpoint's own rule)
        header, lines = first, lines[1:]
    elif all(field and field.casefold() in {name.casefold() for name in known if name} for field in first):
        raise ValueError("its header names the input columns in another case (the endpoint refused it)")
    elif len(first) == len(names):
        header = names
    else:
        raise ValueError(f"rows have {len(first)} values, not the {len(names)} input columns (preprocessed vectors?)")
    for number, row in enumerate(lines, start=1):
        if len(row) != len(header):  # the endpoint refused such a request
            raise ValueError(f"row {number} has {len(row)} values, not {len(header)}")
    return [dict(zip(header, row)) for row in lines]  # noqa: B905 - lengths checked above; zip(strict=) is Python 3.10


def _json_rows(text: str) -> list[dict]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    rows = _request_rows(payload)
    if not isinstance(rows, list) or not rows:
        raise ValueError('not {"instances": [...]}, a list of rows or pandas\' orient="split"')
    names = _names()
    if all(isinstance(row, dict) for row in rows):
        return rows
    if all(isinstance(row, list) and len(row) == len(names) for row in rows):
        return [dict(zip(names, row)) for row in rows]  # noqa: B905 - lengths checked above; zip(strict=) is Python 3.10
    raise ValueError(f"rows are not records or lists of the {len(names)} input columns (preprocessed vectors?)")


def _request_rows(payload):
    """inference.json_rows's reading of the request's forms (this file runs without inference.py): the instances
    or the bare list; one flat row; pandas' orient="split"; {"features": [...]} records as rows of values."""
    if isinstance(payload, dict):
        if "instances" not in payload and {"columns", "data"} <= payload.keys():
            columns, data = payload["columns"], payload["data"]
            if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns) and len(set(columns)) == len(columns)
                    and isinstance(data, list) and all(isinstance(r, list) and len(r) == len(columns) for r in data)):
                return None  # the endpoint refused it
            return [dict(zip(columns, row)) for row in data]  # noqa: B905 - lengths checked above; Python 3.10's zip(strict=)
        payload = payload.get("instances")
    elif isinstance(payload, list) and payload and not any(isinstance(r, (list, dict)) for r in payload):
        return [payload]
    if isinstance(payload, list) and payload and all(isinstance(r, dict) and r.keys() == {"features"}
                                                     and isinstance(r["features"], list) for r in payload):
        return [r["features"] for r in payload]
    return payload


def _typed(row: dict) -> dict:
    """A row with every input column, in the dataset's order: numbers as numbers (whole ones as
    integers, as the baseline infers Integral), text stripped, missing as None. A number column's
    cell that is not a number stays text, for the analyzer's data-type check to report."""
    missing = set(SCHEMA["missing"])
    booleans = set(SCHEMA.get("booleans", []))  # the columns pandas read as True/False
    typed: dict = {}
    for column in SCHEMA["columns"]:
        value = row.get(column["name"])
        if isinstance(value, str):  # missing as the endpoint reads it: pandas' reading (leading spaces skipped)
            spaced = value.strip() if column["type"] == "number" else value.lstrip(" ")
            value = None if spaced in missing else value.strip()
        if isinstance(value, float) and value != value:  # JSON NaN
            value = None
        if column["name"] in booleans and (isinstance(value, bool) or (isinstance(value, str) and value.lower() in _BOOLEANS)):
            value = _BOOLEANS[value.lower()] if isinstance(value, str) else int(value)  # 1 and 0, as the baseline has them
        if value is None or isinstance(value, bool):
            typed[column["name"]] = value
        elif column["type"] == "number":
            typed[column["name"]] = _number(value)
        else:
            typed[column["name"]] = _level(value)
    return typed


def _number(value):
    if isinstance(value, str) and (not value.isascii() or "_" in value):
        return value  # what float() alone reads as a number; the endpoint refused it
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return value
    if number != number:  # NaN
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _level(value) -> str:
    """A level of a text column as the endpoint reads it (inference._level_text): JSON 1.0 is '1.0', as CSV carries it."""
    return str(value)
