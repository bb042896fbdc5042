"""Preprocessing: raw CSV with a header -> label-first, headerless train/validation/test CSVs.

Runs as a SageMaker processing job (paths under /opt/ml/processing given as arguments)
and locally with the same arguments. What it does, in order:
- reads every *.csv under --input-dir (one table, a header row in each file);
- maps the label column to 1 (--positive-label) / 0 (every other value);
- splits train/validation/test stratified on the label with a fixed seed, so the same
  input always gives the same files;
- fills missing numbers with the training split's median (never looking at validation or
  test) and one-hot encodes categorical columns (text columns, plus integer-coded ones named
  in --categorical-columns) with the training split's categories; a category seen only
  later encodes as all zeros;
- writes train (in --train-shards files, for ShardedByS3Key across training instances),
  validation and test as label-first headerless CSVs, raw-test/ (the test rows' own input
  columns after the label, for batch transform and the endpoint), and metadata/features.json that
  records the input columns and their kinds, the feature order, medians and categories:
  train.py puts it into the model (preprocessing.json), so an endpoint takes raw rows;
- writes baseline/statistics.json and baseline/constraints.json, Model Monitor's
  data-quality baseline of the training split's input columns by name, as endpoints receive and
  data capture records them (baseline.py), and baseline/record_preprocessor.py, the monitor's
  record preprocessor that reads captured requests as rows of those columns.
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tracking
from pandas._libs.parsers import STR_NA_VALUES
from sklearn.model_selection import train_test_split

from baseline import data_quality_baseline
from sm_contract import InputError, csv_files, run_main, write_json

PROCESSING = Path("/opt/ml/processing")
#: Rows each label value needs for the stratified train/validation/test split (config/dataset.py checks it at synth too).
MIN_ROWS_PER_CLASS = 10


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", type=Path, default=PROCESSING / "input" / "raw")
    parser.add_argument("--output-dir", type=Path, default=PROCESSING / "output")
    parser.add_argument("--label-column", default="Purchase")
    parser.add_argument("--positive-label", default="Yes")
    parser.add_argument(
        "--categorical-columns",
        default="MOSTYPE,MOSHOOFD",
        help="comma-separated integer-coded columns to one-hot encode (text columns always are)",
    )
    parser.add_argument("--drop-columns", default="", help="comma-separated columns that are not features (ids, leakage)")
    parser.add_argument("--missing-values", type=json.loads, default=[],
                        help='a JSON list of cells that mean missing besides pandas\' own spellings, e.g. ["?"]')
    parser.add_argument("--config-source", default=None,
                        help="where these settings come from, e.g. 'config/dev.yaml: pipeline.dataset': errors name it")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--train-shards", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--input-uri", default=None, help="the S3 URI the input was read from (the InputDataUri parameter)")
    parser.add_argument("--allowed-input", action="append", default=[],
                        help="an S3 prefix (ending in /) or object this model's pipeline may read; repeatable")
    args = parser.parse_args(argv)
    held_out = args.validation_fraction + args.test_fraction
    if not (0 < args.validation_fraction < 1 and 0 < args.test_fraction < 1 and held_out < 0.9):
        raise InputError(
            f"--validation-fraction {args.validation_fraction} and --test-fraction {args.test_fraction} "
            "must each be between 0 and 1 and leave at least 10% of rows for training"
        )
    if args.train_shards < 1:
        raise InputError(f"--train-shards is {args.train_shards}; expected 1 or more (one per training instance)")
    return args


def header_names(path: Path) -> list[str]:
    """A data file's column names as the config loader reads them (config/dataset.py's read_header, which this
    container script cannot import): byte-order mark dropped, spaces around names stripped, each name once."""
    import csv

    with path.open(newline="", encoding="utf-8-sig") as handle:
        # As pandas reads it (skipinitialspace=True, blank lines before the header skipped).
        names = [name.strip() for name in next((row for row in csv.reader(handle, skipinitialspace=True) if row), [])]
    if len(names) == 1 and (other := next((s for s in (";", "\t", "|") if s in names[0]), None)):
        raise InputError(f"raw input: {path.name}: its columns are separated by {other!r}, not commas (allowed: a "
                         f"comma-separated CSV; re-export it, e.g. pandas.read_csv(path, sep={other!r}).to_csv(path, index=False))")
    unnamed = next((position for position, name in enumerate(names, start=1) if not name), None)
    if unnamed is not None:
        raise InputError(f"raw input: {path.name}: column {unnamed} has no name (allowed: a name for every column; a "
                         "trailing comma makes an unnamed one)")
    repeated = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if repeated is not None:
        raise InputError(f"raw input: {path.name}: column {repeated!r} is named twice (allowed: each column named once; "
                         "rename one)")
    return names


def read_raw(input_dir: Path, missing_values: Sequence[str] = ()) -> pd.DataFrame:
    files = csv_files(input_dir, "raw input")
    if not files:
        raise InputError(f"raw input is empty: no *.csv files under {input_dir}")
    frames = []
    for path in files:
        names = header_names(path)
        frame = pd.read_csv(path, skipinitialspace=True, na_values=list(missing_values) or None)  # besides pandas' own
        if len(frame.columns) != len(names):
            raise InputError(f"raw input: {path.name}: pandas reads {len(frame.columns)} columns, its header names "
                             f"{len(names)} (allowed: a header naming every column once)")
        frame.columns = names  # stripped, and not pandas' mangled duplicates (refused above)
        frames.append(frame)
    columns = list(frames[0].columns)
    for path, frame in zip(files, frames, strict=True):
        if list(frame.columns) != columns:
            raise InputError(f"raw input: {path.name} has columns {list(frame.columns)}, expected {columns}")
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        raise InputError(f"raw input is empty: the CSV files under {input_dir} have a header but no rows")
    return table


def setting(name: str, source: str | None) -> str:
    """How an error names a setting: the config field it came from, else this script's flag."""
    return f"{source}.{name}" if source else f"--{name.replace('_', '-')}"


def not_a_column(name: str, columns: Sequence[str], field: str) -> InputError:
    close = difflib.get_close_matches(name, [str(c) for c in columns], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(map(str, columns[:12])) + (", ..." if len(columns) > 12 else "")
    return InputError(f"{field}: {name!r} is not a column of the data{hint} (columns: {shown})")


def label_value(text: str) -> object:
    """A label as the config's check at synth reads it (config/dataset.py): true and false in any case, numbers by
    value, other text as it is. pandas reads a true/false column as booleans (True, False) and a 0/1 column as numbers,
    so the positive_label a user copies from the file (true, 1.0) names the value pandas read (True, 1)."""
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return float(text)
    except ValueError:
        return text


def binary_labels(table: pd.DataFrame, label_column: str, positive_label: str, source: str | None = None) -> pd.Series:
    if label_column not in table.columns:
        raise not_a_column(label_column, list(table.columns), setting("label_column", source))
    raw = table[label_column]
    if raw.isna().any():
        raise InputError(f"{setting('label_column', source)}: column {label_column!r} is missing in {int(raw.isna().sum())} "
                         "rows (allowed: a label in every row; drop the unlabelled rows)")
    values = raw.astype(str).str.strip()
    found = sorted(values.unique())
    shown = ", ".join(repr(v) for v in found[:10]) + (", ..." if len(found) > 10 else "")
    if len(found) != 2:
        raise InputError(
            f"{setting('label_column', source)}: column {label_column!r} has {len(found)} distinct values ({shown}); "
            "binary training needs exactly two"
        )
    matching = [value for value in found if label_value(value) == label_value(positive_label.strip())]
    if not matching:
        raise InputError(
            f"{setting('positive_label', source)}: {positive_label!r} is not a value of column {label_column!r} "
            f"(allowed: one of {shown})"
        )
    labels = (values == matching[0]).astype(int)
    counts = labels.value_counts().to_dict()
    if min(counts.values()) < MIN_ROWS_PER_CLASS:
        raise InputError(
            f"{setting('label_column', source)}: column {label_column!r} has only {min(counts.values())} rows of one class "
            f"(allowed: at least {MIN_ROWS_PER_CLASS} of each, which the stratified split needs)"
        )
    return labels


def check_one_line_values(features: pd.DataFrame) -> None:
    """Batch transform splits its input on line breaks (SplitType Line: "on a newline character boundary",
    API_TransformInput), and raw-test holds these columns: a value with a line break in it would cut its row in
    two there, after the model was registered. Refused here, naming the column and row."""
    for column in features.columns:
        values = features[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue  # text only: object or pandas 3's str dtype
        broken = values.map(lambda v: isinstance(v, str) and ("\n" in v or "\r" in v)).fillna(False).astype(bool)
        if broken.any():
            row = int(np.flatnonzero(broken.to_numpy())[0]) + 1
            raise InputError(f"column {column!r} has a value with a line break (data row {row}): batch transform reads "
                             "one record a line, so it would split that row (allowed: values on one line; replace line "
                             "breaks in the data, e.g. with spaces)")


class FeatureEncoder:
    """Medians and categories learned from the training split only, applied to every split."""

    def __init__(self, train: pd.DataFrame, categorical: list[str]) -> None:
        self.columns = list(train.columns)  # the input columns a raw request carries, in the data's order
        self.requested = [c for c in categorical if c in train.columns]
        self.categorical = [c for c in train.columns if c in categorical or not is_numeric(train[c])]
        self.numeric = [c for c in train.columns if c not in self.categorical]
        self.medians: dict[str, float] = {}
        for column in self.numeric:
            median = pd.to_numeric(train[column], errors="coerce").median()
            self.medians[column] = 0.0 if pd.isna(median) else float(median)
        self.categories: dict[str, list[str]] = {
            column: sorted(category_values(train[column]).unique().tolist()) for column in self.categorical
        }
        # Whether pandas read a categorical column as numbers (int-coded, levels "3" or "3.0") or as text: the
        # server matches a request's "3.0" to the level "3" only in the first case, as this encoding would.
        self.number_coded = {c for c in self.categorical if pd.api.types.is_numeric_dtype(train[c])}
        # Numeric columns pandas read as True/False (a bool column, or object with missing values): the server
        # reads pandas' spellings of them as 1 and 0, as this encoding's to_numeric does.
        self.booleans = {c for c in self.columns if is_boolean(train[c])}  # categorical ones too: levels True, False

    @property
    def feature_names(self) -> list[str]:
        names = list(self.numeric)
        for column in self.categorical:
            names.extend(f"{column}={value}" for value in self.categories[column])
        return names

    def warnings(self, train: pd.DataFrame) -> list[str]:
        """What is legal but likely a mistake, each one line: a categorical column with about a level a row (an
        identifier or a date: as many one-hot features, none of which generalizes), and a text column that is
        numbers but for a few cells (a '?' for missing makes pandas read the whole column as text)."""
        rows, found = len(train), []
        for column in self.categorical:
            levels = len(self.categories[column])
            if levels > 50 and levels * 2 > rows:
                found.append(f"column {column!r} has {levels} levels in {rows} training rows, one feature each: an "
                             "identifier or a date? (list it in dataset.drop_columns, or derive a coarser column)")
            elif column not in self.requested:
                present = train[column].dropna()
                numbers = pd.to_numeric(present, errors="coerce")
                others = present[numbers.isna()].astype(str).str.strip()
                if len(present) and 0 < len(others) <= len(present) // 10:
                    examples = ", ".join(repr(v) for v in sorted(others.unique())[:3])
                    found.append(f"column {column!r} is numbers but for {len(others)} of {len(present)} training cells "
                                 f"({examples}), so it is encoded as {levels} categories: if they mean missing, list them "
                                 "in dataset.missing_values; else clean them, to keep it numeric")
        # Model Monitor's analyzer is built on Deequ, which reads a dot in a column name as a nested field
        # (awslabs/deequ#274, open): the baseline names such a column as it is, and the monitoring job may fail on it.
        found += [f"column {column!r} has a dot in its name, which Model Monitor's analyzer (Deequ, on Spark) may read as "
                  "a nested field (awslabs/deequ#274): rename it in the CSV if this model's endpoint is monitored"
                  for column in self.columns if "." in column]
        return found

    def check_feature_names(self) -> None:
        """Each feature's name is distinct: a column 'x' with level 'a=b' and a column 'x=a' with level 'b' (or a
        numeric column named 'x=a=b') would both make 'x=a=b', and the server finds features by name."""
        seen: dict[str, str] = {}
        for column in self.numeric:
            seen[column] = f"numeric column {column!r}"
        for column in self.categorical:
            for value in self.categories[column]:
                name = f"{column}={value}"
                if name in seen:
                    raise InputError(f"feature {name!r} would come from both {seen[name]} and level {value!r} of column "
                                     f"{column!r} (allowed: column names and levels that do not make the same "
                                     "'<column>=<level>'; rename a column)")
                seen[name] = f"level {value!r} of column {column!r}"

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns = {c: pd.to_numeric(frame[c], errors="coerce").fillna(self.medians[c]).astype(float) for c in self.numeric}
        for column in self.categorical:
            values = category_values(frame[column])
            for value in self.categories[column]:
                columns[f"{column}={value}"] = (values == value).astype(float)
        return pd.DataFrame(columns, index=frame.index)[self.feature_names]

    def as_levels(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows with each categorical cell as the text its level was made from (empty where missing), so
        writing them does not round a float-coded level (98765432109.0 under %.10g) into one never seen."""
        return frame.assign(**{c: frame[c].map(lambda v: "" if pd.isna(v) else str(v)) for c in self.categorical})

    def describe(self) -> dict:
        return {
            "features": self.feature_names,
            "columns": [{"name": c, "kind": "numeric", **({"values": "booleans"} if c in self.booleans else {})} if c in self.numeric else
                        {"name": c, "kind": "categorical",
                         "values": "booleans" if c in self.booleans else "numbers" if c in self.number_coded else "text"}
                        for c in self.columns],
            "medians": self.medians,
            "categories": self.categories,
        }


def is_numeric(column: pd.Series) -> bool:
    present = column.dropna()
    return bool(len(present)) and bool(pd.to_numeric(present, errors="coerce").notna().all())


def is_boolean(column: pd.Series) -> bool:
    present = column.dropna()
    return bool(len(present)) and bool(present.map(lambda v: isinstance(v, (bool, np.bool_))).all())


def category_values(column: pd.Series) -> pd.Series:
    """Categories as text; a missing value is a category of its own ('missing')."""
    return column.map(lambda v: "missing" if pd.isna(v) else str(v).strip())


def baseline_columns(train: pd.DataFrame, encoder: FeatureEncoder) -> list[np.ndarray]:
    """The training split's input columns as requests carry them, for Model Monitor's baseline: numbers as
    numbers (int-coded categories too: the analyzer infers captured digits as Integral), text as text."""
    columns = []
    for name in encoder.columns:
        numbers = pd.to_numeric(train[name], errors="coerce")
        if name in encoder.numeric or numbers.notna().sum() == train[name].notna().sum():
            columns.append(numbers.to_numpy(dtype=np.float64))
        else:
            columns.append(np.array([None if pd.isna(v) else str(v).strip() for v in train[name]], dtype=object))
    return columns


RECORD_PREPROCESSOR = Path(__file__).with_name("record_preprocessor.py")
SCHEMA_LINE = 'SCHEMA: dict = {"columns": [], "label": None, "missing": []}'


def record_preprocessor(names: list[str], columns: list[np.ndarray], label: str, booleans: Iterable[str] = (),
                        missing_values: Iterable[str] = ()) -> str:
    """record_preprocessor.py with this dataset's SCHEMA: its input columns in order, typed as the baseline
    types them, and the cells pandas reads as missing (what training read as missing)."""
    source = RECORD_PREPROCESSOR.read_text()
    if source.count(SCHEMA_LINE) != 1:
        raise RuntimeError(f"{RECORD_PREPROCESSOR.name} has no line {SCHEMA_LINE!r} to fill in")
    schema = {
        "columns": [{"name": n, "type": "text" if c.dtype == object else "number"} for n, c in zip(names, columns, strict=True)],
        "label": label,
        "missing": sorted(set(STR_NA_VALUES) | set(missing_values)),
        "booleans": sorted(booleans),
    }
    return source.replace(SCHEMA_LINE, f"SCHEMA: dict = {json.dumps(schema)}")


def write_split(features: pd.DataFrame, labels: pd.Series, directory: Path, shards: int = 1) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    table = pd.concat([labels.rename("label"), features], axis=1)
    for index, part in enumerate(np.array_split(np.arange(len(table)), shards)):
        name = f"part-{index:05d}.csv" if shards > 1 else f"{directory.name}.csv"
        table.iloc[part].to_csv(directory / name, header=False, index=False, float_format="%.10g")


def check_input_uri(uri: str | None, allowed: Sequence[str]) -> None:
    """A pipeline reads only its own model's data: the execution's InputDataUri must be under one of the allowed
    prefixes (or be the allowed object). Whoever may start this model's pipeline (a Studio team) chooses the value; the
    model's jobs role cannot read another model's data either, but this check says so in one line, before any read."""
    if uri is None or not allowed:
        return
    if not any(uri == a or (a.endswith("/") and uri.startswith(a)) for a in allowed):
        shown = " or ".join(a + "..." if a.endswith("/") else a for a in allowed)
        raise InputError(f"InputDataUri {uri} is not this model's data (allowed: {shown}; a pipeline reads only its own model's data)")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    check_input_uri(args.input_uri, args.allowed_input)
    if not (isinstance(args.missing_values, list) and all(isinstance(v, str) and v for v in args.missing_values)):
        raise InputError(f"--missing-values: {args.missing_values!r} is not a JSON list of cells (allowed: e.g. [\"?\"])")
    table = read_raw(args.input_dir, args.missing_values)
    source = args.config_source
    labels = binary_labels(table, args.label_column, args.positive_label, source)
    requested = [c.strip() for c in args.categorical_columns.split(",") if c.strip()]
    dropped = [c.strip() for c in args.drop_columns.split(",") if c.strip()]
    for name, columns in (("categorical_columns", requested), ("drop_columns", dropped)):
        if args.label_column in columns:
            raise InputError(f"{setting(name, source)}: names the label column {args.label_column!r} (allowed: feature columns)")
        for column in columns:
            if column not in table.columns:
                raise not_a_column(column, list(table.columns), setting(name, source))
    features = table.drop(columns=[args.label_column, *dropped])
    if features.columns.empty:
        raise InputError(f"{setting('drop_columns', source)}: drops every column but the label {args.label_column!r} "
                         "(allowed: at least one input column left to train on)")
    check_one_line_values(features)

    held_out = args.validation_fraction + args.test_fraction
    try:
        x_train, x_rest, y_train, y_rest = train_test_split(
            features, labels, test_size=held_out, stratify=labels, random_state=args.seed
        )
        x_val, x_test, y_val, y_test = train_test_split(
            x_rest, y_rest, test_size=args.test_fraction / held_out, stratify=y_rest, random_state=args.seed
        )
    except ValueError as error:  # sklearn: a split too small to hold both classes
        raise InputError(
            f"cannot split {len(labels)} rows stratified into train/validation/test with fractions "
            f"{args.validation_fraction}/{args.test_fraction} ({error}); use larger fractions or more data"
        ) from None
    if args.train_shards > len(y_train):
        raise InputError(
            f"--train-shards is {args.train_shards} but the train split has {len(y_train)} rows; "
            "every training instance needs rows (allowed: at most one shard per row)"
        )
    encoder = FeatureEncoder(x_train, requested)
    encoder.check_feature_names()
    warnings = encoder.warnings(x_train)
    for warning in warnings:  # the job's log (CloudWatch in AWS); the local runner shows them under the step
        print(f"warning: {warning}", flush=True)
    # Imputed with the training split's median (numbers) or the 'missing' category: counted per column and split.
    imputed = {column: {split: int(frame[column].isna().sum()) for split, frame in (("train", x_train), ("validation", x_val),
                                                                                   ("test", x_test))}
               for column in features.columns if features[column].isna().any()}
    out = args.output_dir
    train_features = encoder.transform(x_train)
    write_split(train_features, y_train, out / "train", shards=args.train_shards)
    write_split(encoder.transform(x_val), y_val, out / "validation")
    write_split(encoder.transform(x_test), y_test, out / "test")
    # The same test rows as they arrived (label 0/1 first, then the input columns, headerless): what batch
    # transform sends the endpoint's own preprocessing, and what the demo sends the endpoint.
    write_split(encoder.as_levels(x_test), y_test, out / "raw-test")
    write_json(
        out / "metadata" / "features.json",
        {
            **encoder.describe(),
            "label": {"column": args.label_column, "positive": args.positive_label},
            "rows": {"train": len(y_train), "validation": len(y_val), "test": len(y_test)},
            "dropped_columns": dropped,
            "imputed": imputed,
            "positives": {"train": int(y_train.sum()), "validation": int(y_val.sum()), "test": int(y_test.sum())},
            "seed": args.seed,
            "missing_values": args.missing_values,  # besides pandas' own: the server reads them as missing too
            "warnings": warnings,
        },
    )
    monitored = baseline_columns(x_train, encoder)
    statistics, constraints = data_quality_baseline(monitored, encoder.columns)
    write_json(out / "baseline" / "statistics.json", statistics, compact=True)  # sketches: ~270k numbers
    write_json(out / "baseline" / "constraints.json", constraints)
    (out / "baseline" / RECORD_PREPROCESSOR.name).write_text(record_preprocessor(encoder.columns, monitored, args.label_column,
                                                                                encoder.booleans, args.missing_values))
    for column, counts in imputed.items():
        print(f"imputed {column}: {counts['train']} train, {counts['validation']} validation, {counts['test']} test rows")
    track(args, requested, dropped, encoder, imputed, {"train": y_train, "validation": y_val, "test": y_test}, out)
    print(
        f"preprocessed {len(table)} rows into {len(encoder.feature_names)} features: "
        f"train {len(y_train)}, validation {len(y_val)}, test {len(y_test)} "
        f"(positive rate {labels.mean():.4f})"
    )


@tracking.never_fails("preprocess.py")
def track(args: argparse.Namespace, requested: list[str], dropped: list[str], encoder: FeatureEncoder, imputed: dict,
          splits: dict[str, pd.Series], out: Path) -> None:
    """Into the pipeline execution's run: how the data was split and encoded, rows and positive rate per split,
    and the values imputed per column and split."""
    if not tracking.configured():
        return
    run = tracking.pipeline_run("preprocess.py")
    run.params({"data.label_column": args.label_column, "data.positive_label": args.positive_label,
                "data.categorical_columns": ",".join(requested), "data.drop_columns": ",".join(dropped),
                "data.validation_fraction": args.validation_fraction, "data.test_fraction": args.test_fraction,
                "data.seed": args.seed, "data.input_columns": len(encoder.columns), "data.features": len(encoder.feature_names)})
    run.metrics({**{f"rows-{split}": len(labels) for split, labels in splits.items()},
                 **{f"positive_rate-{split}": float(labels.mean()) for split, labels in splits.items()},
                 **{f"imputed-{column}-{split}": count for column, counts in imputed.items() for split, count in counts.items()}})
    run.artifacts(out / "metadata" / "features.json", "data")


if __name__ == "__main__":
    run_main(main)
