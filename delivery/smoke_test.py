"""Post-deploy smoke test: is the endpoint in service, and does it answer like the model should?

The delivery pipeline runs it after deploying an environment that declares an endpoint
(`python -m delivery smoke-test --env staging ...`, in CodeBuild, in the tooling account; it
assumes the environment's smoke-test role). Checks, each failing with one line:
  1. the endpoint is InService (or Updating: autoscaling, while it serves);
  2. the sample's raw rows (delivery/samples/<model>.csv: the dataset's input columns with a header
     line, no label: what the business sends) get one probability each, in [0, 1], sent as CSV;
  3. the same rows as JSON records keyed by column get the same scores (both content types);
  4. a row missing its last column gets a 4xx, not a 5xx or a score.
Only boto3 is needed (the step installs nothing else).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).with_name("samples")


def sample_file(model: str) -> Path:
    """The rows the smoke test sends to a model's endpoint: delivery/samples/<model>.csv."""
    return SAMPLES / f"{model}.csv"

SERVING_STATUSES = ("InService", "Updating")
#: Scores for the same rows through CSV and JSON may differ by float formatting only.
TOLERANCE = 1e-6


class SmokeTestFailed(Exception):
    """One line: what was checked, what came back, what was expected."""


@dataclass(frozen=True)
class Answer:
    """An endpoint's answer to one request: the HTTP status the container gave and its body."""

    status: int
    body: bytes


#: Sends one request to the endpoint: (body, content type) -> Answer.
Invoke = Callable[[bytes, str], Answer]


@dataclass(frozen=True)
class Sample:
    """Rows as the business sends them: a header line of input columns, then raw values as text."""

    columns: list[str]
    rows: list[list[str]]

    def csv(self, header: bool = True) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if header:
            writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue().encode()

    def records(self) -> list[dict[str, str | None]]:
        return [{c: (v if v.strip() else None) for c, v in zip(self.columns, row, strict=True)} for row in self.rows]


def sample_rows(path: Path) -> Sample:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SmokeTestFailed(f"cannot read the sample rows {path} ({exc.strerror})") from None
    lines = [row for row in csv.reader(io.StringIO(text)) if row]
    if len(lines) < 2:
        raise SmokeTestFailed(f"{path.name} needs a header line of input columns and at least one row")
    columns, rows = lines[0], lines[1:]
    for number, row in enumerate(rows, start=1):
        if len(row) != len(columns):
            raise SmokeTestFailed(f"{path.name}: row {number} has {len(row)} values for {len(columns)} columns in the header")
    return Sample(columns, rows)


def scores(answer: Answer, expected: int, what: str) -> list[float]:
    if answer.status != 200:
        raise SmokeTestFailed(f"{what}: HTTP {answer.status}: {answer.body[:200].decode(errors='replace')}")
    text = answer.body.decode(errors="replace").strip()
    try:
        if text.startswith(("[", "{")):
            data = json.loads(text)
            values = data.get("predictions", data) if isinstance(data, dict) else data
            values = [v.get("score") if isinstance(v, dict) else v for v in values]
        else:
            values = [line for line in text.replace(",", "\n").splitlines() if line.strip()]
        result = [float(v) for v in values]
    except (ValueError, TypeError, AttributeError):
        raise SmokeTestFailed(f"{what}: the answer is not a list of scores: {text[:200]!r}") from None
    if len(result) != expected:
        raise SmokeTestFailed(f"{what}: {len(result)} scores for {expected} rows (expected one score per row)")
    bad = [s for s in result if not (math.isfinite(s) and 0.0 <= s <= 1.0)]
    if bad:
        raise SmokeTestFailed(f"{what}: scores outside [0, 1]: {bad[:3]} (expected probabilities)")
    return result


def check_predictions(invoke: Invoke, sample: Sample) -> list[str]:
    """Checks 2-4 above; returns one line per check passed."""
    rows = len(sample.rows)
    by_csv = scores(invoke(sample.csv(), "text/csv"), rows, "text/csv request")
    by_json = scores(invoke(json.dumps({"instances": sample.records()}).encode(), "application/json"), rows,
                     "application/json request")
    if any(abs(a - b) > TOLERANCE for a, b in zip(by_csv, by_json, strict=True)):
        raise SmokeTestFailed(f"CSV and JSON requests scored the same rows differently: {by_csv} vs {by_json}")
    short = Sample(sample.columns[:-1], [sample.rows[0][:-1]]).csv(header=False)
    refused = invoke(short, "text/csv")
    if not 400 <= refused.status < 500:
        raise SmokeTestFailed(
            f"a row without its last column ({sample.columns[-1]}) got HTTP {refused.status} (expected a 4xx naming the problem)"
        )
    return [
        f"{rows} raw rows scored (CSV with a header): {', '.join(f'{s:.4f}' for s in by_csv)}",
        "the same rows as JSON records scored the same",
        f"a row without its last column was refused with HTTP {refused.status}",
    ]


def endpoint_invoker(runtime, endpoint: str) -> Invoke:
    """An Invoke through SageMaker Runtime; the container's own 4xx comes back as ModelError."""
    from botocore.exceptions import ClientError

    def invoke(body: bytes, content_type: str) -> Answer:
        try:
            response = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type,
                                               Accept="application/json" if "json" in content_type else "text/csv")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            # The container's own answer comes back as ModelError with its status; any other error
            # (throttling, validation, a 424 without a status) is SageMaker's, not the model's judgement.
            if error.get("Code") == "ModelError" and exc.response.get("OriginalStatusCode"):
                return Answer(int(exc.response["OriginalStatusCode"]), str(error.get("Message")).encode())
            raise SmokeTestFailed(f"invoking {endpoint} failed: {error.get('Code')}: {error.get('Message')}") from None
        return Answer(200, response["Body"].read())

    return invoke


def run(*, env: str, region: str, endpoint: str, role_arn: str | None, sample: Path, session=None,
        endpoint_url: str | None = None) -> list[str]:
    """``endpoint_url``: every AWS call goes there (the local emulator's http://localhost:PORT), as the other
    delivery commands' --endpoint-url does."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = session or boto3.session.Session(region_name=region)
    try:
        if role_arn:
            credentials = session.client("sts", endpoint_url=endpoint_url).assume_role(
                RoleArn=role_arn, RoleSessionName=f"{env}-smoke-test"
            )["Credentials"]
            session = boto3.session.Session(
                region_name=region,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        status = session.client("sagemaker", endpoint_url=endpoint_url).describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except (ClientError, BotoCoreError) as exc:
        raise SmokeTestFailed(f"{env}: cannot describe endpoint {endpoint}: {exc}") from None
    # Autoscaling sets Updating while the fleet keeps serving; anything else means it does not serve.
    if status not in SERVING_STATUSES:
        raise SmokeTestFailed(f"{env}: endpoint {endpoint} is {status} (expected {' or '.join(SERVING_STATUSES)})")
    lines = [f"{env}: endpoint {endpoint} is InService"]
    lines += check_predictions(endpoint_invoker(session.client("sagemaker-runtime", endpoint_url=endpoint_url), endpoint),
                               sample_rows(sample))
    return lines
