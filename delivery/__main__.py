"""python -m delivery promote | smoke-test  (see --help of each).

promote     edit config/<env>.yaml so a model serves an approved version; commit it in a pull request
smoke-test  after a deploy: an endpoint is in service and scores sample rows like a model should
Errors are one line on stderr: exit 2 for a refused request, 1 for a failed smoke test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m delivery", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    promote = commands.add_parser("promote", help="serve an approved model version in an environment (edits its config)")
    promote.add_argument("--env", required=True, help="environment name: a file config/<env>.yaml")
    promote.add_argument("--model", required=True, help="the model of the environment's catalog (models: in its config)")
    promote.add_argument("--model-package", required=True, metavar="ARN", help="the model package version to serve")
    promote.add_argument("--config-dir", type=Path, default=ROOT / "config", help="default: the repository's config/")
    promote.add_argument("--endpoint-url", help="SageMaker API endpoint (e.g. the local emulator's http://localhost:PORT)")
    smoke = commands.add_parser("smoke-test", help="check a deployed endpoint (the delivery pipeline runs this)")
    smoke.add_argument("--env", required=True)
    smoke.add_argument("--region", required=True)
    smoke.add_argument("--endpoint", required=True, help="endpoint name")
    smoke.add_argument("--sample", type=Path, required=True, help="CSV of preprocessed rows without the label: delivery/samples/<model>.csv")
    smoke.add_argument("--role-arn", help="role to assume in the environment's account (the pipeline's cross-account role)")
    return parser


def _promote(args: argparse.Namespace) -> int:
    from config.loader import ConfigError
    from delivery.promote import PromotionRefused, check_arn, promote

    try:
        region = check_arn(args.model_package)["region"]
        import boto3

        client = boto3.client("sagemaker", region_name=region, endpoint_url=args.endpoint_url)
        changes = promote(args.config_dir, args.env, args.model, args.model_package, client)
    except (PromotionRefused, ConfigError) as exc:
        print(f"promote: {exc}", file=sys.stderr)
        return 2
    path = (args.config_dir / f"{args.env}.yaml").resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not changes:
        print(f"{shown}: {args.model} already serves {args.model_package}; nothing changed")
        return 0
    print(f"{shown}:")
    for change in changes:
        print(f"  {change}")
    print(f"Next: `make diff ENV={args.env}` shows what deploying it changes; commit {shown} and open a pull request.")
    return 0


def _smoke_test(args: argparse.Namespace) -> int:
    from delivery.smoke_test import SmokeTestFailed, run

    try:
        lines = run(env=args.env, region=args.region, endpoint=args.endpoint, role_arn=args.role_arn, sample=args.sample)
    except SmokeTestFailed as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"ok: {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _promote(args) if args.command == "promote" else _smoke_test(args)


if __name__ == "__main__":
    sys.exit(main())
