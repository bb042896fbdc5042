"""Where a model's training data comes from (dataset.data_file), and its header, read at synth.

Three forms, each resolved the same way by synth, the demo and the tests:

- a path: a CSV in the repo (relative to the repo root) or anywhere on this machine;
- ``s3://bucket/key``: data already in S3, read by the pipeline where it is;
- ``package:<distribution>/<file>``: a CSV shipped inside an installed Python distribution,
  pinned in requirements-data.txt (the bundled examples: ``package:ISLP/data/Caravan.csv``).

A local file or a package file is uploaded to the raw-data bucket under ``<model>/<file name>``
(make demo, python -m delivery upload-data), and the pipeline reads it from there.
"""

from __future__ import annotations

import collections
import csv
import difflib
import functools
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Rows each label value needs: preprocess.py's stratified train/validation/test split refuses fewer (its
#: MIN_ROWS_PER_CLASS; a test holds the two equal, as the container's script cannot import this package).
MIN_ROWS_PER_CLASS = 10
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([^\s]+\.csv)$")
PACKAGE = re.compile(r"^package:([A-Za-z0-9][A-Za-z0-9._-]*)/([^\s]+\.csv)$")


@dataclass(frozen=True)
class DataFile:
    """A resolved data_file: a local CSV (path set) or data in S3 (uri set)."""

    value: str
    path: Path | None = None
    uri: str | None = None

    @property
    def file_name(self) -> str:
        return (self.path.name if self.path else self.value.rsplit("/", 1)[-1])

    @property
    def in_s3(self) -> bool:
        return self.uri is not None


def resolve(value: str) -> DataFile:
    """The data file a config names, or ValueError saying which form is wrong and what is allowed."""
    if value.startswith("s3://"):
        if not S3_URI.fullmatch(value):
            raise ValueError("not an S3 URI of a CSV object (allowed: s3://bucket/path/to/file.csv)")
        return DataFile(value, uri=value)
    if value.startswith("package:"):
        match = PACKAGE.fullmatch(value)
        if not match:
            raise ValueError("not a packaged CSV (allowed: package:<distribution>/<path>.csv, e.g. package:ISLP/data/Caravan.csv)")
        distribution = match[1]
        try:
            located = Path(str(importlib.metadata.distribution(distribution).locate_file(value.removeprefix("package:"))))
        except importlib.metadata.PackageNotFoundError:
            raise ValueError(
                f"Python distribution {distribution!r} is not installed (allowed: a distribution pinned in "
                "requirements-data.txt; run make install)"
            ) from None
        if not located.is_file():
            raise ValueError(f"{distribution} has no file {value.removeprefix('package:')!r}")
        return DataFile(value, path=located)
    if not value.endswith(".csv"):
        raise ValueError("must name a .csv file (allowed: a path, s3://bucket/key.csv or package:<distribution>/<path>.csv)")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else REPO_ROOT / path
    if not path.is_file():
        raise ValueError(f"no such file {path} (allowed: a CSV in the repo, relative to its root, or an absolute path)")
    return DataFile(value, path=path)


def read_header(path: Path) -> list[str]:
    """The CSV's column names (its first row), or ValueError naming what is wrong with it."""
    try:
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first name, as pandas reads it.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            # As pandas reads it (skipinitialspace=True, blank lines before the header skipped).
            header = next((row for row in csv.reader(handle, skipinitialspace=True) if row), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read {path.name} as a UTF-8 CSV ({exc})") from None
    if not header:
        raise ValueError(f"{path.name} is empty (allowed: a CSV whose first row names its columns)")
    names = [name.strip() for name in header]  # preprocess.py strips them alike
    problem = header_problem(names)
    if problem:
        raise ValueError(f"{path.name}: {problem}")
    return names


def header_problem(names: list[str]) -> str | None:
    """What makes a header unusable, shared with preprocess.py's reading of the data (which must agree): another
    separator than commas, or a name given twice (pandas would silently read the second as '<name>.1')."""
    if len(names) == 1:
        other = next((s for s in (";", "\t", "|") if s in names[0]), None)
        if other:
            return (f"its columns are separated by {other!r}, not commas (allowed: a comma-separated CSV; re-export it, "
                    f"e.g. pandas.read_csv(path, sep={other!r}).to_csv(path, index=False))")
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            return f"column {position} has no name (allowed: a name for every column; a trailing comma makes an unnamed one)"
        if name in seen:
            return f"column {name!r} is named twice (allowed: each column named once; rename one)"
        seen.add(name)
    return None


def closest(name: str, columns: list[str]) -> str:
    """'; did you mean X?' for the column a misspelt name most likely meant, else ''."""
    match = difflib.get_close_matches(name, columns, n=1, cutoff=0.6) or [c for c in columns if c.lower() == name.lower()]
    return f"; did you mean {match[0]}?" if match else ""


#: pandas' default NA spellings (pandas._libs.parsers.STR_NA_VALUES; tests/unit/test_config.py holds this copy to it):
#: preprocess.py reads a label cell spelt so as missing.
PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
                       "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
#: A local data file up to this size has its label read at synth; a larger one is checked by Preprocess only.
LABEL_CHECK_MAX_BYTES = 100 * 1024 * 1024


def label_problems(path: Path, label_column: str, positive_label: str, missing_values: list[str] | tuple = ()) -> list[str]:
    """What Preprocess would refuse about the label, found at synth where the file is here: missing labels, more
    than two values, a positive_label that is none of them. Only certain refusals: each value is read generously
    (numbers by value, true/false in any case), merging whatever pandas might read as one value, so a label
    pandas would accept is never refused here. Files over LABEL_CHECK_MAX_BYTES are left to Preprocess."""
    stat = path.stat()
    if stat.st_size > LABEL_CHECK_MAX_BYTES:
        return []
    return list(_label_problems(str(path), stat.st_mtime_ns, stat.st_size, label_column, positive_label,
                                frozenset(missing_values)))


def _where_unreadable(path: str, exc: Exception, rows: int) -> str:
    """The line and byte a decoding error is at in the whole file (the reader decodes it a block at a time), or the
    csv module's own message with the row it stopped at."""
    if not isinstance(exc, UnicodeDecodeError):
        return f"after row {rows}: {exc}"
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as whole:
        start = whole.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:start].count(b"\n") + 1
        return f"line {line}: byte 0x{data[start]:02x} is not UTF-8 ({whole.reason})"
    return str(exc)


def _generous(cell: str) -> object:
    if cell.lower() in ("true", "false"):
        return cell.lower()
    try:
        return float(cell)
    except ValueError:
        return cell


@functools.cache
def _label_problems(path: str, _mtime: int, _size: int, label_column: str, positive_label: str,
                    missing_values: frozenset[str]) -> tuple[str, ...]:
    name = Path(path).name
    missing = rows = 0
    values: collections.Counter = collections.Counter()
    spelt: dict[object, str] = {}  # each value as the file first writes it, for messages
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            names = [n.strip() for n in next((row for row in reader if row), [])]
            if label_column not in names:
                return ()  # _columns_exist says so
            index = names.index(label_column)
            for row in reader:
                if not row:
                    continue  # pandas skips blank lines
                rows += 1
                cell = row[index].strip() if index < len(row) else ""
                value = _generous(cell)
                if cell in PANDAS_NA or cell in missing_values or value != value:  # NaN in any spelling float() takes (pandas: missing, or text)
                    missing += 1
                else:
                    values[value] += 1
                    spelt.setdefault(value, cell)
        except (UnicodeDecodeError, csv.Error) as exc:  # past the header, which read_header checked
            return (f"data_file: cannot read {name} as a UTF-8 CSV ({_where_unreadable(path, exc, rows)}; allowed: a UTF-8 "
                    "file, so export it again as UTF-8 CSV)",)
    if not rows:
        return (f"data_file: {name} has a header but no rows (allowed: a CSV with the rows to train on under its header)",)
    problems = []
    if missing:
        problems.append(f"label_column: {label_column!r} is missing in {missing} rows of {name} (allowed: a label in every "
                        "row; drop the unlabelled rows)")
    texts = sorted(spelt.values(), key=lambda t: (_generous(t) if isinstance(_generous(t), float) else float("inf"), t))
    shown = ", ".join(repr(t) for t in texts[:10]) + (", ..." if len(texts) > 10 else "")
    if len(values) > 2 or (len(values) == 1 and _generous(positive_label.strip()) in values):
        problems.append(f"label_column: {label_column!r} has {len(values)} distinct value{'s' * (len(values) > 1)} in {name} "
                        f"({shown}) (allowed: exactly two, for binary training)")
    elif values and _generous(positive_label.strip()) not in values:
        problems.append(f"positive_label: {positive_label!r} is not a value of {label_column!r} in {name} (allowed: one "
                        f"of {shown})")
    elif len(values) == 2 and min(values.values()) < MIN_ROWS_PER_CLASS:
        fewest = min(values, key=lambda v: values[v])
        problems.append(f"label_column: {label_column!r} is {spelt[fewest]!r} in only {values[fewest]} rows of {name} (allowed: at "
                        f"least {MIN_ROWS_PER_CLASS} rows of each value, which the Preprocess job's stratified split needs)")
    return tuple(problems)
