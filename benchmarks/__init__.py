"""Scripts that measure and print the project's figures (make bench); not tests."""

from __future__ import annotations

import datetime
import os
import platform

#: Synth and tests must not reach AWS: endpoints point at a closed port, credentials are fake.
OFFLINE = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "none",
    "AWS_SECRET_ACCESS_KEY": "none",
    "AWS_DEFAULT_REGION": "us-east-1",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
}


def print_table(rows: list[tuple[str, float, str, str]], width: int = 64) -> None:
    """The machine, then one line per measure: value, unit, target ("<= 45", "< 10", ">= 0.5") and whether it is met."""
    print(f"{datetime.date.today()}  machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'measure':<{width}} {'value':>8} {'unit':<4} {'target':>7}  ok")
    for name, value, unit, target in rows:
        verdict = "-"
        if target:
            op, bound = target.split()
            met = {"<=": value <= float(bound), "<": value < float(bound), ">=": value >= float(bound)}[op]
            verdict = "yes" if met else "NO"
        print(f"{name:<{width}} {value:>8.2f} {unit:<4} {target or '-':>7}  {verdict}")
