#!/usr/bin/env python3
"""Print the local inference server's figures next to in-process prediction on the same rows.

Trains the example model as the pipeline does (benchmarks/training.py's steps), starts
training_scripts/serve.py in its own process, and sends keep-alive requests over loopback
from this one: 1-row and 1000-row text/csv bodies built from the test split. For each it
prints requests per second, rows per second and p50/p99 latency, and the same for
in-process prediction, which calls the very functions the server calls (input_fn ->
predict_fn -> output_fn) on the same bodies without HTTP; the ratio is HTTP over in-process
throughput. The booster alone (inplace_predict on an already parsed array) is printed too,
so the cost of parsing text is visible.

Targets on loopback: 1-row p99 under 10 ms; 1000-row throughput at least half of in-process.
Run with `make bench-serving` (or `python benchmarks/serving.py --model-dir DIR` for a model
you trained).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks import training
from local.emulator import free_port
from local.paths import REPO_ROOT as ROOT

import inference
import serve
import sm_contract

SCRIPTS = ROOT / "training_scripts"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(call, count: int) -> list[float]:
    for _ in range(min(20, count)):  # warm-up: connection, caches, thread pool
        call()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, rows: int, times: list[float]) -> float:
    throughput = rows * len(times) / sum(times)
    print(f"  {label:<48} {len(times) / sum(times):8.0f} req/s {throughput:10.0f} rows/s   "
          f"p50 {percentile(times, 50) * 1000:7.2f} ms   p99 {percentile(times, 99) * 1000:7.2f} ms")
    return throughput


def bodies_of(splits: Path, rows: int) -> dict[str, bytes]:
    """`rows` test rows as each request form: raw without and with a header, and preprocessed vectors."""
    spec = json.loads((splits / "metadata" / "features.json").read_text())
    raw_lines = [line.split(",", 1)[1] for path in sorted((splits / "raw-test").glob("*.csv"))
                 for line in path.read_text().splitlines() if line]
    vectors, _ = sm_contract.read_label_first_csv(splits / "test", "test")
    raw = (raw_lines * (rows // len(raw_lines) + 1))[:rows]
    header = ",".join(c["name"] for c in spec["columns"])
    return {
        "raw rows, no header": "\n".join(raw).encode(),
        "raw rows, header": (header + "\n" + "\n".join(raw)).encode(),
        "preprocessed vectors": "\n".join(",".join(repr(float(v)) for v in row) for row in np.resize(vectors, (rows, vectors.shape[1]))).encode(),
    }


def bench(model_dir: Path, splits: Path) -> int:
    vectors, _ = sm_contract.read_label_first_csv(splits / "test", "test")
    model = inference.model_fn(str(model_dir))
    port = free_port()
    try:
        server = serve.start_process(str(model_dir), port)
    except RuntimeError as error:
        sys.exit(str(error))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port)

        def over_http(body: bytes) -> bytes:
            connection.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                sys.exit(f"server answered {response.status}: {answer[:200]!r}")
            return answer

        def in_process(body: bytes) -> str:
            return inference.output_fn(inference.predict_fn(inference.input_fn(body, "text/csv"), model), "text/csv")[0]

        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"model with {len(model.preprocessing.columns) if model.preprocessing else '?'} input columns, "
              f"{model.num_features} features, {model.booster.num_boosted_rounds()} trees")
        figures: dict[tuple[int, str], dict[str, float]] = {}
        for rows, count in ((1, 2000), (1000, 200)):
            forms = bodies_of(splits, rows)
            answers = {in_process(body) for body in forms.values()}
            if len(answers) != 1 or over_http(forms["raw rows, no header"]).decode() != answers.pop():
                sys.exit("raw rows, vectors, HTTP and in-process predictions differ")
            parsed = np.resize(vectors, (rows, vectors.shape[1])).astype(np.float32)
            booster = report(f"{rows}-row booster alone: inplace_predict(parsed array)", rows,
                             measure(partial(model.booster.inplace_predict, parsed), count))
            for form, body in forms.items():
                print(f"{rows}-row text/csv requests, {form} ({len(body)} bytes), {count} each:")
                http_rate = report("HTTP, keep-alive, serve.py in its own process", rows, measure(partial(over_http, body), count))
                local_rate = report("in process: input_fn -> predict_fn -> output_fn", rows, measure(partial(in_process, body), count))
                figures[(rows, form)] = {"http": http_rate, "local": local_rate, "booster": booster}
                print(f"  HTTP / in-process: {http_rate / local_rate:.2f}; in-process / booster alone: {local_rate / booster:.3f}")
        raw = figures[(1000, "raw rows, no header")]
        print(f"targets, 1000 raw rows: HTTP / in-process >= 0.5: {raw['http'] / raw['local']:.2f}; "
              f"in-process / booster alone >= 0.25: {raw['local'] / raw['booster']:.3f}; 1-row p99 < 10 ms: above")
        csv_readers(bodies_of(splits, 1000)["raw rows, no header"], model, raw["booster"])
        request_stages(bodies_of(splits, 1000)["raw rows, no header"], model, raw["booster"])
        through_runtime_api(model_dir, splits, figures)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


def csv_readers(body: bytes, model, booster_rate: float, count: int = 200) -> None:
    """Parsing the 1000-row body alone, with inference.py's reader and the others a container could use, and
    the ratio each would leave at best: booster alone / (parse + booster), as if encoding and writing the
    answer were free. Shows whether a different library would reach the 0.25 target."""
    import io

    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    prep = model.preprocessing
    if prep is None:
        return
    readers = {
        "Arrow (inference.py's call)": lambda: inference._read_csv(body, prep.columns, prep.raw_types, skip_header=False),
        "Arrow, its thread pool": lambda: pa_csv.read_csv(io.BytesIO(body), read_options=pa_csv.ReadOptions(
            column_names=prep.columns, use_threads=True), convert_options=pa_csv.ConvertOptions(column_types=prep.raw_types)),
        f"pandas {pd.__version__} read_csv, C engine": lambda: pd.read_csv(io.BytesIO(body), header=None, names=prep.columns,
                                                                           dtype=dict.fromkeys(prep.categorical, str)),
    }
    if not prep.categorical:
        readers[f"numpy {np.__version__} loadtxt"] = lambda: np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2)
    try:  # not in the XGBoost image nor in requirements: measured only where someone installed it
        import polars as pl  # type: ignore[import-not-found]

        schema = {c: (pl.String if c in prep.categorical else pl.Float64) for c in prep.columns}
        readers[f"polars {pl.__version__} read_csv"] = lambda: pl.read_csv(io.BytesIO(body), has_header=False, schema=schema)
    except ImportError:
        pass
    print(f"1000-row raw body ({len(body)} bytes, {len(prep.columns)} columns) parsed alone, {count} each "
          f"(pyarrow {pa.__version__}):")
    for label, read in readers.items():
        rate = report(label, 1000, measure(read, count))
        print(f"  best in-process / booster alone with this reader: {1 / (1 + booster_rate / rate):.3f}")


def request_stages(body: bytes, model, booster_rate: float, count: int = 300) -> None:
    """Where one in-process 1000-row raw request spends its time: each stage timed in the order a request runs
    them (median of ``count`` requests), not in a loop of its own, where caches and XGBoost's threads stay warm and
    every stage looks cheaper. The last line is the most the ratio could be if everything but the read were free."""
    prep = model.preprocessing
    if prep is None:
        return
    stages: dict[str, list[float]] = {}

    def timed(name: str, call, *args):
        start = time.perf_counter()
        value = call(*args)
        stages.setdefault(name, []).append(time.perf_counter() - start)
        return value

    for number in range(count + 20):
        payload = timed("input_fn (size, type, UTF-8)", inference.parse, body, "text/csv")
        timed("first line (header rule)", inference._first_line, payload.data)
        table = timed("Arrow read (typed)", inference._read_csv, payload.data, prep.columns, prep.raw_types, False, prep.na_values)
        matrix = timed("encode (medians, one-hot)", inference._encode, table, prep)
        scores = timed("booster.inplace_predict", model.booster.inplace_predict, matrix)
        timed("output_fn (CSV scores)", inference.output_fn, scores, "text/csv")
        if number == 19:
            stages.clear()  # warm-up
    print(f"one 1000-row raw request, stage by stage in request order (median of {count}):")
    medians = {name: float(np.median(times)) for name, times in stages.items()}
    for name, seconds in medians.items():
        print(f"  {name:32} {seconds * 1000:7.3f} ms")
    booster = 1000 / booster_rate
    print(f"  sum {sum(medians.values()) * 1000:.3f} ms; booster alone in its own loop {booster * 1000:.3f} ms; "
          f"booster alone / Arrow read = {booster / medians['Arrow read (typed)']:.3f} (the ratio's ceiling)")


def through_runtime_api(model_dir: Path, splits: Path, figures: dict) -> None:
    """The same raw rows through the emulator's SageMaker runtime API: the model registered as a version, an
    endpoint created from it with the SageMaker API, InvokeEndpoint with boto3 as a user's code calls it. The
    overhead is what the API adds per request over calling serve.py directly."""
    import io
    import tarfile

    from local.emulator import Emulator

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    with Emulator() as emulator:
        s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
        s3.create_bucket(Bucket="bench-models")
        s3.put_object(Bucket="bench-models", Key="model.tar.gz", Body=archive.getvalue())
        sagemaker.create_model_package_group(ModelPackageGroupName="bench")
        package = sagemaker.create_model_package(
            ModelPackageGroupName="bench", ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://bench-models/model.tar.gz"}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
        sagemaker.create_model(ModelName="bench", ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
                               Containers=[{"ModelPackageName": package}])
        sagemaker.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[
            {"VariantName": "primary", "ModelName": "bench", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
        sagemaker.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
        runtime = emulator.client("sagemaker-runtime")

        def invoke(body: bytes) -> bytes:
            return bytes(runtime.invoke_endpoint(EndpointName="bench", Body=body, ContentType="text/csv", Accept="text/csv")["Body"].read())

        for rows, count in ((1, 500), (1000, 100)):
            body = bodies_of(splits, rows)["raw rows, no header"]
            print(f"{rows}-row text/csv requests, raw rows, no header, through the emulated runtime API, {count} each:")
            rate = report("InvokeEndpoint (boto3 -> emulator -> serve.py)", rows, measure(partial(invoke, body), count))
            direct = figures[(rows, "raw rows, no header")]["http"]
            print(f"  runtime API / serve.py directly: {rate / direct:.2f}; added per request: "
                  f"{(rows / rate - rows / direct) * 1000:.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="a model directory from train.py (default: train one now)")
    parser.add_argument("--splits", type=Path, help="preprocess.py's output for that model: test, raw-test and metadata "
                        "(default: the new model's)")
    args = parser.parse_args()
    if args.model_dir:
        if not args.splits:
            parser.error("--model-dir needs --splits")
        return bench(args.model_dir, args.splits)

    with tempfile.TemporaryDirectory() as tmp:
        training.run_once(Path(tmp) / "run")
        return bench(Path(tmp) / "run" / "model", Path(tmp) / "run" / "splits")


if __name__ == "__main__":
    sys.exit(main())
