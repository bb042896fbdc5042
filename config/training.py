"""Typed schema of a model's training pipeline settings (a `models.<name>` block, less `serving`).

Defaults are the seeds' tutorial: XGBoost with max_depth 5, eta 0.2, gamma 4,
min_child_weight 6, subsample 0.8, binary:logistic, on ml.m5 instances. Every rule here
mirrors what SageMaker or train.py would reject later, so a mistake fails `cdk synth`.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from catalog.images import xgboost_versions
from catalog.instance_types import check_instance_type, has_local_nvme, xgboost_image_problem
from config import dataset as data_files
from config.fields import LINE_BREAKS, StrictModel, int_range, one_line

#: Hyperparameters of training_scripts/train.py that a tuning job may search, with SageMaker's
#: range type and the bounds a search may span (XGBoost's valid ranges, capped where larger
#: values only waste tuning jobs).
TUNABLE = {
    "max_depth": ("Integer", 1, 30),
    "eta": ("Continuous", 0.001, 1.0),
    "gamma": ("Continuous", 0.0, 100.0),
    "min_child_weight": ("Continuous", 0.0, 120.0),
    "subsample": ("Continuous", 0.1, 1.0),
    "colsample_bytree": ("Continuous", 0.1, 1.0),
    "scale_pos_weight": ("Continuous", 0.01, 1000.0),
}
#: SageMaker Debugger's built-in profiler rules that read only system metrics (CPU, GPU, memory,
#: I/O), which SageMaker collects from any training container.
PROFILER_RULES = (
    "BatchSize", "CPUBottleneck", "GPUMemoryIncrease", "IOBottleneck",
    "LoadBalancing", "LowGPUUtilization", "OverallSystemUsage", "ProfilerReport",
)


def _instance_types(shape: str, what: str) -> Callable[[list[str]], list[str]]:
    """The check of a list of types from a SageMaker enum (the first is the pipeline parameter's default)."""

    def check(values: list[str]) -> list[str]:
        for value in values:
            try:
                check_instance_type(value, shape, what)
            except ValueError as error:
                raise ValueError(f"{value!r} is {error}") from None
            if problem := xgboost_image_problem(value):
                raise ValueError(f"{value!r} is {problem}")
        if len(set(values)) != len(values):
            raise ValueError("instance types must be unique")
        nvme = {v for v in values if has_local_nvme(v)}
        if nvme and len(nvme) != len(values):
            raise ValueError(
                f"mixes types with local NVMe storage ({', '.join(sorted(nvme))}) and without; SageMaker refuses a "
                "volume KMS key on NVMe types, so one list must be all of one kind (allowed: e.g. ml.m5.* or ml.g5.*)"
            )
        return values

    return check


#: 1 to 10 types; the first is the default of the pipeline parameter, the rest an execution may choose instead.
TYPE_LIST = Field(min_length=1, max_length=10)


def _fraction(lo_open: bool = False):
    def check(value: float) -> float:
        if not (0 < value <= 1 if lo_open else 0 <= value <= 1):
            raise ValueError("must be a number in (0, 1]" if lo_open else "must be a number in [0, 1]")
        return value

    return AfterValidator(check)


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("must be a number above 0 (1 weighs both classes alike; for imbalanced data, e.g. the count of "
                         "negatives over positives)")
    return value


def _non_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


class Hyperparameters(StrictModel):
    """train.py's hyperparameters (static ones when tuning)."""

    max_depth: Annotated[int, int_range(1, 30)] = 5
    eta: Annotated[float, _fraction(lo_open=True)] = 0.2
    gamma: Annotated[float, AfterValidator(_non_negative)] = 4.0
    min_child_weight: Annotated[float, AfterValidator(_non_negative)] = 6.0
    subsample: Annotated[float, _fraction(lo_open=True)] = 0.8
    colsample_bytree: Annotated[float, _fraction(lo_open=True)] = 1.0
    scale_pos_weight: Annotated[float, AfterValidator(_positive)] = 1.0
    objective: Literal["binary:logistic"] = "binary:logistic"
    num_round: Annotated[int, int_range(1, 10000)] = 100
    early_stopping_rounds: Annotated[int, int_range(0, 1000, "; 0 turns early stopping off")] = 10


#: A hyperparameter a team's own train.py reads (a code_dir of its own): SageMaker passes each as `--<name> <value>`.
EXTRA_HYPERPARAMETER_NAME = re.compile(r"[a-z][a-z0-9_]{1,63}")  # two letters at least: the toolkit writes -x for one
#: SageMaker's limit on a hyperparameter value (CreateTrainingJob HyperParameters: 2500 characters).
EXTRA_HYPERPARAMETER_CHARS = 2500
#: CreateTrainingJob takes at most 100 HyperParameters (botocore's shape): the rest of them are the standard ones and
#: the two script-mode settings.
EXTRA_HYPERPARAMETERS_AT_MOST = 100 - len(Hyperparameters.model_fields) - 2


def _check_extra_hyperparameters(values: dict[str, Any]) -> dict[str, Any]:
    """Each problem a line that starts with the key it is about (the loader puts the field's path before it)."""
    problems = []
    for name, value in values.items():
        if not isinstance(name, str) or not EXTRA_HYPERPARAMETER_NAME.fullmatch(name):
            problems.append(f"{name}: not a hyperparameter name (allowed: a lowercase letter, then 1 to 63 lowercase "
                            "letters, digits or underscores, passed as --<name>)")
        elif name in Hyperparameters.model_fields:
            problems.append(f"{name}: set it in training.hyperparameters (allowed here: a hyperparameter only your own "
                            "train.py reads)")
        elif name.startswith("sagemaker_"):
            problems.append(f"{name}: SageMaker's own settings start with sagemaker_ (allowed: another name)")
        elif not isinstance(value, (str, int, float, bool)):
            problems.append(f"{name} = {value!r}: not a single value (allowed: text, a number, or true or false; "
                            "passed to train.py as text)")
        elif isinstance(value, str) and any(ch in LINE_BREAKS for ch in value):
            problems.append(f"{name}: the value has a line break; SageMaker's hyperparameter values are one line "
                            "(allowed: text on one line)")
        elif len(str(value)) > EXTRA_HYPERPARAMETER_CHARS:
            problems.append(f"{name}: the value has {len(str(value))} characters (allowed: at most {EXTRA_HYPERPARAMETER_CHARS})")
    room = EXTRA_HYPERPARAMETERS_AT_MOST
    if len(values) > room:
        problems.append(f"{list(values)[room]}: one of {len(values)}, past the room a training job has (allowed: at most {room} "
                        f"here: it takes 100 hyperparameters, {100 - room} of them training.hyperparameters and SageMaker's "
                        "sagemaker_program and sagemaker_submit_directory)")
    if problems:
        raise ValueError("\n".join(problems))
    return values


class ParameterRange(StrictModel):
    """The span a tuning job searches for one hyperparameter, and how it samples it."""

    min: float
    max: float
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"


def _default_ranges() -> dict[str, ParameterRange]:
    return {
        "eta": ParameterRange(min=0.05, max=0.5, scaling="Logarithmic"),
        "max_depth": ParameterRange(min=3, max=9),
        "min_child_weight": ParameterRange(min=1, max=10),
        "subsample": ParameterRange(min=0.5, max=1.0),
    }


class TuningConfig(StrictModel):
    """An optional hyperparameter tuning step in place of the single training step."""

    enabled: bool = False
    strategy: Literal["Bayesian", "Random", "Hyperband"] = "Bayesian"
    max_jobs: Annotated[int, int_range(1, 500)] = 20
    max_parallel_jobs: Annotated[int, int_range(1, 100)] = 4
    ranges: dict[str, ParameterRange] = Field(default_factory=_default_ranges)

    @model_validator(mode="after")
    def _ranges_are_searchable(self) -> TuningConfig:
        if self.max_parallel_jobs > self.max_jobs:
            raise ValueError(f"max_parallel_jobs: {self.max_parallel_jobs} exceeds max_jobs {self.max_jobs}")
        if not self.ranges:
            raise ValueError(f"ranges: at least one is needed (allowed names: {', '.join(TUNABLE)})")
        for name, spec in self.ranges.items():
            if name not in TUNABLE:
                raise ValueError(f"ranges: {name!r} is not a tunable hyperparameter (allowed: {', '.join(TUNABLE)})")
            kind, lo, hi = TUNABLE[name]
            if not lo <= spec.min < spec.max <= hi:
                raise ValueError(f"ranges.{name}: min {spec.min} and max {spec.max} must satisfy {lo} <= min < max <= {hi}")
            if kind == "Integer" and not (float(spec.min).is_integer() and float(spec.max).is_integer()):
                raise ValueError(f"ranges.{name}: {name} is an integer; min and max must be whole numbers")
            if spec.scaling in ("Logarithmic", "ReverseLogarithmic") and spec.min <= 0:
                raise ValueError(f"ranges.{name}: {spec.scaling} scaling needs min > 0")
            if spec.scaling == "ReverseLogarithmic" and spec.max >= 1:
                raise ValueError(f"ranges.{name}: ReverseLogarithmic scaling needs max < 1")
        return self


class DebuggerConfig(StrictModel):
    """SageMaker Debugger's profiler and the rules that watch it: off unless an account asks for it.

    SageMaker Debugger is closed to new customers since 30 July 2026 (AWS documentation): a job
    that asks a new account for the profiler or its rules may be refused, so turning either on
    also takes ``account_uses_debugger: true``, a statement that the account already has it.
    Tensor rules (LossNotDecreasing, Overfit, TreeDepth, ...) read tensors that an smdebug hook
    saves from inside training; XGBoost script mode in the 3.x framework images has no such
    hook, so those rules would run and find nothing. They are not offered.
    """

    profiler: bool = False
    rules: list[Literal[PROFILER_RULES]] = Field(default_factory=list)  # type: ignore[valid-type]  # a Literal of a tuple
    #: The account used SageMaker Debugger before it closed to new customers (2026-07-30).
    account_uses_debugger: bool = False

    @model_validator(mode="after")
    def _rules_need_the_profiler(self) -> DebuggerConfig:
        if self.profiler and not self.account_uses_debugger:
            raise ValueError(
                "profiler: SageMaker Debugger takes no new customers since 2026-07-30 and may refuse this account "
                "(allowed: profiler: false; or account_uses_debugger: true where the account already uses Debugger)"
            )
        if len(set(self.rules)) != len(self.rules):
            raise ValueError("rules: each rule at most once (its name is the rule job's configuration name)")
        if self.rules and not self.profiler:
            raise ValueError("rules: profiler rules read the profiler's metrics (allowed: rules with profiler: true)")
        return self


class TrainingConfig(StrictModel):
    """The training job (or each tuning job): instances, limits, spot, hyperparameters, tuning and Debugger."""

    instance_types: Annotated[list[str], TYPE_LIST, AfterValidator(_instance_types("TrainingInstanceType", "training"))] = Field(
        default_factory=lambda: ["ml.m5.xlarge"]
    )
    #: Above 1, the train channel is sharded across instances (ShardedByS3Key) and the hosts
    #: train one model through XGBoost's collective.
    instance_count: Annotated[int, int_range(1, 20)] = 1
    volume_size_gb: Annotated[int, int_range(1, 16384, " GB")] = 30
    max_runtime_minutes: Annotated[int, int_range(1, 7200)] = 60
    #: Managed spot training: cheaper, may be interrupted; checkpoints let a job resume.
    spot: bool = False
    max_wait_minutes: Annotated[int, int_range(1, 7200)] | None = None
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    #: Hyperparameters a team's own train.py reads (a code_dir of its own), passed to it as text beside the above.
    extra_hyperparameters: Annotated[dict[str, Any], AfterValidator(_check_extra_hyperparameters)] = Field(default_factory=dict)
    #: How those values were chosen (e.g. benchmarks/cv.py's k-fold result); written into every evaluation report.
    hyperparameters_chosen_by: Annotated[str, Field(min_length=1, max_length=200), one_line] | None = None
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    debugger: DebuggerConfig = Field(default_factory=DebuggerConfig)

    @model_validator(mode="after")
    def _spot_wait(self) -> TrainingConfig:
        if self.spot and self.max_wait_minutes is None:
            raise ValueError("max_wait_minutes: required with spot: true (allowed: >= max_runtime_minutes)")
        if not self.spot and self.max_wait_minutes is not None:
            raise ValueError("max_wait_minutes: only applies with spot: true (remove it or set spot: true)")
        if self.spot and self.max_wait_minutes is not None and self.max_wait_minutes < self.max_runtime_minutes:
            raise ValueError(
                f"max_wait_minutes: {self.max_wait_minutes} is less than max_runtime_minutes "
                f"{self.max_runtime_minutes} (allowed: >= max_runtime_minutes)"
            )
        return self


#: Model Registry statuses a pipeline registers with, from the least to the most strict.
APPROVAL_STATUSES = ("Approved", "PendingManualApproval")


class EvaluationConfig(StrictModel):
    """What the evaluation gate requires before a model is registered."""

    cutoff_rule: Literal["max-f1", "min-log-loss"] = "max-f1"
    min_auc: Annotated[float, _fraction()] = 0.7
    min_precision: Annotated[float, _fraction()] = 0.0
    min_recall: Annotated[float, _fraction()] = 0.0
    #: How much lower than the approved champion's AUC a challenger may score and still pass.
    champion_margin: Annotated[float, _fraction()] = 0.01
    #: Registry status of a model that passes: Approved deploys on its own where serving follows
    #: the registry; PendingManualApproval waits for a person.
    approval_status: Literal["Approved", "PendingManualApproval"] = "PendingManualApproval"

    @property
    def allowed_approval_statuses(self) -> list[str]:
        """The statuses an execution may register a version with, the configured one first: it and the stricter
        ones. A run may hold back a version the config would approve, never approve one it sends to review."""
        return list(APPROVAL_STATUSES[APPROVAL_STATUSES.index(self.approval_status):])


def _check_data_file(value: str) -> str:
    data_files.resolve(value)
    return value


COLUMN = Annotated[str, Field(min_length=1, pattern=r"^[^,]+$"), one_line]


#: The longest argument a processing job takes (AppSpecification.ContainerArguments: each at most 256 characters,
#: docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html): the Preprocess step passes the
#: column lists and missing values as one argument each.
MAX_JOB_ARGUMENT = 256
MAX_DATA_FILE_NAME = 150


class DatasetConfig(StrictModel):
    """The model's data: where the CSV is, and how preprocess.py reads it (config/dataset.py has the forms)."""

    #: A CSV in the repo or on this machine, s3://bucket/key.csv, or package:<distribution>/<path>.csv.
    data_file: Annotated[str, AfterValidator(_check_data_file)]
    label_column: COLUMN
    #: The label value of the positive class; the label column must hold exactly two values.
    positive_label: Annotated[str, Field(min_length=1), one_line]
    #: Integer-coded columns to one-hot encode (text columns always are).
    categorical_columns: list[COLUMN] = Field(default_factory=list)
    #: Columns that are not features: identifiers, and leakage (values known only after the outcome).
    drop_columns: list[COLUMN] = Field(default_factory=list)
    #: Cells that mean missing in this dataset besides pandas' own spellings (e.g. "?"): read as missing in
    #: training, by the endpoint and by the monitor, so a numeric column with them stays numeric.
    missing_values: list[Annotated[str, Field(min_length=1, max_length=32), one_line]] = Field(default_factory=list)

    @property
    def source(self) -> data_files.DataFile:
        return data_files.resolve(self.data_file)

    @model_validator(mode="after")
    def _label_is_not_a_feature(self) -> DatasetConfig:
        problems = []
        if self.label_column in self.categorical_columns:
            problems.append(f"categorical_columns: names the label column {self.label_column!r} (allowed: feature columns)")
        if self.label_column in self.drop_columns:
            problems.append(f"drop_columns: names the label column {self.label_column!r} (allowed: columns other than the label)")
        both = sorted(set(self.categorical_columns) & set(self.drop_columns))
        if both:
            problems.append(f"drop_columns: {', '.join(both)} also in categorical_columns (allowed: a column is dropped or "
                            "encoded, not both)")
        for field in ("categorical_columns", "drop_columns"):
            names = getattr(self, field)
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                problems.append(f"{field}: each column once; repeated: {', '.join(repeated)}")
        for field, argument, how in (("categorical_columns", ",".join(self.categorical_columns), "joined with commas"),
                                     ("drop_columns", ",".join(self.drop_columns), "joined with commas"),
                                     ("missing_values", json.dumps(self.missing_values) if self.missing_values else "", "as JSON"),
                                     ("label_column", self.label_column, "as it is"),
                                     ("positive_label", self.positive_label, "as it is"),
                                     ("data_file", self.data_file if self.data_file.startswith("s3://") else "", "as it is")):
            if len(argument) > MAX_JOB_ARGUMENT:
                problems.append(f"{field}: {len(argument)} characters as the Preprocess job's argument ({how}); SageMaker "
                                f"takes at most {MAX_JOB_ARGUMENT} an argument (allowed: fewer or shorter entries)")
        # A file of the repo or this machine is uploaded to s3://<raw bucket>/<model>/<file>, the job's --input-uri:
        # a bucket name of up to 63 and a model name of up to 32 leave the file's name 150.
        name = PurePosixPath(self.data_file).name
        if not self.data_file.startswith(("s3://", "package:")) and len(name) > MAX_DATA_FILE_NAME:
            problems.append(f"data_file: the file name {name[:20]!r}... is {len(name)} characters; its S3 URI is a Preprocess "
                            f"job argument, at most {MAX_JOB_ARGUMENT} (allowed: a file name of at most {MAX_DATA_FILE_NAME})")
        problems += self._columns_exist()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _columns_exist(self) -> list[str]:
        """Checked at synth against the CSV's header where the file is here (not for data in S3)."""
        source = self.source
        if source.path is None:
            return []
        try:
            columns = data_files.read_header(source.path)
        except ValueError as exc:
            return [f"data_file: {exc}"]
        problems = []
        named = [("label_column", self.label_column)] + [
            (f"{field}[{i}]", name) for field in ("categorical_columns", "drop_columns")
            for i, name in enumerate(getattr(self, field))
        ]
        for field, name in named:
            if name not in columns:
                problems.append(f"{field}: {name!r} is not a column of {source.file_name}{data_files.closest(name, columns)} "
                                f"(allowed: one of its {len(columns)} columns)")
        if not problems and not [c for c in columns if c != self.label_column and c not in self.drop_columns]:
            problems.append(f"drop_columns: drops every column of {source.file_name} but the label {self.label_column!r} "
                            "(allowed: at least one input column left to train on)")
        if self.label_column in columns:
            problems += data_files.label_problems(source.path, self.label_column, self.positive_label, self.missing_values)
        return problems


#: The scripts a model's training-code folder must hold: the pipeline's steps and the serving
#: container run them by these names (training_scripts/README.md has the contract).
ENTRY_POINTS = ("preprocess.py", "train.py", "evaluate.py", "inference.py")


def _check_code_dir(value: str) -> str:
    allowed = f"allowed: a folder in the repo, relative to its root, holding {', '.join(ENTRY_POINTS)}"
    # The delivery pipeline synthesizes from the repository: a folder elsewhere works on one machine only.
    if value.startswith("~") or Path(value).is_absolute():
        raise ValueError(f"is not relative to the repo root; the delivery pipeline builds from the repository, where a "
                         f"folder elsewhere on this machine does not exist ({allowed})")
    root = data_files.REPO_ROOT
    path = (root / value).resolve()
    # Out and back in (../<this clone's folder name>/...) too: a clone elsewhere has another name.
    if Path(os.path.normpath(value)).parts[:1] == ("..",) or not path.is_relative_to(root):
        raise ValueError(f"leads outside the repo ({path}); the delivery pipeline builds from the repository alone ({allowed})")
    if path.is_file():
        raise ValueError(f"is a file, not a folder ({allowed}; the file's folder is {Path(value).parent.as_posix()})")
    if not path.is_dir():
        raise ValueError(f"no such folder {path} ({allowed})")
    missing = [name for name in ENTRY_POINTS if not (path / name).is_file()]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)} (allowed: a folder with every entry point of the container "
                         f"contract: {', '.join(ENTRY_POINTS)}; see training_scripts/README.md)")
    if problem := _unparsable_module(path):
        raise ValueError(problem)
    return value


#: The Python of the XGBoost image the scripts run in (3.0-5: docker/3.0-5/base/Dockerfile.cpu in
#: aws/sagemaker-xgboost-container): a module that does not parse as it fails the job that imports it.
CONTAINER_PYTHON = (3, 10)


def _unparsable_module(folder: Path) -> str | None:
    """Why a module of the folder would not even import in the container: a syntax error (as Python 3.10's parser
    sees it) found at synth, before Preprocess and Train have run, paid, in AWS. None where every module parses.
    Only files ship (stacks/training/source_tarball.py): a directory or a dangling link named *.py is not a module."""
    modules = []
    for module in sorted(folder.rglob("*.py")):
        if "__pycache__" in module.parts or not module.is_file():
            continue
        state = module.stat()
        # ctime too: a copy that keeps a file's size and mtime (cp -p, tar x) still changes it, and utime cannot set it.
        modules.append((str(module), state.st_mtime_ns, state.st_ctime_ns, state.st_size, state.st_ino))
    return _first_unparsable(tuple(modules))


@functools.lru_cache(maxsize=256)
def _first_unparsable(modules: tuple[tuple[str, int, int, int, int], ...]) -> str | None:
    """_unparsable_module's work, once per state of the folder's files (each config load checks every model)."""
    for name, *_state in modules:
        module = Path(name)
        shown = module.relative_to(data_files.REPO_ROOT).as_posix()
        try:
            ast.parse(module.read_bytes(), filename=shown, feature_version=CONTAINER_PYTHON)
        except OSError as error:
            return f"{shown} cannot be read ({error.strerror}) (allowed: modules the jobs can read)"
        except SyntaxError as error:
            at = f" line {error.lineno}" if error.lineno else ""
            return (f"{shown}{at} does not parse as Python {'.'.join(map(str, CONTAINER_PYTHON))}, the image's: {error.msg} "
                    "(allowed: modules that parse; every job that imports it would fail)")
        except (ValueError, MemoryError, RecursionError) as error:  # null bytes; nesting too deep for the parser
            return f"{shown} is not Python source the parser can read ({type(error).__name__}) (allowed: modules that parse)"
    return None


def _local_imports(tree: ast.Module, code_dir: Path) -> list[Path]:
    """The folder's own modules a module imports (import common, from common import x, from . import common)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names += [node.module.split(".")[0]] if node.module else [alias.name for alias in node.names]
    return [code_dir / f"{name}.py" for name in names if (code_dir / f"{name}.py").is_file()]


def declared_options(code_dir: Path) -> set[str] | None:
    """The --options train.py's argparse parsers declare (add_argument's literal option strings), in train.py and the
    folder's modules it imports, directly or through another (it may build its parser in a module beside it; the
    other entry points' parsers, serve.py's --port among them, are not train.py's). None where that cannot be told
    without running the code: a name built at run time, parse_known_args (which keeps what it does not know), no
    add_argument at all, or a module that does not parse."""
    options: set[str] = set()
    adds = 0
    pending, seen = [code_dir / "train.py"], set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        try:
            tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            return None
        pending += _local_imports(tree, code_dir)
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
        named = [(call, call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")) for call in calls]
        if any(name == "parse_known_args" for _, name in named):
            return None
        for call, name in named:
            if name != "add_argument":
                continue
            adds += 1
            if any(not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)) for arg in call.args):
                return None
            options |= {str(arg.value) for arg in call.args if isinstance(arg, ast.Constant) and str(arg.value).startswith("--")}
    return options if adds else None


def undeclared_hyperparameters(code_dir: Path, names: list[str], shown_as: str) -> list[str]:
    """One problem per name the folder's train.py would refuse, or take as something else: SageMaker's training
    toolkit passes each as --<name> (the name as written, underscores and all). argparse takes a declared option,
    and also, unless abbreviations are off, the unique abbreviation of one: refused here all the same, because the
    value would go to another option, and be overridden without a word where the platform passes that option too
    (max for --max_depth: the configured --max_depth comes after it)."""
    declared = declared_options(code_dir)
    if declared is None:
        return []
    problems = []
    shown = ", ".join(sorted(declared)) or "none"
    for name in names:
        option = f"--{name}"
        if option in declared:
            continue
        dashed = "--" + name.replace("_", "-")
        longer = sorted(d for d in declared if d.startswith(option))
        if dashed in declared:
            problems.append(f"training.extra_hyperparameters.{name}: {shown_as}/train.py declares {dashed}, but SageMaker "
                            f"passes --{name}, the name as written (allowed: declare parser.add_argument(\"--{name}\"))")
        elif longer:
            whole = longer[0].removeprefix("--")
            allowed = (f"{whole} in training.hyperparameters" if whole in Hyperparameters.model_fields
                       else f"the option's whole name, {whole}")
            problems.append(f"training.extra_hyperparameters.{name}: --{name} is only the start of {', '.join(longer)} in "
                            f"{shown_as}/train.py, which argparse may take as an abbreviation (allowed: {allowed})")
        else:
            problems.append(f"training.extra_hyperparameters.{name}: {shown_as}/train.py declares no --{name}, so it "
                            f"would end with 'unrecognized arguments' (allowed: the options it declares: {shown})")
    return problems


#: The XGBoost images the bundled training_scripts are tested on: 3.0-5 is Python 3.10 with XGBoost 3.0.5
#: (aws/sagemaker-xgboost-container, docker/3.0-5/base/Dockerfile.cpu), the versions the tests train, evaluate and serve
#: with (tests/unit/test_training_scripts.py holds each script to Python 3.10). Older images ship an older Python (1.7-1's
#: was 3.9), where zip(..., strict=True) fails on the first run; a newer one is a new Python line, untested here.
BUNDLED_CODE_FRAMEWORK_VERSIONS = ("3.0-5",)


def _check_framework_version(value: str) -> str:
    versions = xgboost_versions()
    if value not in versions:
        raise ValueError(f"not a SageMaker XGBoost framework version (allowed: {', '.join(versions)})")
    return value


class PipelineConfig(StrictModel):
    """The SageMaker Pipeline: preprocess -> train/tune -> evaluate -> gate -> register, batch transform."""

    framework_version: Annotated[str, AfterValidator(_check_framework_version)] = "3.0-5"
    #: The model's training code, shipped as its own asset: the bundled XGBoost scripts by default,
    #: or a team's folder that follows the same container contract (training_scripts/README.md).
    code_dir: Annotated[str, AfterValidator(_check_code_dir)] = "training_scripts"
    dataset: DatasetConfig
    processing_instance_types: Annotated[list[str], TYPE_LIST, AfterValidator(_instance_types("ProcessingInstanceType", "processing"))] = Field(
        default_factory=lambda: ["ml.m5.large"]
    )
    transform_instance_types: Annotated[list[str], TYPE_LIST, AfterValidator(_instance_types("TransformInstanceType", "transform"))] = Field(
        default_factory=lambda: ["ml.m5.large"]
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @property
    def bundled_code(self) -> bool:
        """Whether the model runs the bundled training_scripts (not a team's own code_dir)."""
        return (data_files.REPO_ROOT / self.code_dir).resolve() == (data_files.REPO_ROOT / "training_scripts").resolve()

    @model_validator(mode="after")
    def _bundled_code_runs_on_its_image(self) -> PipelineConfig:
        if self.bundled_code and self.framework_version not in BUNDLED_CODE_FRAMEWORK_VERSIONS:
            known = ", ".join(BUNDLED_CODE_FRAMEWORK_VERSIONS)
            raise ValueError(f"framework_version: {self.framework_version!r} is not an image the bundled training_scripts are "
                             f"tested on (they are on {known}: Python 3.10, XGBoost 3.0.5) (allowed: {known}, or any version "
                             "with a code_dir of your own)")
        return self

    @model_validator(mode="after")
    def _extra_hyperparameters_need_own_code(self) -> PipelineConfig:
        extra = self.training.extra_hyperparameters
        if extra and self.bundled_code:
            raise ValueError(f"training.extra_hyperparameters: {', '.join(extra)}: the bundled training_scripts/train.py reads "
                             "only training.hyperparameters (allowed: with a code_dir of your own whose train.py reads them)")
        problems = undeclared_hyperparameters(data_files.REPO_ROOT / self.code_dir, list(extra), self.code_dir.rstrip("/"))
        if problems:
            raise ValueError("\n".join(problems))  # one line each, each naming its field
        return self
