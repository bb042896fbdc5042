"""CreateTransformJob, locally: serve.py answers MultiRecord batches of the input's lines."""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from local.jobs.container import Container, extract
from local.jobs.errors import JobFailed
from local.jobs.hosting import invoke, serving
from local.jobs.s3 import download, split_uri


def csv_filter(expression: str | None, what: str) -> Callable[[list[str]], list[str]]:
    """Batch transform's JSONPath filters on CSV records: $, $[a:b], $[i,j,...]."""
    if expression in (None, "$"):
        return lambda fields: fields
    match = re.fullmatch(r"\$\[(-?\d*):(-?\d*)\]", expression)
    if match:
        lo, hi = (int(v) if v else None for v in match.groups())
        return lambda fields: fields[lo:hi]
    match = re.fullmatch(r"\$\[(-?\d+(?:\s*,\s*-?\d+)*)\]", expression)
    if match:
        indexes = [int(v) for v in match.group(1).split(",")]
        return lambda fields: [fields[i] for i in indexes]
    raise JobFailed(f"{what} {expression!r} is not supported locally (allowed: $, $[a:b], $[i,j,...])")


def transform_job(s3: Any, request: dict, model_data_url: str, root: Path) -> int:
    """CreateTransformJob, locally: serve.py answers MultiRecord batches of the input's lines.
    Returns the number of records written."""
    source = request["TransformInput"]
    if request.get("BatchStrategy", "MultiRecord") != "MultiRecord" or request["TransformOutput"].get("AssembleWith", "Line") != "Line":
        raise JobFailed("only BatchStrategy MultiRecord with AssembleWith Line is supported locally")
    if source.get("ContentType", "text/csv") != "text/csv" or source.get("SplitType") != "Line":
        raise JobFailed("only text/csv input split by Line is supported locally")
    output = request["TransformOutput"]
    accept = output.get("Accept", "text/csv")
    processing = request.get("DataProcessing", {})
    input_filter = csv_filter(processing.get("InputFilter"), "InputFilter")
    output_filter = csv_filter(processing.get("OutputFilter"), "OutputFilter")
    join = processing.get("JoinSource", "None") == "Input"
    limit = int(request.get("MaxPayloadInMB", 6)) * 1024 * 1024
    container = Container(root)
    archive = container.path("/opt/ml/model.tar.gz")
    archive.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(*split_uri(model_data_url), str(archive))
    model_dir = extract(archive, container.path("/opt/ml/model"))
    input_dir = container.path("/opt/ml/input/transform")
    inputs = download(s3, source["DataSource"]["S3DataSource"]["S3Uri"], input_dir)
    written = 0
    with serving(model_dir) as address:
        connection = http.client.HTTPConnection(address, timeout=60)
        for path in inputs:
            records = [line.split(",") for line in path.read_text().splitlines() if line.strip()]
            results: list[str] = []
            for batch in batches(records, limit):
                body = "\n".join(",".join(input_filter(r)) for r in batch).encode()
                predictions = invoke(connection, body, "text/csv", accept).decode().splitlines()
                if len(predictions) != len(batch):
                    raise JobFailed(f"{path.name}: {len(batch)} records sent, {len(predictions)} predictions back")
                for record, prediction in zip(batch, predictions, strict=True):
                    fields = (record if join else []) + prediction.split(",")
                    results.append(",".join(output_filter(fields)))
            # <output path>/<the input's key below the input prefix>.out, sub-folders kept (as SageMaker names them)
            bucket, key = split_uri(f"{output['S3OutputPath'].rstrip('/')}/{path.relative_to(input_dir).as_posix()}.out")
            s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(results) + "\n").encode())
            written += len(results)
        connection.close()
    return written


def batches(records: list[list[str]], limit: int) -> Iterator[list[list[str]]]:
    """MultiRecord batches: as many records as fit in ``limit`` bytes of CSV (at least one each)."""
    batch: list[list[str]] = []
    size = 0
    for record in records:
        line_size = sum(len(f) + 1 for f in record)
        if batch and size + line_size > limit:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += line_size
    if batch:
        yield batch
