"""Endpoints take the business's own rows: every bundled model, trained as the pipeline trains it, answers
raw rows (CSV with or without a header, JSON records) exactly as it answers the preprocessed rows they
become, and refuses a missing, extra or mistyped column with a 400 that names it.

preprocess.py runs with each model's dataset config; train.py runs as SageMaker starts it, with the
metadata channel the pipeline gives it, and puts the fitted preprocessing into the model. The raw rows
are preprocess.py's raw-test split (the test rows as they arrived), the vectors its test split.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import load_environment
from tests.helpers.containers import sm_env
from tests.helpers.paths import CONFIG_DIR, SCRIPTS

import inference
import preprocess
import serve

DEV = load_environment(CONFIG_DIR / "dev.yaml")


@pytest.fixture(scope="module", params=list(DEV.models))
def trained(request, tmp_path_factory) -> dict:
    model = DEV.models[request.param]
    data = model.dataset
    root = tmp_path_factory.mktemp(request.param)
    raw = root / "raw"
    raw.mkdir()
    assert data.source.path is not None
    shutil.copy(data.source.path, raw / data.source.file_name)
    splits = root / "splits"
    with contextlib.redirect_stdout(io.StringIO()):
        preprocess.main(["--input-dir", str(raw), "--output-dir", str(splits), "--label-column", data.label_column,
                         "--positive-label", data.positive_label, "--categorical-columns", ",".join(data.categorical_columns),
                         "--drop-columns", ",".join(data.drop_columns)])
    env = sm_env(root, splits / "train", splits / "validation", SM_CHANNEL_METADATA=str(splits / "metadata"))
    subprocess.run([sys.executable, "train.py", "--num_round", "30", "--early_stopping_rounds", "0", "--max_depth", "4"],
                   cwd=SCRIPTS, env={**os.environ, **env}, check=True, capture_output=True, timeout=180)
    spec = json.loads((splits / "metadata" / "features.json").read_text())
    columns = [c["name"] for c in spec["columns"]]
    raw_rows = [row[1:] for row in csv.reader(io.StringIO((splits / "raw-test" / "raw-test.csv").read_text())) if row]
    vectors = np.loadtxt(splits / "test" / "test.csv", delimiter=",", ndmin=2)[:, 1:]
    return {"name": request.param, "model_dir": root / "model", "model": inference.model_fn(str(root / "model")),
            "spec": spec, "columns": columns, "raw": raw_rows, "vectors": vectors, "config": model, "splits": splits}


def predict(model, body: bytes | str, content_type: str = "text/csv") -> np.ndarray:
    return np.asarray(inference.predict_fn(inference.input_fn(body, content_type), model))


def csv_text(rows: list[list[str]], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def vector_body(vectors: np.ndarray) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in vectors)


def refusal(model, body, content_type: str = "text/csv") -> str:
    with pytest.raises(inference.RequestError) as error:
        predict(model, body, content_type)
    assert error.value.status == 400
    return error.value.message


def test_the_model_archive_carries_the_fitted_preprocessing(trained):
    shipped = json.loads((trained["model_dir"] / inference.PREPROCESSING_FILE).read_text())
    assert shipped == trained["spec"]
    data = trained["config"].dataset
    assert set(trained["columns"]).isdisjoint({data.label_column, *data.drop_columns})
    kinds = {c["name"]: c["kind"] for c in shipped["columns"]}
    assert all(kinds[c] == "categorical" for c in data.categorical_columns)
    assert shipped["dropped_columns"] == data.drop_columns and shipped["medians"] and shipped["categories"]


def test_raw_rows_predict_exactly_what_their_preprocessed_rows_predict(trained):
    model, raw, columns = trained["model"], trained["raw"], trained["columns"]
    expected = predict(model, vector_body(trained["vectors"]))
    assert len(expected) == len(raw) == len(trained["vectors"])
    np.testing.assert_array_equal(predict(model, csv_text(raw)), expected)  # no header: the dataset's column order
    order = list(reversed(range(len(columns))))  # a header: columns by name, in any order
    np.testing.assert_array_equal(predict(model, csv_text([[r[i] for i in order] for r in raw], [columns[i] for i in order])),
                                  expected)
    frame = pd.read_csv(io.StringIO(csv_text(raw, columns)), dtype=str, keep_default_na=False)
    records = [{k: (None if v == "" else v) for k, v in row.items()} for row in frame.to_dict("records")]
    np.testing.assert_array_equal(predict(model, json.dumps({"instances": records}), "application/json"), expected)
    typed = pd.read_csv(io.StringIO(csv_text(raw, columns))).astype(object).where(lambda f: f.notna(), None)
    np.testing.assert_array_equal(predict(model, json.dumps(typed.to_dict("records")), "application/json"), expected)


def test_the_json_forms_clients_send_predict_as_their_raw_rows(trained):
    """What client code sends besides records and instances: pandas' to_json(orient="split") (columns in any
    order, its index ignored); one row as a flat list, as the SageMaker SDK's JSONSerializer sends a 1-D list or
    array (sagemaker.base_serializers.JSONSerializer: json.dumps of the data as given); and the common request
    format of SageMaker's algorithms, {"instances": [{"features": [...]}]} ("Common data formats for inference",
    docs.aws.amazon.com/sagemaker/latest/dg/cdf-inference.html), whose values are a raw row or a vector."""
    model, raw, columns = trained["model"], trained["raw"], trained["columns"]
    expected = predict(model, vector_body(trained["vectors"]))
    frame = pd.read_csv(io.StringIO(csv_text(raw, columns)))[columns[::-1]]
    split = frame.to_json(orient="split")
    assert json.loads(split).keys() == {"columns", "index", "data"}
    np.testing.assert_array_equal(predict(model, split, "application/json"), expected)
    np.testing.assert_array_equal(predict(model, frame.to_json(orient="split", index=False), "application/json"), expected)
    first = json.loads(frame[columns].iloc[:1].to_json(orient="values"))[0]
    assert not any(isinstance(v, list) for v in first)
    np.testing.assert_array_equal(predict(model, json.dumps(first), "application/json"), expected[:1])
    np.testing.assert_array_equal(predict(model, json.dumps(trained["vectors"][0].tolist()), "application/json"), expected[:1])
    rows = json.loads(frame[columns].iloc[:5].to_json(orient="values"))
    features = {"instances": [{"features": row} for row in rows]}
    np.testing.assert_array_equal(predict(model, json.dumps(features), "application/json"), expected[:5])
    vectors = {"instances": [{"features": row} for row in trained["vectors"][:5].tolist()]}
    np.testing.assert_array_equal(predict(model, json.dumps(vectors), "application/json"), expected[:5])
    # A split body that is not one is refused, saying what is wrong, not misread; the monitor's record preprocessor
    # skips each (it reads what the endpoint answered, and nothing else).
    monitor = monitor_preprocessor(trained["splits"])
    refused = {
        json.dumps({"columns": columns, "data": [rows[0][:-1]]}): f'orient="split" JSON: data row 1 has {len(columns) - 1} '
                                                                   f'values; "columns" names {len(columns)}',
        json.dumps({"columns": list(range(len(columns))), "data": [rows[0]]}): 'orient="split" JSON: "columns" must be the '
                                                                              "input columns' names",
        json.dumps({"columns": [columns[0], *columns], "data": [[rows[0][0], *rows[0]]]}):
            f"column {columns[0]!r} appears twice; send each input column once",
        # In "instances", values are rows (TF Serving's reading): a flat list there is not one row.
        json.dumps({"instances": rows[0]}): 'JSON body must be {"instances": [...]} or a list',
    }
    for body, message in refused.items():
        assert refusal(model, body, "application/json").startswith(message), body
        assert monitor.preprocess_handler(captured(body, "application/json")) == [], body


def test_raw_rows_over_http_through_serve_py_with_the_models_own_code(trained):
    server = serve.start(str(trained["model_dir"]))
    try:
        import urllib3

        body = csv_text(trained["raw"][:50], trained["columns"]).encode()
        answer = urllib3.PoolManager().request("POST", f"{server.url}/invocations", body=body,
                                               headers={"Content-Type": "text/csv", "Accept": "application/json"})
        assert answer.status == 200
        expected = predict(trained["model"], vector_body(trained["vectors"][:50]))
        np.testing.assert_allclose(json.loads(answer.data)["predictions"], expected, rtol=1e-7)
        bad = urllib3.PoolManager().request("POST", f"{server.url}/invocations", body=b"1,2,3", headers={"Content-Type": "text/csv"})
        assert bad.status == 400 and f"{len(trained['columns'])} input columns" in json.loads(bad.data)["message"]
    finally:
        server.shutdown()
        server.server_close()


def test_missing_values_and_unseen_levels_are_handled_as_in_training(trained):
    model, spec, columns = trained["model"], trained["spec"], trained["columns"]
    numeric = next(c["name"] for c in spec["columns"] if c["kind"] == "numeric")
    categorical = next(c["name"] for c in spec["columns"] if c["kind"] == "categorical")
    row = list(trained["raw"][0])
    row[columns.index(numeric)] = ""  # missing: the training split's median
    row[columns.index(categorical)] = "a level never seen"  # unseen: all of the column's one-hot features 0
    vector = trained["vectors"][0].copy()
    features = spec["features"]
    vector[features.index(numeric)] = spec["medians"][numeric]
    for i, name in enumerate(features):
        if name.startswith(f"{categorical}="):
            vector[i] = 0.0
    np.testing.assert_array_equal(predict(model, csv_text([row])), predict(model, vector_body(vector[None, :])))
    missing_level = list(trained["raw"][0])
    missing_level[columns.index(categorical)] = "NA"  # pandas' NA spelling: training's 'missing' level
    record = dict(zip(columns, missing_level, strict=True))
    record[categorical] = None
    assert predict(model, csv_text([missing_level])) == pytest.approx(predict(model, json.dumps([record]), "application/json"))


def test_a_missing_extra_or_mistyped_column_is_a_400_that_names_it(trained):
    model, columns, raw = trained["model"], trained["columns"], trained["raw"]
    data, spec = trained["config"].dataset, trained["spec"]
    numeric = next(c["name"] for c in spec["columns"] if c["kind"] == "numeric")
    assert refusal(model, csv_text([r[1:] for r in raw[:3]], columns[1:])).startswith(f"column {columns[0]!r} is missing")
    with_label = csv_text([[*r, "1"] for r in raw[:3]], [*columns, data.label_column])
    assert refusal(model, with_label) == f"column {data.label_column!r} is the label; send the input columns only, without it"
    typo = [*columns[:-1], columns[-1] + "x"]
    assert refusal(model, csv_text(raw[:3], typo)).startswith(f"column {typo[-1]!r} is not an input of this model; did you mean {columns[-1]!r}?")
    bad = [list(r) for r in raw[:3]]
    bad[1][columns.index(numeric)] = "lots"
    assert refusal(model, csv_text(bad)) == (f"row 2, column {numeric!r}: 'lots' is not a number; the column is numeric "
                                             "(leave it empty when unknown)")
    record = dict(zip(columns, raw[0], strict=True))
    assert refusal(model, json.dumps([{**record, numeric: True}]), "application/json").startswith(f"row 1, column {numeric!r}: true")
    del record[columns[-1]]
    assert refusal(model, json.dumps([record]), "application/json").startswith(f"column {columns[-1]!r} is missing")
    message = refusal(model, csv_text([r[:-1] for r in raw[:2]]))
    assert message == (f"rows have {len(columns) - 1} values; this model takes {model.accepted()} (no label)")
    # A header whose every name is wrong reads as a first row of text: the refusal says what a header must name.
    wrong_names = [f"Col {n}" for n in range(len(columns))]
    message = refusal(model, csv_text(raw[:2], wrong_names))
    assert re.match(r"row 1, column '[^']+': 'Col \d+' is not a number; the column is numeric", message), message
    assert message.endswith(", in any order)") and "If the first line is a header, it names none of this model's input " \
        f"columns (allowed: {', '.join(columns[:10])}" in message
    if data.drop_columns:
        dropped = [*columns, data.drop_columns[0]]
        assert "dropped in training" in refusal(model, csv_text([[*r, "0"] for r in raw[:2]], dropped))


def test_na_spellings_are_pandas_own():
    """A cell training read as missing (pandas.read_csv's default NA values) is missing when served."""
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(inference.NA_VALUES) == set(STR_NA_VALUES)


def test_a_model_without_preprocessing_still_serves_vectors_and_says_why_records_fail(trained, tmp_path):
    legacy = tmp_path / "model"
    shutil.copytree(trained["model_dir"], legacy)
    (legacy / inference.PREPROCESSING_FILE).unlink()
    model = inference.model_fn(str(legacy))
    np.testing.assert_array_equal(predict(model, vector_body(trained["vectors"][:5])),
                                  predict(trained["model"], vector_body(trained["vectors"][:5])))
    record = dict(zip(trained["columns"], trained["raw"][0], strict=True))
    assert "has no preprocessing.json" in refusal(model, json.dumps([record]), "application/json")
    assert Path(legacy / "code" / "inference.py").is_file()


def small_model(directory: Path) -> inference.Model:
    """A model of three input columns (age, city, income) whose one-hot level contains a comma."""
    import xgboost as xgb

    spec = {"features": ["age", "income", "city=Paris, FR", "city=Rome", "city=missing"],
            "columns": [{"name": "age", "kind": "numeric"}, {"name": "city", "kind": "categorical"}, {"name": "income", "kind": "numeric"}],
            "medians": {"age": 40.0, "income": 1000.0}, "categories": {"city": ["Paris, FR", "Rome", "missing"]},
            "label": {"column": "bought"}, "dropped_columns": []}
    x = np.random.default_rng(0).random((100, 5))
    xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 3).save_model(
        str(directory / inference.MODEL_FILE))
    (directory / inference.PREPROCESSING_FILE).write_text(json.dumps(spec))
    return inference.model_fn(str(directory))


def test_text_as_spreadsheets_and_clients_write_it(tmp_path):
    """Quoted levels with commas, CRLF line ends, blank lines, spaces around fields, a UTF-8 byte-order mark
    (Excel's "CSV UTF-8"), JSON numbers as text: each reads as the row it is."""
    model = small_model(tmp_path)

    def matrix(body: str, content_type: str = "text/csv") -> list:
        return inference.features(inference.parse(body.encode("utf-8"), content_type), model).tolist()

    paris, rome, missing = [41.0, 52000.0, 1.0, 0.0, 0.0], [30.0, 1000.0, 0.0, 1.0, 0.0], [41.0, 5.0, 0.0, 0.0, 1.0]
    assert matrix('age,city,income\n41,"Paris, FR",52000\n') == [paris]
    assert matrix('41,"Paris, FR",52000\r\n\r\n30,Rome,\r\n') == [paris, rome]
    assert matrix('age,city,income\r41,"Paris, FR",52000\r30,Rome,\r') == [paris, rome]  # old Mac line ends
    assert matrix('\ufeff age , city , income\n 30 , Rome ,\n') == [rome]
    assert matrix("41,,5\n") == [missing]
    assert matrix(json.dumps([{"age": "41", "city": None, "income": 5}]), "application/json") == [missing]


def test_features_land_where_the_models_feature_order_puts_them(tmp_path):
    """preprocess.py lists the numeric features first, which the encoder copies as one slice; a model whose
    features.json orders them otherwise (another preprocessing script, an older layout) still gets each value
    in its own feature, from CSV with and without a header and from JSON records."""
    small_model(tmp_path)
    spec = json.loads((tmp_path / inference.PREPROCESSING_FILE).read_text())
    spec["features"] = ["city=Rome", "income", "city=missing", "age", "city=Paris, FR"]
    (tmp_path / inference.PREPROCESSING_FILE).write_text(json.dumps(spec))
    model = inference.model_fn(str(tmp_path))
    assert model.preprocessing is not None and not isinstance(model.preprocessing.numeric_columns, slice)
    expected = [[1.0, 52000.0, 0.0, 41.0, 0.0], [0.0, 1000.0, 1.0, 30.0, 0.0]]  # income's median where it is missing
    for body, kind in (("41,Rome,52000\n30,,\n", "text/csv"), ("income,age,city\n52000,41,Rome\n,30,\n", "text/csv"),
                       (json.dumps([{"age": 41, "city": "Rome", "income": 52000}, {"age": 30, "city": None, "income": None}]),
                        "application/json")):
        assert inference.features(inference.parse(body.encode(), kind), model).tolist() == expected, body
    (tmp_path / "as-preprocess-writes-it").mkdir()
    usual = small_model(tmp_path / "as-preprocess-writes-it").preprocessing
    assert usual is not None and isinstance(usual.numeric_columns, slice)


@pytest.mark.parametrize(("body", "message"), [
    ("AGE,CITY,INCOME\n41,Rome,5\n", "column 'AGE' is not an input of this model; did you mean 'age' (names are case-sensitive)?"),
    ("age,City,income\n41,Rome,5\n", "column 'City' is not an input of this model; did you mean 'city' (names are case-sensitive)?"),
    ("age,city,income\n", "request has a header but no rows; send at least one row"),
    ("age,city,income\r\n\r\n", "request has a header but no rows; send at least one row"),
    ("41;Rome;5\n", "rows have 1 value: separate values with commas, not ';' (this model takes the 3 input columns"),
    ("41\tRome\t5\n", "rows have 1 value: separate values with commas, not '\\t' (this model takes the 3 input columns"),
    ("41,5;Rome;5\n", "rows have 2 values: separate values with commas, not ';'"),  # a decimal-comma export
    ("41,Rome,5\r42,Rome,lots\r", "row 2, column 'income': 'lots' is not a number"),
    ("age,city,income\n41,Rome,5,9\n", "row 1 has 4 values; every row needs 3 (input columns)"),  # not "as row 1 has"
    ("41,Rome,5,\n", "rows have 4 values; this model takes the 3 input columns (age, city, income) or 5 preprocessed features"),
    # pandas' to_csv() with its index: an empty or an index's name first, then every input column
    (",age,city,income\n0,41,Rome,5\n", "the first column, '', is not an input of this model and the others are all of "
     "them: a DataFrame's index? Send to_csv(index=False)"),
    ("id,age,city,income\n7,41,Rome,5\n", "the first column, 'id', is not an input of this model and the others are all"),
    ("bought,age,city,income\n1,41,Rome,5\n", "column 'bought' is the label; send the input columns only, without it"),
    ("41,age,5\n", "column '41' is not an input of this model (it takes the 3 input columns (age, city, income)). "
                    "The first line is read as a header because it names column 'age'; send a header line first"),
    # A quote that never closes, before more than Python's csv takes in one cell (131,072 characters): a 400, not a crash.
    ("41,Rome,5\n\"42,Rome," + "5\n42,Rome," * 20000 + "5\n", "request body is not valid CSV: a quoted cell on line 2 does "
     "not close (a cell that starts with a quote ends with one)"),
    ("\"41,Rome,5\n" + "42,Rome,5\n" * 20000, "rows have 1 value"),
    (' "41,Rome,5\n' + "42,Rome,5\n" * 20000, "rows have 1 value"),
])
def test_common_csv_mistakes_get_a_400_that_says_what_to_fix(tmp_path, body, message):
    """A header in another case is not read as a row of values (which would blame a value), a header alone
    is not "invalid CSV", and a semicolon- or tab-separated file (a spreadsheet's other export) is named."""
    with pytest.raises(inference.RequestError) as refused:
        inference.features(inference.parse(body.encode(), "text/csv"), small_model(tmp_path))
    assert refused.value.status == 400 and refused.value.message.startswith(message)


def test_a_row_of_values_is_not_taken_for_a_header_in_another_case(tmp_path):
    """Only a line whose every field names an input column but for case counts as a mis-cased header: a level
    that happens to spell a column name leaves the row a row."""
    model = small_model(tmp_path)
    (tmp_path / "other").mkdir()
    spec = json.loads((tmp_path / inference.PREPROCESSING_FILE).read_text())
    spec["categories"]["city"] = ["Paris, FR", "Age", "missing"]
    spec["features"][3] = "city=Age"
    (tmp_path / "other" / inference.PREPROCESSING_FILE).write_text(json.dumps(spec))
    shutil.copy(tmp_path / inference.MODEL_FILE, tmp_path / "other" / inference.MODEL_FILE)
    model = inference.model_fn(str(tmp_path / "other"))
    assert inference.features(inference.parse(b"41,Age,5\n", "text/csv"), model).tolist() == [[41.0, 5.0, 0.0, 1.0, 0.0]]


@pytest.fixture(scope="module")
def tricky(tmp_path_factory) -> dict:
    """preprocess.py on a dataset the bundled ones lack: a numeric column with missing values, an int-coded
    categorical with missing values (pandas reads it as floats: levels '1.0', ...), a text categorical whose
    levels include a number, accents and spaces, NA spellings, a True/False column with missing values (pandas
    reads it as booleans), and a booster over its features."""
    import xgboost as xgb

    root = tmp_path_factory.mktemp("tricky")
    (root / "raw").mkdir()
    rng = np.random.default_rng(3)
    cities = ["Paris", "Zürich", "3", "Rome", "x y", "NA"]
    lines = ["size,grade,city,member,bought"]
    for i in range(300):
        size = "" if i % 11 == 0 else str(int(rng.integers(1, 90)))
        grade = "" if i % 7 == 0 else str(int(rng.integers(1, 5)))
        member = "" if i % 13 == 0 else ("True" if rng.random() < 0.3 else "False")
        lines.append(f"{size},{grade},{cities[i % len(cities)]},{member},{'yes' if rng.random() < 0.4 else 'no'}")
    (root / "raw" / "data.csv").write_text("\n".join(lines) + "\n")
    splits = root / "splits"
    with contextlib.redirect_stdout(io.StringIO()):
        preprocess.main(["--input-dir", str(root / "raw"), "--output-dir", str(splits), "--label-column", "bought",
                         "--positive-label", "yes", "--categorical-columns", "grade"])
    spec = json.loads((splits / "metadata" / "features.json").read_text())
    model_dir = root / "model"
    model_dir.mkdir()
    x = np.random.default_rng(0).random((50, len(spec["features"])))
    xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 2).save_model(
        str(model_dir / inference.MODEL_FILE))
    (model_dir / inference.PREPROCESSING_FILE).write_text(json.dumps(spec))
    train = pd.read_csv(root / "raw" / "data.csv", skipinitialspace=True).drop(columns=["bought"])
    encoder = preprocess.FeatureEncoder(train, ["grade"])  # the kinds of the whole file; the split's figures:
    encoder.medians, encoder.categories = spec["medians"], spec["categories"]
    return {"model": inference.model_fn(str(model_dir)), "spec": spec, "encoder": encoder, "dtypes": train.dtypes.to_dict(),
            "splits": splits}


def test_the_tricky_columns_are_described_as_pandas_read_them(tricky):
    kinds = {c["name"]: (c["kind"], c.get("values")) for c in tricky["spec"]["columns"]}
    assert kinds == {"size": ("numeric", None), "grade": ("categorical", "numbers"), "city": ("categorical", "text"),
                     "member": ("numeric", "booleans")}
    assert tricky["spec"]["categories"]["grade"] == ["1.0", "2.0", "3.0", "4.0", "missing"]
    assert "missing" in tricky["spec"]["categories"]["city"] and "NA" not in tricky["spec"]["categories"]["city"]


# Request rows (size, grade, city) and what each shows. The reference is preprocess.py's own encoder on what
# pandas reads from the same text with the training split's column types (read_csv, skipinitialspace=True,
# as preprocess.read_raw reads): the encoding the model was trained behind.
TRICKY_ROWS = [
    ("12,2,Paris,True", "plain"),
    (" 12 , 2 , Rome , False", "spaces around numbers, levels and booleans"),
    (" NA,2,Paris,TRUE", "an NA spelling after a space is missing (pandas' skipinitialspace); TRUE is True"),
    ("12,,NA,", "empty and NA: the median, the 'missing' level, the median"),
    ("12,2, NA,false", "a level NA after a space is missing"),
    ("12,2,NAN,NA", "NAN is not one of pandas' NA spellings: an unseen level"),
    ("NAN,2,Paris,1", "NAN in a numeric column reads as NaN: the median; 1 in a boolean column is 1"),
    ("12,3.0,3,0", "an int-coded level as 3.0 is the level 3.0; the text level 3 is itself"),
    ("12,3,3.0,True", "int-coded 3 is the level 3.0 by value; text 3.0 is not the level 3"),
    ("1e2,4,Zürich,False", "exponent notation, a non-ASCII level"),
    ("12,9,Oslo,True", "levels training never saw: all zeros"),
    ("inf,1,x y,False", "inf stays inf, as pandas reads it"),
    ('12, "2", "Paris", True', "quoted cells after a space, as some clients write: the spaces skipped, then read quoted"),
    (' "12",2, "x y",False', "a quoted number after a space at the start of a line"),
    ('12,2, "Paris, France",True', "a quoted comma after a space stays in its cell: an unseen level"),
    ('12,"3","Zürich","False"', "every cell quoted"),
    ('12,2,"Par\nis",True', "a line break in a quoted cell: an unseen level, one row"),
]


def test_each_cell_is_read_as_training_read_it(tricky):
    """The CSV reader (Arrow, typed, or cell by cell as text where the typed pass fails) against pandas and the
    training encoder, row by row."""
    header = "size,grade,city,member"
    for line, why in TRICKY_ROWS:
        # The categorical columns as training typed them; the numeric ones as pandas reads the cell (the encoder
        # coerces whatever it finds: NAN stays text and becomes NaN, True a boolean and 1).
        frame = pd.read_csv(io.StringIO(f"{header}\n{line}\n"), skipinitialspace=True,
                            dtype={c: tricky["dtypes"][c] for c in ("grade", "city")})
        expected = tricky["encoder"].transform(frame).to_numpy(np.float32)
        served = inference.features(inference.parse(line.encode(), "text/csv"), tricky["model"])
        assert served.tolist() == expected.tolist(), f"{line!r}: {why}"
    body = "\n".join(line for line, _ in TRICKY_ROWS).encode()
    whole = inference.features(inference.parse(body, "text/csv"), tricky["model"])
    each = np.vstack([inference.features(inference.parse(line.encode(), "text/csv"), tricky["model"]) for line, _ in TRICKY_ROWS])
    assert whole.tolist() == each.tolist()  # one body takes the text pass for all rows; the same answers


def test_a_boolean_column_takes_pandas_spellings_and_numbers_and_refuses_the_rest(tricky):
    """What pandas reads as booleans (true and false in any case: checked against the installed pandas) is 1
    and 0 in a column training read as booleans; raw-test's own rows (True/False as pandas writes them) are
    served; 'yes' is a 400."""
    spellings = ["True", "TRUE", "true", "tRuE", "False", "FALSE", "false", "fAlSe"]
    parsed = pd.read_csv(io.StringIO("b\n" + "\n".join(spellings) + "\n"))["b"]
    assert parsed.dtype == bool and parsed.tolist() == [inference.BOOLEAN_WORDS[w.lower()] == 1 for w in spellings]
    for other in ("yes", "T", "t", "1", "on"):  # nothing else is a boolean to pandas
        assert pd.read_csv(io.StringIO(f"b\n{other}\nTrue\n"))["b"].dtype != bool
    model = tricky["model"]
    mixed = inference.features(inference.parse("\n".join(f"12,2,Rome,{w}" for w in spellings).encode(), "text/csv"), model)
    member = tricky["spec"]["features"].index("member")
    assert mixed[:, member].tolist() == [1.0] * 4 + [0.0] * 4
    with pytest.raises(inference.RequestError) as refused:
        inference.features(inference.parse(b"12,2,Rome,yes\n", "text/csv"), model)
    assert refused.value.message == ("row 1, column 'member': 'yes' is not true, false or a number; "
                                     "the column is boolean (true or false in any case, 1 or 0)")
    for value, shown in (("yes", "'yes'"), ([1], "[1]")):  # JSON records are refused in the same words
        record = json.dumps([{"size": 12, "grade": 2, "city": "Rome", "member": value}]).encode()
        with pytest.raises(inference.RequestError) as refused:
            inference.features(inference.parse(record, "application/json"), model)
        assert refused.value.message == (f"row 1, column 'member': {shown} is not true, false or a number; "
                                         "the column is boolean (true or false in any case, 1 or 0)")
    raw_test = (tricky["splits"] / "raw-test" / "raw-test.csv").read_text()
    assert "True" in raw_test
    rows = [line.split(",", 1)[1] for line in raw_test.splitlines() if line]
    served = inference.features(inference.parse("\n".join(rows).encode(), "text/csv"), model)
    test = np.loadtxt(tricky["splits"] / "test" / "test.csv", delimiter=",", ndmin=2)[:, 1:]
    np.testing.assert_array_equal(served, test.astype(np.float32))
    monitor = monitor_preprocessor(tricky["splits"])  # the monitor sees 1 and 0, as the baseline has them
    assert [monitor.preprocess_handler(captured(f"12,2,Rome,{w}"))[0]["member"] for w in ("tRUE", "false")] == [1, 0]
    assert monitor.preprocess_handler(captured("true,2,Rome,True"))[0]["size"] == "true"  # not boolean: for the type check
    assert monitor.preprocess_handler(captured(json.dumps([{"size": 1, "grade": 1, "city": "x", "member": True}]),
                                               "application/json"))[0]["member"] == 1


def test_the_monitor_reads_a_json_number_in_a_text_column_as_the_endpoint_does(tricky):
    """JSON 3.0 in the text column 'city' (levels '3' and 'Paris'...) is the text '3.0' to the endpoint, as a CSV cell 3.0
    is: not the level '3'. The monitor records what the endpoint read, so drift counts it where the model did."""
    model, monitor = tricky["model"], monitor_preprocessor(tricky["splits"])
    for value in (3.0, 3, "3"):
        record = {"size": 12, "grade": 2, "city": value, "member": True}
        recorded = monitor.preprocess_handler(captured(json.dumps([record]), "application/json"))[0]["city"]
        assert recorded == inference._level_text(value) == str(value)
        as_json = inference.features(inference.parse(json.dumps([record]).encode(), "application/json"), model)
        as_csv = inference.features(inference.parse(f"12,2,{recorded},True".encode(), "text/csv"), model)
        assert as_json.tolist() == as_csv.tolist()


def test_raw_test_keeps_float_coded_levels_whole_so_batch_transform_reads_what_evaluate_read(tmp_path):
    """raw-test is written with the splits' %.10g float format; an int-coded categorical with missing values is
    float to pandas, and 12345678901.0 under %.10g would be 1.23456789e+10: a level training never saw. Its
    rows must encode to exactly the test split's rows, or batch transform would score other rows than Evaluate."""
    rng = np.random.default_rng(5)
    codes = ["12345678901", "12345678902", "98765432109", ""]
    splits, spec, model = preprocessed(tmp_path, [f"{rng.random() * 1000:.6f},{codes[i % 4]}" for i in range(120)], "amount,code", "code")
    assert "code=12345678901.0" in spec["features"]
    rows = [line.split(",", 1)[1] for line in (splits / "raw-test" / "raw-test.csv").read_text().splitlines() if line]
    served = inference.features(inference.parse("\n".join(rows).encode(), "text/csv"), model)
    test = np.loadtxt(splits / "test" / "test.csv", delimiter=",", ndmin=2)[:, 1:]
    np.testing.assert_array_equal(served, test.astype(np.float32))


def test_a_true_false_column_listed_as_categorical_takes_what_pandas_reads_as_true_and_false(tmp_path):
    """Its levels are the text of pandas' booleans, True and False; true or FALSE (pandas reads them as booleans)
    and JSON true are those levels, not unseen ones."""
    splits, spec, model = preprocessed(tmp_path, [f"{i % 50},{['True', 'False', ''][i % 3]}" for i in range(120)], "age,member", "member")
    assert {"name": "member", "kind": "categorical", "values": "booleans"} in spec["columns"]
    assert spec["categories"]["member"] == ["False", "True", "missing"]

    def matrix(body: str, content_type: str = "text/csv") -> list:
        return inference.features(inference.parse(body.encode(), content_type), model).tolist()

    true, false = matrix("3,True\n")[0], matrix("3,False\n")[0]
    assert true != false and matrix("3,tRUE\n3,false\n") == [true, false]
    assert matrix(json.dumps([{"age": 3, "member": True}, {"age": 3, "member": "FALSE"}]), "application/json") == [true, false]


def preprocessed(directory: Path, rows: list[str], header: str, categorical: str) -> tuple[Path, dict, inference.Model]:
    """preprocess.py on these rows (a label is added) and a model over its features, as the pipeline would make."""
    import xgboost as xgb

    (directory / "raw").mkdir()
    labelled = [f"{row},{'y' if i % 3 else 'n'}" for i, row in enumerate(rows)]
    (directory / "raw" / "data.csv").write_text("\n".join([f"{header},bought", *labelled]) + "\n")
    splits = directory / "splits"
    with contextlib.redirect_stdout(io.StringIO()):
        preprocess.main(["--input-dir", str(directory / "raw"), "--output-dir", str(splits), "--label-column", "bought",
                         "--positive-label", "y", "--categorical-columns", categorical])
    spec = json.loads((splits / "metadata" / "features.json").read_text())
    (directory / "model").mkdir()
    x = np.random.default_rng(0).random((20, len(spec["features"])))
    xgb.train({"nthread": 1}, xgb.DMatrix(x, label=x[:, 0]), 1).save_model(str(directory / "model" / inference.MODEL_FILE))
    (directory / "model" / inference.PREPROCESSING_FILE).write_text(json.dumps(spec))
    return splits, spec, inference.model_fn(str(directory / "model"))


def test_json_records_read_nan_null_and_numbers_as_csv_does(tricky):
    model = tricky["model"]

    def matrix(records: list) -> list:
        return inference.features(inference.parse(json.dumps(records).encode(), "application/json"), model).tolist()

    def csv_matrix(line: str) -> list:
        return inference.features(inference.parse(line.encode(), "text/csv"), model).tolist()

    assert matrix([{"size": float("nan"), "grade": float("nan"), "city": float("nan"), "member": float("nan")}]) == csv_matrix(",,,")
    assert matrix([{"size": None, "grade": 3.0, "city": " NA", "member": True}]) == csv_matrix(",3, NA,True")
    assert matrix([{"size": " 12 ", "grade": "3", "city": 3, "member": "false"}]) == csv_matrix("12,3,3,false")
    assert matrix([{"size": 12, "grade": 3, "city": "3.0", "member": 0}]) == csv_matrix("12,3,3.0,0")
    assert matrix([{"size": 12, "grade": 3.0, "city": 3.0, "member": 0}]) == csv_matrix("12,3.0,3.0,0")
    assert matrix([{"size": "NAN", "grade": 1, "city": "x y", "member": "+nan"}]) == csv_matrix("NAN,1,x y,+nan")


def test_json_vectors_read_their_cells_as_csv_vectors_do(trained):
    """NA spellings are missing and only what Arrow reads is a number, in a JSON list as in a CSV row."""
    model, vector = trained["model"], [float(v) for v in trained["vectors"][0]]
    as_csv = inference.features(inference.parse(",".join(["NA", *map(repr, vector[1:])]).encode(), "text/csv"), model)
    as_json = inference.features(inference.parse(json.dumps([["NA", *vector[1:]]]).encode(), "application/json"), model)
    np.testing.assert_array_equal(as_json, as_csv)
    for bad in ("1_000", "١٢", True):
        with pytest.raises(inference.RequestError) as refused:
            inference.features(inference.parse(json.dumps([[*vector[:-1], bad]]).encode(), "application/json"), model)
        assert refused.value.message.startswith(f"row 1, feature {len(vector) - 1}: {json.dumps(bad)} is not a number")


def test_an_error_names_the_cell_at_fault_not_a_nan_before_it(tricky):
    with pytest.raises(inference.RequestError) as refused:
        inference.features(inference.parse(b"NAN,2,Paris,True\n12,2,Paris,True\n1 2,2,Paris,True\n", "text/csv"), tricky["model"])
    assert refused.value.message.startswith("row 3, column 'size': '1 2' is not a number")


def test_booleans_as_1_and_0_take_the_typed_pass(tricky, monkeypatch):
    """The test split's vectors of a model without categorical columns are read as raw rows, and hold 1 and 0:
    they must not make every such body parse twice."""
    def no_text_pass(*args):
        raise AssertionError("took the text pass")

    monkeypatch.setattr(inference, "_read_csv_as_text", no_text_pass)
    matrix = inference.features(inference.parse(b"12,2,Rome,1\n12,2,Rome,0\n12,2,Rome,True\n", "text/csv"), tricky["model"])
    assert matrix[:, tricky["spec"]["features"].index("member")].tolist() == [1.0, 0.0, 1.0]


def test_a_body_over_one_arrow_block_reads_as_its_rows_do(tricky):
    """Arrow reads a body in blocks of 1 MB, each its own chunk of the table; a body of several (the limit is
    6 MB) encodes row for row as its rows do on their own, with missing numbers filled in every chunk."""
    rows = b"12,2,Paris,True\n,3.0,Rome,\nNAN,,NA,False\n 7 , 4 , x y ,TRUE\n"
    body = rows * (1_500_000 // len(rows))
    assert len(body) > 1 << 20
    served = inference.features(inference.parse(body, "text/csv"), tricky["model"])
    alone = inference.features(inference.parse(rows, "text/csv"), tricky["model"])
    assert served.shape[0] == 4 * (1_500_000 // len(rows))
    assert np.array_equal(served, np.tile(alone, (served.shape[0] // 4, 1)))


@pytest.mark.parametrize(("body", "passes"), [
    (b"12,2,Rome,1\n,,,\nNAN,NA,NA,False\n-nan,3, NA,\n", [[""]]),  # NA spellings only in level text: one pass
    (b"12,2,Rome,1\nNA,2,Rome,0\n", [[""], list(inference.NA_VALUES)]),  # an NA spelling in a number: typed again
])
def test_a_body_is_read_once_unless_a_number_is_an_na_spelling(tricky, body, passes, monkeypatch):
    """The first typed pass takes only an empty cell for missing (matching every cell against pandas' NA
    spellings costs a third of the read); what it reads as NaN is missing all the same, as pandas has it."""
    read, calls = inference._arrow_csv, []

    def counted(data, names, skip_header, convert):
        calls.append(list(convert.null_values))
        return read(data, names, skip_header, convert)

    monkeypatch.setattr(inference, "_arrow_csv", counted)
    served = inference.features(inference.parse(body, "text/csv"), tricky["model"])
    assert calls == passes
    monkeypatch.setattr(inference, "_arrow_csv", read)
    each = [inference.features(inference.parse(line + b"\n", "text/csv"), tricky["model"]) for line in body.splitlines()]
    assert served.tolist() == np.vstack(each).tolist()
    size = served[:, tricky["spec"]["features"].index("size")]
    assert size.tolist() == [12.0] + [np.float32(tricky["spec"]["medians"]["size"])] * (len(size) - 1)  # empty, NaN, NA


@pytest.mark.parametrize(("records", "message"), [
    ([{"size": 10**400, "grade": 1, "city": "Rome", "member": True}], "row 1, column 'size': 1000"),
    ([{"size": "1_000", "grade": 1, "city": "Rome", "member": True}], "row 1, column 'size': '1_000' is not a number"),
    ([{"size": "١٢٣", "grade": 1, "city": "Rome", "member": True}], "row 1, column 'size': '١٢٣' is not a number"),
    ([{"size": True, "grade": 1, "city": "Rome", "member": True}], "row 1, column 'size': true is not a number"),
    ([{"size": 1, "grade": 1, "city": "Rome", "member": "yes"}], "row 1, column 'member': 'yes' is not true, false or a number"),
])
def test_numbers_only_python_reads_are_refused_by_name(tricky, records, message):
    """Python's float() takes underscores, other scripts' digits and ints past a float's range; Arrow (the CSV
    reader) and pandas do not, so neither do JSON requests: a 400 naming the cell, not a 500."""
    with pytest.raises(inference.RequestError) as refused:
        inference.features(inference.parse(json.dumps(records).encode(), "application/json"), tricky["model"])
    assert refused.value.status == 400 and refused.value.message.startswith(message)


@pytest.mark.parametrize(("body", "message"), [
    ("[" + "1" * 5000 + "]", "request body is not valid JSON: Exceeds the limit"),
    ("[" * 100_000 + "]" * 100_000, "request body is not valid JSON: nested too deeply"),
    ("[[1e999, 1, 2, true]]", None),
])
def test_json_python_cannot_hold_is_a_400(tricky, body, message):
    try:
        matrix = inference.features(inference.parse(body.encode(), "application/json"), tricky["model"])
    except inference.RequestError as refused:
        assert refused.status == 400 and message and refused.message.startswith(message)
    else:
        assert message is None and np.isinf(matrix[0, 0])  # 1e999 is inf to json, as to pandas


# -- Model Monitor reads captured requests through the record preprocessor beside the baseline ----------------
class EventData:
    """A captured request or response, as AWS documents the record Model Monitor passes a record preprocessor
    ("Preprocessing and Postprocessing", docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-pre-and-post-processing.html:
    encoding, data, observedContentType, mode, read from captureData.endpointInput)."""

    def __init__(self, data: dict) -> None:
        self.encoding = data.get("encoding")
        self.data = data.get("data")
        self.observedContentType = data.get("observedContentType")
        self.mode = data.get("mode")


class CapturedData:
    def __init__(self, event: dict) -> None:
        self.endpoint_input = EventData(event["captureData"]["endpointInput"])
        self.endpoint_output = EventData(event["captureData"]["endpointOutput"])


def captured(body: str, content_type: str = "text/csv", encoding: str | None = None) -> CapturedData:
    """One line of a data-capture file, as the endpoint config's CaptureContentTypeHeader sorts it."""
    encoding = encoding or {"text/csv": "CSV", "application/json": "JSON"}[content_type]
    data = base64.b64encode(body.encode()).decode() if encoding == "BASE64" else body
    return CapturedData({"captureData": {
        "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding},
        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.5\n", "encoding": "CSV"}},
        "eventMetadata": {"eventId": "e", "inferenceTime": "2026-12-01T00:00:00Z"}, "eventVersion": "0"})


def monitor_preprocessor(splits: Path):
    """The baseline's own copy, loaded as the analyzer loads a script from RecordPreprocessorSourceUri."""
    spec = importlib.util.spec_from_file_location("record_preprocessor_copy", splits / "baseline" / "record_preprocessor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_monitor_reads_every_request_form_as_the_baselines_named_columns(trained):
    """Every form an endpoint takes becomes the same rows keyed by the baseline's own column names, typed as
    the baseline types them (Integral columns as integers, String ones as text, missing as None), so the
    analyzer compares like with like and its drift report names the business's columns."""
    module = monitor_preprocessor(trained["splits"])
    statistics = json.loads((trained["splits"] / "baseline" / "statistics.json").read_text())
    kinds = {f["name"]: f["inferred_type"] for f in statistics["features"]}
    columns, rows = trained["columns"], trained["raw"][:25]
    assert list(kinds) == columns
    reversed_header = columns[::-1]
    forms = {
        "headerless CSV": captured(csv_text(rows)),
        "CSV with a header, columns reversed": captured(csv_text([row[::-1] for row in rows], reversed_header)),
        "CSV as BASE64": captured(csv_text(rows, columns), encoding="BASE64"),
        "JSON records": captured(json.dumps([dict(zip(columns, row, strict=True)) for row in rows]), "application/json"),
        "JSON instances of values": captured(json.dumps({"instances": rows}), "application/json"),
        "pandas orient=split, columns reversed": captured(json.dumps(
            {"columns": reversed_header, "index": list(range(len(rows))), "data": [row[::-1] for row in rows]}), "application/json"),
        "SageMaker's features records": captured(json.dumps({"instances": [{"features": row} for row in rows]}), "application/json"),
    }
    expected = pd.read_csv(io.StringIO(csv_text(rows, columns)), dtype=str, keep_default_na=True)
    read = {form: module.preprocess_handler(record) for form, record in forms.items()}
    first = read.pop("headerless CSV")
    assert all(other == first for other in read.values()), [form for form, other in read.items() if other != first]
    assert len(first) == len(rows) and all(list(row) == columns for row in first)
    assert module.preprocess_handler(captured(json.dumps(rows[0]), "application/json")) == first[:1]  # one flat row
    for number, row in enumerate(first):
        for column, value in row.items():
            cell = expected[column][number]
            if pd.isna(cell):
                assert value is None, (column, value)
            elif kinds[column] == "String":
                assert value == cell.strip(), (column, value)
            else:
                assert isinstance(value, int if kinds[column] == "Integral" else (int, float)), (column, value)
                assert value == float(cell), (column, value)


def test_the_monitor_skips_what_has_no_business_columns_and_keeps_what_the_type_check_should_see(trained, caplog):
    module = monitor_preprocessor(trained["splits"])
    columns = trained["columns"]
    with caplog.at_level(logging.INFO, logger="analyzer"):  # the analyzer may pass its logger (AWS's logging example)
        assert module.preprocess_handler(captured(vector_body(trained["vectors"][:3])), logging.getLogger("analyzer")) == []
    assert "preprocessed vectors" in caplog.text
    mis_cased = csv_text(trained["raw"][:2], [c.upper() if c.upper() != c else c.lower() for c in columns])
    with caplog.at_level(logging.INFO, logger="analyzer"):
        assert module.preprocess_handler(captured(mis_cased), logging.getLogger("analyzer")) == []
    assert "in another case" in caplog.text
    ragged = csv_text([trained["raw"][0], trained["raw"][1][:-1]], columns)
    with caplog.at_level(logging.INFO, logger="analyzer"):
        assert module.preprocess_handler(captured(ragged), logging.getLogger("analyzer")) == []
    assert f"row 2 has {len(columns) - 1} values, not {len(columns)}" in caplog.text  # the endpoint refused it too
    nan_record = {**dict(zip(columns, trained["raw"][0], strict=True)), columns[-1]: float("nan")}
    assert module.preprocess_handler(captured(json.dumps([nan_record]), "application/json"))[0][columns[-1]] is None
    assert module.preprocess_handler(captured("{not json", "application/json")) == []
    unclosed = csv_text(trained["raw"][:1], columns) + '"' + "x" * 140_000  # the endpoint refused it; the job goes on
    with caplog.at_level(logging.INFO, logger="analyzer"):
        assert module.preprocess_handler(captured(unclosed), logging.getLogger("analyzer")) == []
    assert "field larger than field limit" in caplog.text
    assert module.preprocess_handler(captured("\xff", encoding="BASE64")) == []
    numeric = next(c["name"] for c in module.SCHEMA["columns"] if c["type"] == "number")
    record = {**dict(zip(columns, trained["raw"][0], strict=True)), numeric: "lots"}
    row = module.preprocess_handler(captured(json.dumps([record]), "application/json"))[0]
    assert row[numeric] == "lots"  # left as text: the analyzer's data-type check reports it
    missing = module.preprocess_handler(captured(json.dumps([{numeric: "NA"}]), "application/json"))[0]
    assert list(missing) == columns and all(value is None for value in missing.values())


def test_the_record_preprocessor_template_is_filled_in_once(tmp_path, monkeypatch):
    source = preprocess.RECORD_PREPROCESSOR.read_text()
    assert source.count(preprocess.SCHEMA_LINE) == 1
    written = preprocess.record_preprocessor(["a", "b"], [np.array([1.0]), np.array(["x"], dtype=object)], "y")
    assert 'SCHEMA: dict = {"columns": [{"name": "a", "type": "number"}, {"name": "b", "type": "text"}], "label": "y"' in written
    broken = tmp_path / "record_preprocessor.py"
    broken.write_text(source.replace(preprocess.SCHEMA_LINE, "SCHEMA = {}"))
    monkeypatch.setattr(preprocess, "RECORD_PREPROCESSOR", broken)
    with pytest.raises(RuntimeError, match="has no line"):
        preprocess.record_preprocessor(["a"], [np.array([1.0])], "y")
