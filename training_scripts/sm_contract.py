"""The SageMaker container contract, shared by every script here.

SageMaker hands a job its inputs through environment variables and fixed paths under
/opt/ml; locally the same variables point into any directory tree, so the scripts run
unchanged in both places. Bad input raises `InputError`: `run_main` turns it into one
line on stderr, writes it to /opt/ml/output/failure and /opt/ml/output/message (training
jobs show the first as FailureReason, processing jobs the second as ExitMessage; the
job's FailureReason) and exits 1, instead of a traceback nobody reads.

Runs on the container's Python (3.10 in the XGBoost 3.0 image): no 3.11-only syntax.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

OPT_ML = Path("/opt/ml")


class InputError(Exception):
    """Input the job cannot use; the message names what was wrong and what is allowed."""


def channel_dir(name: str) -> Path:
    return Path(os.environ.get(f"SM_CHANNEL_{name.upper()}", OPT_ML / "input" / "data" / name))


def model_dir() -> Path:
    return Path(os.environ.get("SM_MODEL_DIR", OPT_ML / "model"))


def failure_file() -> Path:
    return Path(os.environ.get("SM_OUTPUT_DIR", OPT_ML / "output")) / "failure"


def num_gpus() -> int:
    value = os.environ.get("SM_NUM_GPUS", "0")
    try:
        return int(value)
    except ValueError:
        raise InputError(f"SM_NUM_GPUS is {value!r}; expected a whole number of GPUs") from None


def hosts() -> list[str]:
    """Every host of the training cluster, in SageMaker's order (algo-1, algo-2, ...)."""
    raw = os.environ.get("SM_HOSTS", '["algo-1"]')
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise InputError(f"SM_HOSTS is {raw!r}; expected a JSON list of host names") from None
    if not isinstance(value, list) or not value or not all(isinstance(h, str) for h in value):
        raise InputError(f"SM_HOSTS is {raw!r}; expected a non-empty JSON list of host names")
    return value


def current_host() -> str:
    host = os.environ.get("SM_CURRENT_HOST", hosts()[0])
    if host not in hosts():
        raise InputError(f"SM_CURRENT_HOST {host!r} is not one of SM_HOSTS {hosts()}")
    return host


def job_name() -> str:
    """This training job's name, from the toolkit's SM_TRAINING_ENV ("train" outside SageMaker)."""
    try:
        return str(json.loads(os.environ.get("SM_TRAINING_ENV", "{}")).get("job_name") or "train")
    except json.JSONDecodeError:
        return "train"


def csv_files(directory: Path, what: str) -> list[Path]:
    """The CSV files of a channel or processing input, in a stable order."""
    if not directory.is_dir():
        raise InputError(f"{what} directory {directory} does not exist; it must hold CSV files")
    return sorted(p for p in directory.rglob("*.csv") if p.is_file())


def read_label_first_csv(directory: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of label-first, headerless CSV files as (features, labels), all numeric.

    Empty input and non-numeric cells are reported with the file, line and column, so a
    preprocessing mistake is found from the job's failure reason alone.
    """
    files = csv_files(directory, what)
    blocks = []
    try:  # the fast path; anything it cannot parse is re-read below to say exactly where
        for path in files:
            if path.stat().st_size:
                blocks.append(np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64))
        widths = {b.shape[1] for b in blocks}
        if len(widths) == 1 and widths.pop() >= 2:
            data = np.vstack(blocks)
            return data[:, 1:], data[:, 0]
    except ValueError:
        pass
    rows: list[list[float]] = []
    width: int | None = None
    for path in files:
        with path.open(newline="") as handle:
            for line_number, record in enumerate(csv.reader(handle), start=1):
                if not record:
                    continue
                if width is None:
                    width = len(record)
                if len(record) != width:
                    raise InputError(
                        f"{what}: {path.name} line {line_number} has {len(record)} columns, "
                        f"expected {width} (label first, then the same features on every row)"
                    )
                rows.append([_number(cell, path, line_number, column, what) for column, cell in enumerate(record)])
    if not rows:
        raise InputError(f"{what} is empty: no CSV rows under {directory}; expected label-first, headerless CSV")
    if width is not None and width < 2:
        raise InputError(f"{what}: rows have {width} column; expected a label and at least one feature")
    data = np.asarray(rows, dtype=np.float64)
    return data[:, 1:], data[:, 0]


def _number(cell: str, path: Path, line_number: int, column: int, what: str) -> float:
    if cell.strip() == "":
        return float("nan")  # XGBoost treats NaN as missing; preprocessing normally fills gaps
    try:
        return float(cell)
    except ValueError:
        role = "the label" if column == 0 else f"feature {column}"
        raise InputError(
            f"{what}: {path.name} line {line_number} column {column + 1} ({role}) is {cell!r}, "
            "which is not numeric; every column must be a number (one-hot encode categories in preprocessing)"
        ) from None


def check_binary_labels(labels: np.ndarray, what: str) -> None:
    """Labels must be 0 or 1 (the first column of label-first CSV)."""
    bad = labels[(labels != 0) & (labels != 1)]
    if bad.size:
        raise InputError(f"{what}: label {float(bad[0]):g} is not 0 or 1; binary models need 0/1 labels in the first column")


def write_json(path: Path, payload: object, compact: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = {"separators": (",", ":")} if compact else {"indent": 2}
    path.write_text(json.dumps(payload, sort_keys=True, allow_nan=False, **layout) + "\n")


class _StderrTail(io.TextIOBase):
    """stderr as it is, keeping its last lines: argparse says what was wrong there before it exits."""

    def __init__(self, stream: IO[str], keep: int = 20) -> None:
        self.stream, self._partial = stream, ""
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)

    def write(self, text: str) -> int:
        self.stream.write(text)
        *done, self._partial = (self._partial + text).split("\n")
        self.lines.extend(line for line in done if line.strip())
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def last_line(self) -> str:
        return self._partial.strip() or (self.lines[-1] if self.lines else "")


def _report_failure(message: str) -> None:
    try:
        failure_file().parent.mkdir(parents=True, exist_ok=True)
        failure_file().write_text(message + "\n")
        # Processing jobs report /opt/ml/output/message as the job's ExitMessage.
        failure_file().with_name("message").write_text(message + "\n")
    except OSError:
        pass  # no writable /opt/ml/output (a plain local run): stderr already has it


def run_main(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> None:
    """Run a script's main; bad input exits 1 with one line on stderr and in the failure file. So does an
    argument the script does not know: argparse's own one line ("train.py: error: unrecognized arguments:
    --min_split_loss 0.5", e.g. an extra hyperparameter its train.py does not declare) becomes the job's
    failure reason instead of the toolkit's generic exit code."""
    tail = _StderrTail(sys.stderr)
    try:
        with contextlib.redirect_stderr(tail):
            main(argv)
    except InputError as error:
        message = str(error)
        print(f"error: {message}", file=sys.stderr)
        _report_failure(message)
        sys.exit(1)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            _report_failure(exit_.code if isinstance(exit_.code, str) else tail.last_line() or f"exit code {exit_.code}")
        raise
    except Exception as error:  # a bug: the traceback follows on stderr; the failure reason says what and where
        message = crash_summary(error)
        print(f"error: {message}", file=sys.stderr)
        _report_failure(message)
        raise


#: SageMaker keeps the first 1,024 characters of a failure file (FailureReason; a processing job's ExitMessage): the
#: exception's text is cut so that the location after it fits.
FAILURE_TEXT_CHARS = 700


def crash_summary(error: BaseException) -> str:
    """One line for an unexpected exception: what it is and the last place in the job's own code it passed (a team's
    derive.py, not pandas' indexing three frames further in): a module of the script's folder, else of a folder
    below it (a package of the team's), never run_main's own frame, eval'd or generated code (`<string>`)."""
    here = Path(__file__).resolve().parent
    frames = []
    tb = error.__traceback__.tb_next if error.__traceback__ else None  # past run_main's own frame
    for frame in traceback.extract_tb(tb):
        path = Path(frame.filename)
        if not frame.filename.startswith("<") and path.is_file() and path.resolve().is_relative_to(here):
            frames.append((path.resolve().parent != here, frame))  # the folder's own modules before a sub-folder's
    where = ""
    if frames:
        _, frame = min(reversed(frames), key=lambda pair: pair[0])  # the last frame of the folder, else of below it
        where = f" ({Path(frame.filename).resolve().relative_to(here).as_posix()} line {frame.lineno}, in {frame.name})"
    try:
        text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    except Exception:  # noqa: BLE001 - an exception whose __str__ fails still gets its failure reason
        text = "(its message could not be read)"
    if len(text) > FAILURE_TEXT_CHARS:
        text = text[:FAILURE_TEXT_CHARS] + "..."
    return f"{type(error).__name__}{': ' + text if text else ''}{where}"
