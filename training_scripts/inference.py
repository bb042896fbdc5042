"""Serving functions for SageMaker's XGBoost container (model_fn, input_fn, predict_fn, output_fn).

train.py copies this file into the model as code/inference.py, and preprocess.py's fitted
preprocessing (features.json: input columns, medians, category levels, feature order) as
preprocessing.json, so a model package carries its own serving code and the transformation
it was trained behind. The answer is one probability a row. A request holds rows in one of
three forms:

- **Raw rows**, the dataset's own columns minus the label and the dropped columns:
  text/csv with a header line (columns in any order, matched by name) or without one
  (columns in the dataset's order); or application/json records keyed by column name,
  ``{"instances": [{"age": 41, "plan": "3"}, ...]}`` or a bare list of them; or JSON lists
  of values in the dataset's order. Cells read as preprocess.py's pandas read them (leading
  spaces skipped, then pandas' NA spellings, then stripped): a missing value (an empty cell,
  null, NaN, or an NA spelling) takes the training split's median or the 'missing'
  category; a level not seen in training encodes as all zeros, as it did in training. A
  categorical column pandas read as numbers matches levels by value (3, "3" and 3.0 are one
  level); one it read as text matches by text, as training did. A numeric column it read as
  True/False takes true and false in any case, and 1 and 0.
- **Preprocessed vectors**, as the train/validation/test splits hold them (one-hot levels,
  imputed values, in the model's feature order): text/csv without a header, or JSON lists.
- The rule that tells headerless rows apart: a row with as many fields as the dataset has
  input columns is raw; one with as many as the model has features is a vector. Where the
  two counts are equal (no categorical column, or each has a single level) a row is read as
  raw: such a model takes vectors only where they are its raw rows. A CSV first line is a
  header when any of its fields is the name of an input column.

Malformed input is a RequestError: a ValueError that carries the HTTP status it deserves
(400 malformed, naming the row and column; 406 unsupported accept type; 413 too large; 415
unsupported content type). serve.py (local mode and tests) answers with that status.
SageMaker's XGBoost container answers anything its user functions raise with a 500, but it
passes a response object that output_fn returns straight to the client; so inside the
container (sagemaker_containers importable) input_fn and predict_fn hand the error on
instead of raising, and output_fn turns it into a response with that status.

Text is parsed by Apache Arrow's CSV reader and encoded column by column with numpy: the
XGBoost 3.0-5 image ships pyarrow 22.0.0, numpy and pandas (docker/3.0-5/base/Dockerfile.cpu
in github.com/aws/sagemaker-xgboost-container), and requirements.txt pins the same pyarrow.
Self-contained on purpose: nothing else from training_scripts/ travels with the model.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import re
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import xgboost as xgb

MODEL_FILE = "xgboost-model.json"
PREPROCESSING_FILE = "preprocessing.json"
CSV, JSON = "text/csv", "application/json"
#: SageMaker real-time endpoints accept request payloads of at most 6 MB (the XGBoost container's
#: serving.py sets SAGEMAKER_MAX_REQUEST_SIZE to MAX_PAYLOAD_IN_MB * 1024 * 1024 with MAX_PAYLOAD_IN_MB = 6).
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", 6 * 1024 * 1024))
#: What pandas.read_csv reads as missing by default (pandas' STR_NA_VALUES), so a cell training saw as
#: missing is missing here too; a test checks this against the installed pandas.
NA_VALUES = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
             "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
NA_SET = frozenset(NA_VALUES)
#: What pandas.read_csv reads as True and False (true and false in any case), in a column training read as
#: booleans: 1 and 0. A test checks this against the installed pandas.
BOOLEAN_WORDS = {"true": 1.0, "false": 0.0}
MISSING_LEVEL = "missing"  # preprocess.py's category for a missing value

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


# -- the model and its preprocessing --------------------------------------------------------
class Preprocessing:
    """preprocess.py's fitted transformation (its features.json), applied column by column."""

    def __init__(self, spec: dict) -> None:
        self.features: list[str] = list(spec["features"])
        self.columns: list[str] = [c["name"] for c in spec["columns"]]
        self.categorical = [c["name"] for c in spec["columns"] if c["kind"] == "categorical"]
        self.numeric = [c for c in self.columns if c not in self.categorical]
        self.medians = {c: float(spec["medians"][c]) for c in self.numeric}
        self.label = spec.get("label", {}).get("column")
        self.dropped = list(spec.get("dropped_columns", []))
        position = {name: i for i, name in enumerate(self.features)}
        self.numeric_position = np.array([position[c] for c in self.numeric], dtype=np.intp)
        # preprocess.py puts the numeric features first, in column order: then they fill one slice of each row
        # (a plain copy, a fifth of a fancy-indexed one's time); any other order still works through the positions.
        first = int(self.numeric_position[0]) if self.numeric else 0
        contiguous = np.array_equal(self.numeric_position, np.arange(first, first + len(self.numeric)))
        self.numeric_columns: slice | np.ndarray = slice(first, first + len(self.numeric)) if contiguous else self.numeric_position
        self.median_row = np.array([self.medians[c] for c in self.numeric], dtype=np.float32)
        # Per categorical column: level text -> feature position, and the numeric value of levels that
        # are numbers, so 3, "3" and 3.0 find the level training read as "3" (or "3.0").
        self.levels: dict[str, dict[str, int]] = {}
        self.numeric_levels: dict[str, dict[float, int]] = {}
        # A column pandas read as text (its "values": "text") matches levels by text only, as training did; one
        # it read as numbers, or a model from before the key, also by value.
        text_coded = {c["name"] for c in spec["columns"] if c.get("values") in ("text", "booleans")}
        # Categorical columns pandas read as True/False: true and false in any case are the levels True and False.
        self.boolean_levels = {c["name"] for c in spec["columns"] if c["kind"] == "categorical" and c.get("values") == "booleans"}
        for column in self.categorical:
            levels = {str(level): position[f"{column}={level}"] for level in spec["categories"][column]}
            self.levels[column] = levels
            self.numeric_levels[column] = {} if column in text_coded else {
                value: pos for level, pos in levels.items() if (value := _as_float(level)) is not None}
        self.booleans = {c["name"] for c in spec["columns"] if c["kind"] == "numeric" and c.get("values") == "booleans"}
        self.raw_types = {c: pa.string() if c in self.categorical else pa.bool_() if c in self.booleans else pa.float64()
                          for c in self.columns}
        # Missing as training read it: pandas' spellings and the dataset's own (dataset.missing_values, e.g. "?").
        self.na_values: tuple[str, ...] = NA_VALUES + tuple(v for v in spec.get("missing_values", []) if v not in NA_SET)
        self.na_set = frozenset(self.na_values)

    @classmethod
    def load(cls, path: Path) -> Preprocessing:
        spec = json.loads(path.read_text())
        if "columns" not in spec:
            raise ValueError(f"{path} has no 'columns'; it must come from preprocess.py (metadata/features.json)")
        return cls(spec)

    def columns_hint(self) -> str:
        shown = ", ".join(self.columns[:8]) + (", ..." if len(self.columns) > 8 else "")
        return f"{len(self.columns)} input columns ({shown})"

    def unknown_column(self, name: str) -> RequestError:
        if name == self.label:
            return RequestError(f"column {name!r} is the label; send the input columns only, without it")
        if name in self.dropped:
            return RequestError(f"column {name!r} is not an input of this model (dropped in training); leave it out")
        same_letters = [c for c in self.columns if c.casefold() == name.casefold()]
        close = same_letters or difflib.get_close_matches(name, self.columns, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}{' (names are case-sensitive)' if same_letters else ''}?" if close else ""
        return RequestError(f"column {name!r} is not an input of this model{hint} (it takes the {self.columns_hint()})")

    def check_columns(self, names: list[str]) -> None:
        """Names from a header or JSON records: each input column exactly once, nothing else."""
        seen = set()
        for name in names:
            if name not in self.raw_types:
                raise self.unknown_column(name)
            if name in seen:
                raise RequestError(f"column {name!r} appears twice; send each input column once")
            seen.add(name)
        missing = [c for c in self.columns if c not in seen]
        if missing:
            raise RequestError(f"column {missing[0]!r} is missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                               + f"; send all {self.columns_hint()}")

    def level_position(self, column: str, value: str) -> int:
        """The one-hot feature of a level, or -1 for a level training never saw (all zeros, as in training)."""
        if column in self.boolean_levels and value.lower() in BOOLEAN_WORDS:
            value = str(value.lower() == "true")
        if (position := self.levels[column].get(value)) is not None:
            return position
        number = _as_float(value)
        return self.numeric_levels[column].get(number, -1) if number is not None else -1


class Model:
    """What model_fn loads: the booster and, when the archive has it, its preprocessing."""

    def __init__(self, booster: xgb.Booster, preprocessing: Preprocessing | None) -> None:
        self.booster = booster
        self.preprocessing = preprocessing
        self.num_features = booster.num_features()
        raw = len(preprocessing.columns) if preprocessing else None
        if preprocessing and len(preprocessing.features) != self.num_features:
            raise ValueError(f"{PREPROCESSING_FILE} lists {len(preprocessing.features)} features but the booster has "
                             f"{self.num_features}; both must come from the same pipeline run")
        self.raw_width = raw

    def accepted(self) -> str:
        vectors = f"{self.num_features} preprocessed features"
        return f"the {self.preprocessing.columns_hint()} or {vectors}" if self.preprocessing else vectors


def model_fn(model_dir: str) -> Model:
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {MODEL_FILE} in {model_dir}; the model archive must come from train.py")
    booster = xgb.Booster()
    booster.load_model(str(path))
    # The device is a run-time setting, not saved with the model: on a GPU instance, predict there.
    booster.set_param({"device": device()})
    spec = Path(model_dir) / PREPROCESSING_FILE
    return Model(booster, Preprocessing.load(spec) if spec.is_file() else None)


def device() -> str:
    """cuda where this XGBoost build has CUDA and the NVIDIA driver shows a GPU, else cpu."""
    gpus = Path(os.environ.get("NVIDIA_GPUS_DIR", "/proc/driver/nvidia/gpus"))
    has_gpu = gpus.is_dir() and any(gpus.iterdir())
    return "cuda" if has_gpu and xgb.build_info().get("USE_CUDA") else "cpu"


# -- content negotiation ---------------------------------------------------------------------
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


# -- requests ----------------------------------------------------------------------------------
@dataclass
class Payload:
    """A request body that passed the checks needing no model: size, type, text, JSON syntax.
    predict_fn reads it against the model's columns (input_fn is not given the model)."""

    kind: str
    data: bytes | list


def input_fn(body, content_type: str = CSV):
    try:
        return parse(body, content_type)
    except RequestError as error:
        return _refuse(error)


def parse(body, content_type: str = CSV) -> Payload:
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", 413)
    kind = media_type(content_type)
    if kind not in (CSV, JSON):
        raise RequestError(f"content type {content_type!r} is not supported; send {CSV} or {JSON}", 415)
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, as spreadsheets write CSV
    if not data.strip():
        raise RequestError("request body is empty; send at least one row")
    if kind == CSV:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("request body is not UTF-8 text") from None
        return Payload(CSV, data)
    return Payload(JSON, _json_rows(data))


def _json_rows(data: bytes) -> list:
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError, an int over Python's digit limit
        if isinstance(error, json.JSONDecodeError):
            detail = f"{error.msg} at character {error.pos}"
        elif isinstance(error, UnicodeDecodeError):
            detail = "not UTF-8"
        else:
            detail = "nested too deeply" if isinstance(error, RecursionError) else str(error).split(";")[0]
        raise RequestError(f"request body is not valid JSON: {detail}") from None
    rows = json_rows(payload)
    if rows == []:
        raise RequestError("request has no rows; send at least one row")
    if not isinstance(rows, list) or not (all(isinstance(r, list) for r in rows) or all(isinstance(r, dict) for r in rows)):
        raise RequestError('JSON body must be {"instances": [...]} or a list, of records keyed by column name '
                           'or of rows of values, one kind throughout; or pandas\' to_json(orient="split")')
    return rows


def json_rows(payload):
    """The rows of a JSON request, as records or lists of values, from each form clients send:
    {"instances": [...]} or a bare list of rows; one row as a flat list of values (the SageMaker SDK's
    JSONSerializer sends a 1-D list or array so); pandas' to_json(orient="split") ({"columns", "data"}, the
    index ignored); and SageMaker's common request format's records {"features": [...]} ("Common data formats
    for inference", docs.aws.amazon.com/sagemaker/latest/dg/cdf-inference.html), as rows of values. Anything
    else comes back as it is, for the caller to refuse. record_preprocessor.py reads captured requests alike."""
    if isinstance(payload, dict):
        if "instances" not in payload and {"columns", "data"} <= payload.keys():
            return _split_records(payload["columns"], payload["data"])
        payload = payload.get("instances")
    elif isinstance(payload, list) and payload and not any(isinstance(r, (list, dict)) for r in payload):
        return [payload]  # a bare flat list only: {"instances": [5, 7]} is two one-value rows, as TF Serving reads it
    if isinstance(payload, list) and payload and all(isinstance(r, dict) and r.keys() == {"features"}
                                                     and isinstance(r["features"], list) for r in payload):
        return [r["features"] for r in payload]
    return payload


def _split_records(columns, data) -> list[dict]:
    """pandas' orient="split" body as records, or the RequestError that says what is wrong with it."""
    if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise RequestError('orient="split" JSON: "columns" must be the input columns\' names (allowed: a list of text; '
                           "a DataFrame with named columns)")
    repeated = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if repeated is not None:
        raise RequestError(f"column {repeated!r} appears twice; send each input column once")
    if not isinstance(data, list):
        raise RequestError('orient="split" JSON: "data" must be a list of rows')
    for number, row in enumerate(data, start=1):
        if not isinstance(row, list) or len(row) != len(columns):
            got = f"{len(row)} values" if isinstance(row, list) else "not a list"
            raise RequestError(f'orient="split" JSON: data row {number} has {got}; "columns" names {len(columns)}')
    return [dict(zip(columns, row, strict=True)) for row in data]


def features(payload: Payload, model: Model) -> np.ndarray:
    """The feature matrix of a request: raw rows encoded, vectors as they are."""
    if isinstance(payload.data, bytes):
        return _csv_features(payload.data, model)
    rows: list = payload.data
    if isinstance(rows[0], dict):
        if model.preprocessing is None:
            raise RequestError(f"this model has no {PREPROCESSING_FILE} (trained before raw rows were served); "
                               "send rows of its preprocessed features")
        return _json_records(rows, model.preprocessing)
    width = len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise RequestError(f"row {number} has {len(row)} values, row 1 has {width}; every row needs the same number")
    if width == model.raw_width:
        assert model.preprocessing is not None
        names = model.preprocessing.columns
        return _json_records([dict(zip(names, row, strict=True)) for row in rows], model.preprocessing)
    if width == model.num_features:
        return _vectors(rows)
    raise RequestError(f"rows have {width} values; this model takes {model.accepted()} (no label)")


def _lines(data: bytes) -> list[bytes]:
    """The first line and the rest, after any line end Arrow reads: \n, \r\n or \r alone (old Mac exports)."""
    return re.split(rb"\r\n|\r|\n", data.lstrip(b"\r\n"), maxsplit=1)


def _first_line(data: bytes) -> list[str]:
    """The first record's fields (a quoted field may hold a line break), read only that far."""
    rows = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""), skipinitialspace=True)
    try:
        return next((row for row in rows if row), [])
    except csv.Error:  # a quote that never closes: the physical line, for the checks that follow to refuse
        return next(csv.reader([_lines(data)[0].decode("utf-8")], skipinitialspace=True), [])


#: A quote after spaces that follow a comma or begin a line: pandas (skipinitialspace=True, as preprocess.py reads)
#: skips the spaces and reads a quoted field; Arrow's reader would read the spaces and the quotes as text.
_QUOTE_AFTER_SPACES = re.compile(rb'(?:^|[,\r])[ ]+"', re.MULTILINE)


def _without_initial_spaces(data: bytes) -> bytes:
    """The body as pandas reads it with skipinitialspace=True, written back without the spaces before a field, so that
    Arrow reads `a, "b, c"` as two fields. Only a body with a quote after spaces is rewritten (Python's csv module
    skips initial spaces as pandas' C parser does); any other is Arrow's to read as it is."""
    if b'"' not in data or not _QUOTE_AFTER_SPACES.search(data):
        return data
    out = io.StringIO()
    try:
        csv.writer(out, lineterminator="\n").writerows(
            csv.reader(io.StringIO(data.decode("utf-8"), newline=""), skipinitialspace=True))
    except csv.Error:
        return data  # a quote that never closes: Arrow refuses it, and _locate_csv_error says where
    return out.getvalue().encode("utf-8")


def _csv_features(data: bytes, model: Model) -> np.ndarray:
    data = _without_initial_spaces(data)
    first = _first_line(data)
    prep = model.preprocessing
    if prep is not None and _is_header(first, prep):
        names = [field.strip() for field in first]
        try:
            prep.check_columns(names)
        except RequestError as error:
            index = names[0]
            if index not in prep.raw_types and index != prep.label and index not in prep.dropped and \
                    sorted(names[1:]) == sorted(prep.columns):
                raise RequestError(f"the first column, {index!r}, is not an input of this model and the others are all "
                                   "of them: a DataFrame's index? Send to_csv(index=False)") from None
            named = [name for name in names if name in prep.raw_types or name == prep.label]
            if named and len(named) * 2 < len(names):  # mostly values: a row whose level happens to be a column's name
                raise RequestError(f"{error.message}. The first line is read as a header because it names column "
                                   f"{named[0]!r}; send a header line first") from None
            raise
        if not b"".join(_lines(data)[1:]).strip():
            raise RequestError("request has a header but no rows; send at least one row")
        return _csv_raw(data, prep, names, skip_header=True)
    width = len(first)
    if width == model.raw_width:
        assert prep is not None
        try:
            return _csv_raw(data, prep, prep.columns, skip_header=False)
        except RequestError as error:
            # A first line of text only that fails as values is most likely a header whose names are all wrong.
            if error.message.startswith("row 1,") and not any(_parses_as_number(f.strip()) for f in first):
                shown = ", ".join(prep.columns[:10]) + (f" and {len(prep.columns) - 10} more" if len(prep.columns) > 10 else "")
                raise RequestError(f"{error.message}. If the first line is a header, it names none of this model's input "
                                   f"columns (allowed: {shown}, in any order)") from None
            raise
    if width == model.num_features:
        return _csv_vectors(data, width)
    other = next((s for s in (";", "\t", "|") if any(s in field for field in first)), None)
    if other:
        raise RequestError(f"rows have {width} value{'s' if width > 1 else ''}: separate values with commas, not {other!r} "
                           f"(this model takes {model.accepted()})")
    raise RequestError(f"rows have {width} values; this model takes {model.accepted()} (no label)")


def _is_header(first: list[str], prep: Preprocessing) -> bool:
    """A first line naming any input column (or the label) is a header; so is one whose every field names one
    but for case, which check_columns then refuses saying so, instead of reading the names as values."""
    fields = [field.strip() for field in first]
    if any(field in prep.raw_types or field == prep.label for field in fields):
        return True
    names = {c.casefold() for c in [*prep.columns, *([prep.label] if prep.label else [])]}
    return all(field and field.casefold() in names for field in fields)


def _read_csv(data: bytes, names: list[str], types: dict, skip_header: bool, na_values: tuple[str, ...] = NA_VALUES) -> pa.Table:
    """Typed in one pass, first taking only an empty cell for missing (a third faster than matching every cell
    against pandas' NA spellings; NaN spellings read as NaN, which _encode makes missing too, and level text is
    read by category_text); where a numeric cell is an NA spelling, typed again with all of them; where that
    fails too (a cell that is not a number, or an NA spelling with spaces around it in a numeric column, which
    pandas reads as missing), cell by cell as text. ``na_values``: pandas' spellings and the dataset's own
    (dataset.missing_values)."""
    for nulls in ([""], na_values):
        try:
            return _arrow_csv(data, names, skip_header, pa_csv.ConvertOptions(
                column_types=types, null_values=list(nulls), strings_can_be_null=True, quoted_strings_can_be_null=True,
                true_values=["True", "TRUE", "true", "1"], false_values=["False", "FALSE", "false", "0"]))  # others: the text pass
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
    return _read_csv_as_text(data, names, types, skip_header, na_values)


def _arrow_csv(data: bytes, names: list[str], skip_header: bool, convert: pa_csv.ConvertOptions) -> pa.Table:
    # One thread: Arrow's thread pool gains nothing measurable on a 1000-row body here (BENCHMARKS.md), and a
    # row longer than its block ("straddling object") has aborted the process at exit with xgboost loaded.
    return pa_csv.read_csv(
        io.BytesIO(data),
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1 if skip_header else 0, use_threads=False),
        parse_options=pa_csv.ParseOptions(ignore_empty_lines=True),
        convert_options=convert,
    )


def _read_csv_as_text(data: bytes, names: list[str], types: dict, skip_header: bool, na_values: tuple[str, ...]) -> pa.Table:
    try:
        text = _arrow_csv(data, names, skip_header, pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), null_values=[], strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise _locate_csv_error(data, names, types, skip_header, frozenset(na_values)) from None
    na = pa.array(na_values, type=pa.string())
    columns = {}
    for name in names:
        cells = text.column(name)
        if types[name] == pa.string():
            columns[name] = cells  # levels: _encode reads missing and spaces as training did
            continue
        trimmed = pc.utf8_trim_whitespace(cells)
        if types[name] == pa.bool_():  # True and False as 1 and 0; numbers as they are
            lowered = pc.utf8_lower(trimmed)
            trimmed = pc.if_else(pc.equal(lowered, "true"), "1", pc.if_else(pc.equal(lowered, "false"), "0", trimmed))
        try:
            columns[name] = pc.cast(pc.if_else(pc.is_in(trimmed, value_set=na), pa.scalar(None, pa.string()), trimmed), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise _locate_csv_error(data, names, types, skip_header, frozenset(na_values)) from None
    return pa.table(columns)


def _locate_csv_error(data: bytes, names: list[str], types: dict, skip_header: bool, na_set: frozenset = NA_SET) -> RequestError:
    """Arrow refused the body: find the first row and column at fault, slowly, to say which."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), skipinitialspace=True)
    lines, read_up_to = [], 0
    try:
        for row in reader:
            read_up_to = reader.line_num
            if row:
                lines.append(row)
    except csv.Error:  # Python's csv stops a cell at 131,072 characters: a quote that opens one and never closes
        return RequestError(f"request body is not valid CSV: a quoted cell on line {read_up_to + 1} does not close "
                            "(a cell that starts with a quote ends with one)")
    vectors = names[0] == VECTOR_NAMES[0]
    for number, row in enumerate(lines[1:] if skip_header else lines, start=1):
        if len(row) != len(names):
            return RequestError(f"row {number} has {len(row)} values; every row needs {len(names)}"
                                + (", as row 1 has" if number > 1 else f" ({'features' if vectors else 'input columns'})"))
        for index, (name, cell) in enumerate(zip(names, row, strict=True)):
            if types[name] == pa.string() or cell.strip() in na_set or _parses_as_number(cell.strip()):
                continue
            where = f"feature {index}" if vectors else f"column {name!r}"
            if types[name] == pa.bool_():
                if cell.strip().lower() not in BOOLEAN_WORDS:
                    return _not_boolean(number, where, repr(cell))
                continue
            kind = "preprocessed features are numeric" if vectors else "the column is numeric (leave it empty when unknown)"
            return RequestError(f"row {number}, {where}: {cell!r} is not a number; {kind}")
    return RequestError("request body is not valid CSV: check quoting and line breaks")


def _csv_raw(data: bytes, prep: Preprocessing, names: list[str], skip_header: bool) -> np.ndarray:
    table = _read_csv(data, names, prep.raw_types, skip_header, prep.na_values)
    if not table.num_rows:
        raise RequestError("request has a header but no rows; send at least one row")
    return _encode(table, prep)


def _encode(table: pa.Table, prep: Preprocessing) -> np.ndarray:
    """Raw columns (numbers, level text; null is missing) straight into the feature matrix: numbers with their
    median where null (zero-copy when complete), each categorical column dictionary-encoded so only its distinct
    levels are looked up. Both request forms of raw rows, CSV and JSON records, come here."""
    rows = table.num_rows
    matrix = np.zeros((rows, len(prep.features)), dtype=np.float32)
    if prep.numeric:
        numbers = _numbers(table.select(prep.numeric))
        missing = np.isnan(numbers)  # null, and NaN (NAN, -NAN), which pandas' fillna fills too
        matrix[:, prep.numeric_columns] = np.where(missing, prep.median_row, numbers) if missing.any() else numbers
    every_row = np.arange(rows)
    for column in prep.categorical:
        levels = table.column(column).combine_chunks().dictionary_encode()
        missing = prep.level_position(column, MISSING_LEVEL)
        lookup = np.array([prep.level_position(column, category_text(level, prep.na_set)) for level in levels.dictionary.to_pylist()]
                          + [missing], dtype=np.intp)
        positions = lookup[levels.indices.fill_null(len(levels.dictionary)).to_numpy()]
        known = positions >= 0
        matrix[every_row[known], positions[known]] = 1.0
    return matrix


def _numbers(table: pa.Table) -> np.ndarray:
    """Numeric Arrow columns as one float64 array of rows, null as NaN, each record batch in one C++ pass
    (RecordBatch.to_tensor, column-major: Arrow's columns copied whole, twice as fast as row-major, and numpy
    reads either layout); booleans as 1 and 0."""
    if any(pa.types.is_boolean(kind) for kind in set(table.schema.types)):
        table = table.cast(pa.schema([(name, pa.float64()) for name in table.column_names]))
    parts = [batch.to_tensor(null_to_nan=True, row_major=False).to_numpy() for batch in table.to_batches() if batch.num_rows]
    return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty((0, table.num_columns))


def category_text(text: str | None, na_set: frozenset = NA_SET) -> str:
    """A cell of a categorical column as preprocess.py's pandas read it (skipinitialspace=True, then its NA
    spellings and the dataset's own, then str.strip()): the level text, or 'missing'."""
    return MISSING_LEVEL if text is None or text.lstrip(" ") in na_set else text.strip()


VECTOR_NAMES = [f"\x00feature {i}" for i in range(4096)]  # no input column can be called this


def _csv_vectors(data: bytes, width: int) -> np.ndarray:
    names = VECTOR_NAMES[:width] if width <= len(VECTOR_NAMES) else [f"\x00feature {i}" for i in range(width)]
    table = _read_csv(data, names, dict.fromkeys(names, pa.float64()), skip_header=False)
    return np.asarray(_numbers(table), dtype=np.float32, order="C")  # row-major, as XGBoost reads without a copy


def _json_records(rows: list[dict], prep: Preprocessing) -> np.ndarray:
    prep.check_columns(list(rows[0]))
    for number, row in enumerate(rows[1:], start=2):
        if row.keys() != rows[0].keys():
            extra = next((k for k in row if k not in rows[0]), None)
            missing = next((k for k in rows[0] if k not in row), None)
            raise RequestError(f"row {number}: " + (f"column {missing!r} is missing" if missing else f"column {extra!r} is not an input")
                               + "; every record needs the same input columns")
    columns = {}
    for column in prep.numeric:
        numbers = [_json_number(row[column], number, column, column in prep.booleans, prep.na_set)
                   for number, row in enumerate(rows, start=1)]
        columns[column] = pa.array(numbers, type=pa.float64(), from_pandas=True)  # NaN is null: the median
    for column in prep.categorical:
        cells = []
        for number, row in enumerate(rows, start=1):
            value = row[column]
            if (isinstance(value, bool) and column not in prep.boolean_levels) or isinstance(value, (list, dict)):
                raise RequestError(f"row {number}, column {column!r}: {json.dumps(value)} is not a level; send text or a number")
            cells.append(_level_text(value))
        columns[column] = pa.array(cells, type=pa.string())
    return _encode(pa.table(columns), prep)


def _level_text(value) -> str | None:
    """A JSON value of a categorical column as CSV text would carry it; None (NaN too) is missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)  # JSON 3.0 is "3.0", as in CSV; a column pandas read as numbers matches levels by value


def _json_number(value, number: int, column: str, boolean: bool = False, na_set: frozenset = NA_SET) -> float:
    if value is None:
        return math.nan
    if boolean and isinstance(value, bool):
        return float(value)
    if boolean and isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[value.strip().lower()]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        if boolean:
            raise _not_boolean(number, f"column {column!r}", json.dumps(value))
        raise RequestError(f"row {number}, column {column!r}: {json.dumps(value)} is not a number; the column is numeric")
    if isinstance(value, str):
        if value.strip() in na_set:
            return math.nan
        if not _parses_as_number(value.strip()):
            if boolean:
                raise _not_boolean(number, f"column {column!r}", repr(value))
            raise RequestError(f"row {number}, column {column!r}: {value!r} is not a number; the column is numeric")
        return float(value.strip())  # NaN (NAN, +nan) is missing: the median, as in CSV
    try:
        return float(value)
    except OverflowError:
        raise RequestError(f"row {number}, column {column!r}: {value} is too large for a 64-bit float") from None


def _not_boolean(number: int, where: str, shown: str) -> RequestError:
    """A cell of a column training read as booleans that is neither a boolean word nor a number (CSV and JSON alike)."""
    return RequestError(f"row {number}, {where}: {shown} is not true, false or a number; "
                        "the column is boolean (true or false in any case, 1 or 0)")


def _vectors(rows: list[list]) -> np.ndarray:
    try:
        return np.array([[math.nan if cell is None else _vector_cell(cell) for cell in row] for row in rows], dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        for number, row in enumerate(rows, start=1):
            for index, cell in enumerate(row):
                try:
                    _ = cell is None or _vector_cell(cell)
                except (TypeError, ValueError, OverflowError):
                    raise RequestError(f"row {number}, feature {index}: {json.dumps(cell)} is not a number; "
                                       "preprocessed features are numeric") from None
        raise


def _vector_cell(cell) -> float:
    """A JSON vector's value as a CSV vector's cell reads: a number, text Arrow reads as one, or an NA spelling (NaN)."""
    if isinstance(cell, bool):
        raise TypeError(cell)
    if isinstance(cell, str):
        if cell.strip() in NA_SET:
            return math.nan
        if not _parses_as_number(cell.strip()):
            raise ValueError(cell)
    return float(cell)


def _parses_as_number(text: str) -> bool:
    """Whether Arrow's and pandas' readers take this text as a number, NaN (which is missing) included."""
    return text.isascii() and "_" not in text and _float_or_none(text) is not None


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except (ValueError, OverflowError):
        return None


def _as_float(value) -> float | None:
    """A number as Arrow's and pandas' readers take it: Python's float() without what only it accepts (digits
    of other scripts, underscores between digits); None otherwise and for NaN."""
    if isinstance(value, str) and (not value.isascii() or "_" in value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if not math.isnan(number) else None


# -- prediction and answer --------------------------------------------------------------------
def predict_fn(payload, model: Model):
    if isinstance(payload, RequestError):
        return payload
    try:
        matrix = features(payload, model)
    except RequestError as error:
        return _refuse(error)
    return model.booster.inplace_predict(matrix)


def output_fn(predictions, accept: str | None = CSV):
    if isinstance(predictions, RequestError):
        return _container_answer(predictions)
    kind = negotiate(accept)
    # Every float32 score reads back exactly (CSV: the fewest digits that do; JSON: 9 significant digits), so
    # scores near each other (a model of many shallow trees) are not tied by rounding, and an AUC from
    # served scores is the report's.
    if kind == CSV:
        return _csv_scores(predictions), CSV
    if kind == JSON:
        return json.dumps({"predictions": [float(f"{p:.9g}") for p in predictions.tolist()]}), JSON
    return _container_answer(_refuse(RequestError(f"accept type {accept!r} is not supported; ask for {CSV} or {JSON}", 406)))


def _csv_scores(predictions: np.ndarray) -> str:
    """One score a line, each with the fewest digits that read back as the same float32 (Arrow's
    float-to-string cast, in C++: a third of the time Python's formatting takes for 1000 scores)."""
    text = pc.cast(pa.array(np.asarray(predictions, dtype=np.float32)), pa.string())
    lines = pa.ListArray.from_arrays(pa.array([0, len(text)], type=pa.int32()), text)
    return pc.binary_join(lines, "\n")[0].as_py() + "\n"


def _container_answer(error: RequestError):
    return ContainerResponse(response=error.to_json(), status=error.status, mimetype=JSON)
