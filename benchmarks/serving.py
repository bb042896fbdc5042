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


def bench(model_dir: Path, test_dir: Path) -> int:
    features, _ = sm_contract.read_label_first_csv(test_dir, "test")
    batch = np.resize(features, (1000, features.shape[1]))
    bodies = {1: ",".join(f"{v:g}" for v in batch[0]).encode(),
              1000: "\n".join(",".join(f"{v:g}" for v in row) for row in batch).encode()}
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

        if over_http(bodies[1000]).decode() != in_process(bodies[1000]):
            sys.exit("HTTP and in-process predictions differ")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"model with {model.num_features} features, {model.booster.num_boosted_rounds()} trees")
        ratios = {}
        for rows, count in ((1, 2000), (1000, 200)):
            print(f"{rows}-row text/csv requests ({len(bodies[rows])} bytes), {count} each:")
            body, parsed = bodies[rows], batch[:rows]
            http_rate = report("HTTP, keep-alive, serve.py in its own process", rows, measure(partial(over_http, body), count))
            local_rate = report("in process: input_fn -> predict_fn -> output_fn", rows, measure(partial(in_process, body), count))
            report("booster alone: inplace_predict(parsed array)", rows, measure(partial(model.booster.inplace_predict, parsed), count))
            ratios[rows] = http_rate / local_rate
            print(f"  HTTP / in-process throughput: {ratios[rows]:.2f}")
        print(f"targets: 1-row p99 < 10 ms (above); 1000-row ratio >= 0.5: {ratios[1000]:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="a model directory from train.py (default: train one now)")
    parser.add_argument("--test-dir", type=Path, help="label-first CSV rows to send (default: the new model's test split)")
    args = parser.parse_args()
    if args.model_dir:
        if not args.test_dir:
            parser.error("--model-dir needs --test-dir")
        return bench(args.model_dir, args.test_dir)

    with tempfile.TemporaryDirectory() as tmp:
        training.run_once(Path(tmp) / "run")
        return bench(Path(tmp) / "run" / "model", Path(tmp) / "run" / "splits" / "test")


if __name__ == "__main__":
    sys.exit(main())
