"""Promote a registered model version: write it into config/<env>.yaml, the one place that says
which version an environment serves, so that serving it is a reviewed pull request that the
delivery pipeline deploys.

It reads the version from the Model Registry (it must be Approved; its ModelDataQuality
baseline becomes models.<model>.serving.monitoring.baseline_prefix), edits the file keeping its comments and
layout, validates the result exactly as `cdk synth` will, and only then replaces the file.
Refusals are one line and leave the file untouched.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import naming
from config.loader import ConfigError, environment_files, load_environment
from config.serving import BASELINE_PREFIX, MODEL_PACKAGE_ARN, MODEL_PACKAGE_ARN_FORM


class PromotionRefused(Exception):
    """One line: what was refused and what is allowed."""


@dataclass(frozen=True)
class ModelVersion:
    """What promotion needs to know of a registered version: its ARN, approval status and baseline."""

    arn: str
    status: str
    #: Key prefix of the version's data-quality baseline in the model-artifacts bucket, if it has one.
    baseline_prefix: str | None
    #: Its containers' model data (ModelDataUrl or ModelDataSource's S3Uri), each s3://<bucket>/<key>: what the endpoint's
    #: role must read.
    model_data: tuple[str, ...] = ()
    #: The bucket of its baseline: the model-artifacts bucket the pipeline that registered it wrote to.
    baseline_bucket: str | None = None


def environment_file(config_dir: Path, env: str) -> Path:
    names = [p.stem for p in environment_files(config_dir)]
    path = config_dir / f"{env}.yaml"
    if env not in names:
        raise PromotionRefused(f"unknown environment {env!r} (allowed: {', '.join(names) or 'none in ' + str(config_dir)})")
    return path


def check_arn(arn: str) -> dict[str, str]:
    match = MODEL_PACKAGE_ARN.fullmatch(arn)
    if not match:
        raise PromotionRefused(f"--model-package {arn!r} is not a model package version ARN (allowed: {MODEL_PACKAGE_ARN_FORM})")
    return match.groupdict()


def baseline_prefix_of(package: dict) -> str | None:
    """pipelines/<env>/<execution>/preprocess/baseline from ModelMetrics.ModelDataQuality.Statistics.S3Uri."""
    uri = (((package.get("ModelMetrics") or {}).get("ModelDataQuality") or {}).get("Statistics") or {}).get("S3Uri")
    if not uri or not uri.startswith("s3://"):
        return None
    key = uri[len("s3://"):].split("/", 1)[1] if "/" in uri[len("s3://"):] else ""
    prefix = key.rsplit("/", 1)[0]
    return prefix if BASELINE_PREFIX.fullmatch(prefix) else None


def describe(arn: str, sagemaker_client) -> ModelVersion:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        package = sagemaker_client.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise PromotionRefused(f"cannot read {arn} from the Model Registry: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise PromotionRefused(f"cannot reach the Model Registry to read {arn}: {exc}") from None
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    model_data = [c.get("ModelDataUrl") or ((c.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
                  for c in containers]
    statistics = (((package.get("ModelMetrics") or {}).get("ModelDataQuality") or {}).get("Statistics") or {}).get("S3Uri")
    return ModelVersion(arn=arn, status=package.get("ModelApprovalStatus", "unknown"), baseline_prefix=baseline_prefix_of(package),
                        model_data=tuple(u for u in model_data if u), baseline_bucket=_bucket(statistics) if statistics else None)


def _bucket(uri: str) -> str:
    return uri.removeprefix("s3://").partition("/")[0]


def unreadable_model_data(version: ModelVersion, env: str, model: str) -> str | None:
    """Why the endpoint's own role could not load the version, or None: it reads only this model's pipeline runs
    (stacks/serving/serving_stack.py), in the bucket the pipeline also wrote the version's baseline to."""
    runs = f"{naming.pipeline_runs_prefix(env, model)}/"
    for url in version.model_data:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        if not key.startswith(runs) or (version.baseline_bucket and bucket != version.baseline_bucket):
            where = f"s3://{version.baseline_bucket}/{runs}" if version.baseline_bucket else f"{runs} of {env}'s model-artifacts bucket"
            return (f"{version.arn}'s model data {url} is not under {where}, which is all the endpoint's role may read "
                    f"(allowed: a version registered by {model}'s training pipeline)")
    return None


def round_trip_yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments, key order and quoting survive the edit
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _last_line(node):
    """Where ruamel keeps the comment lines below a block: the slot of its last line's value (a mapping's last key,
    index 2; a block sequence's last item, index 0), found by descending into the last value while it is a block.
    None for an empty or flow-style node, whose comments below stay where they are when keys are added."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    while isinstance(node, (CommentedMap, CommentedSeq)) and node and not node.fa.flow_style():
        key, index = (next(reversed(node)), 2) if isinstance(node, CommentedMap) else (len(node) - 1, 0)
        child = node[key]
        if not (isinstance(child, (CommentedMap, CommentedSeq)) and child and not child.fa.flow_style()):
            return node, key, index
        node = child
    return None


def _detach_comments_below(block) -> str:
    """The comment lines (and blank lines) below ``block``'s last line, taken off it; its end-of-line comment stays.
    ruamel attaches them to the deepest last value, so without this a key added to ``block`` is written below them:
    a file's next section heading (``# No Studio in prod: ...``) would then sit above the new key instead."""
    slot = _last_line(block)
    if slot is None:
        return ""
    node, key, index = slot
    token = (node.ca.items.get(key) or [None] * 4)[index]
    if token is None or "\n" not in token.value:
        return ""
    # After a block scalar (`|`, `>`) ruamel's token starts on the line below it: all of it is below the block.
    end_of_line, below = ("", token.value) if _block_scalar(node[key]) else token.value.split("\n", 1)
    if end_of_line.strip():
        token.value = end_of_line + "\n"
    else:
        node.ca.items[key][index] = None
    return below


def _block_scalar(value) -> bool:
    from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

    return isinstance(value, (LiteralScalarString, FoldedScalarString))


@contextlib.contextmanager
def _comments_kept_below(block) -> Iterator[None]:
    """Edits inside keep the comment lines below ``block``'s last line below it, whatever keys they add or remove."""
    below = _detach_comments_below(block)
    yield
    _attach_comments_below(block, below)


def _attach_comments_below(block, below: str) -> None:
    """Put comment lines taken off by _detach_comments_below back below ``block``'s (new) last line."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    slot = _last_line(block)
    if not below or slot is None:
        return
    node, key, index = slot
    items = node.ca.items.setdefault(key, [None] * 4)
    if items[index] is not None:
        items[index].value = items[index].value.rstrip("\n") + "\n" + below
    else:
        items[index] = CommentToken(("" if _block_scalar(node[key]) else "\n") + below, CommentMark(0), None)


def edited_text(original: str, model: str, version: ModelVersion) -> tuple[str, list[str]]:
    """The file with models.<model>.serving.model_package_arn (and the baseline) set, and one line per change.
    Comment lines below the model's block stay below it (they head what follows), whatever keys are added."""
    from ruamel.yaml.comments import CommentedMap

    yaml = round_trip_yaml()
    data = yaml.load(original)
    block = data["models"][model]
    at = f"models.{model}.serving"
    changes = []
    # The model's block, then serving's and monitoring's where they are not the block's last key.
    with _comments_kept_below(block):
        serving = block.setdefault("serving", CommentedMap())
        with _comments_kept_below(serving):
            old = serving.get("model_package_arn")
            if old != version.arn:
                if "model_package_arn" in serving:
                    serving["model_package_arn"] = version.arn
                else:
                    serving.insert(0, "model_package_arn", version.arn)
                changes.append(f"{at}.model_package_arn: {old or '(none)'} -> {version.arn}")
            if version.baseline_prefix:
                monitoring = serving.setdefault("monitoring", CommentedMap())
                with _comments_kept_below(monitoring):
                    old_baseline = monitoring.get("baseline_prefix")
                    if old_baseline != version.baseline_prefix:
                        monitoring["baseline_prefix"] = version.baseline_prefix
                        changes.append(f"{at}.monitoring.baseline_prefix: {old_baseline or '(none)'} -> {version.baseline_prefix}")
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue(), changes


def without_versions(original: str, account: str | None = None) -> str:
    """The file with no model version named (every models.<model>.serving.model_package_arn removed), and in
    ``account`` when one is given."""
    yaml = round_trip_yaml()
    data = yaml.load(original)
    if account is not None:
        data["account"] = account
    for model in (data.get("models") or {}).values():
        if isinstance(model, dict) and isinstance(model.get("serving"), dict) and "model_package_arn" in model["serving"]:
            with _comments_kept_below(model):
                model["serving"].pop("model_package_arn")
                if not model["serving"]:  # the same defaults; `serving: {}` would take the comments below inside it
                    del model["serving"]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def promote(config_dir: Path, env: str, model: str, arn: str, sagemaker_client, display_root: Path | None = None) -> list[str]:
    """Edit config/<env>.yaml so that ``model`` serves ``arn``; returns one line per change (empty: already served).
    ``display_root``: messages name the file relative to it (the repository), as synth's do."""
    config_dir = Path(config_dir)
    path = environment_file(config_dir, env)
    parts = check_arn(arn)
    current = load_environment(path, display_root)  # a file that is already broken is refused before any lookup
    try:
        served = current.model(model)
    except ValueError as exc:
        raise PromotionRefused(f"--model: {exc}") from None
    if (parts["account"], parts["region"]) != (current.account, current.region):
        raise PromotionRefused(
            f"{arn} is registered in {parts['account']}/{parts['region']}; {env} is {current.account}/{current.region} "
            f"(allowed: a version from {env}'s own Model Registry)"
        )
    group = naming.model_package_group_name(env, model)
    if parts["group"] != group:
        raise PromotionRefused(f"{arn} is a version of {parts['group']}, not of {model}'s group {group} in {env} "
                               f"(allowed: a version of {group})")
    version = describe(arn, sagemaker_client)
    if version.status != "Approved":
        raise PromotionRefused(
            f"{arn} is {version.status}, not Approved (approve it in SageMaker Studio or with "
            f"`aws sagemaker update-model-package --model-package-arn {arn} --model-approval-status Approved`)"
        )
    # The endpoint runs as its own role, which reads this model's pipeline runs only: a version whose artifact is
    # elsewhere (registered by hand) would fail to load only after the deploy started.
    if problem := unreadable_model_data(version, env, model):
        raise PromotionRefused(problem)
    if served.serving.monitoring.enabled and not version.baseline_prefix:
        raise PromotionRefused(
            f"{arn} has no data-quality baseline (ModelMetrics.ModelDataQuality) and {env} monitors its endpoint "
            "(allowed: a version registered by the training pipeline, which records its baseline)"
        )
    text, changes = edited_text(path.read_text(encoding="utf-8"), model, version)
    if not changes:
        return []
    # Validate the edited file exactly as synth will, under its own name, before replacing anything.
    with tempfile.TemporaryDirectory(dir=config_dir) as scratch:
        candidate = Path(scratch) / path.name
        candidate.write_text(text, encoding="utf-8")
        try:
            load_environment(candidate)
        except ConfigError as exc:
            raise PromotionRefused(f"the edited {path.name} would not synthesize: {str(exc).split(': ', 1)[-1]}") from None
        os.replace(candidate, path)
    return changes
