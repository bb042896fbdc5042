"""python -m delivery promote | smoke-test | upload-data | import-mapping | preflight | environments  (see --help of each).

promote         edit config/<env>.yaml so a model serves an approved version; commit it in a pull request
smoke-test      after a deploy: an endpoint is in service and scores sample rows like a model should
upload-data     put a model's data_file where its deployed pipeline reads it (the raw-data bucket)
import-mapping  the `cdk import --resource-mapping` file that adopts retained registry groups again
preflight       before a deploy: CDK bootstrap, Service Quotas, images; one line per shortfall (exit 1)
environments    the environments of config/ and their regions as JSON (the pull-request workflow's diff matrix)
Errors are one line on stderr: exit 2 for a refused request, 1 for a failed smoke test.
"""

from __future__ import annotations

import argparse
import shlex
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
    smoke.add_argument("--sample", type=Path, required=True,
                       help="raw rows with a header line of input columns, no label: delivery/samples/<model>.csv")
    smoke.add_argument("--role-arn", help="role to assume in the environment's account (the pipeline's cross-account role)")
    smoke.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local emulator's http://localhost:PORT)")
    upload = commands.add_parser("upload-data", help="upload a model's data_file to the environment's raw-data bucket")
    upload.add_argument("--env", required=True)
    upload.add_argument("--model", required=True)
    upload.add_argument("--config-dir", type=Path, default=ROOT / "config")
    upload.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local emulator's http://localhost:PORT)")
    mapping = commands.add_parser("import-mapping", help="print the resource mapping that `cdk import` takes to adopt "
                                  "retained registry groups into <env>-Data")
    mapping.add_argument("--env", required=True)
    mapping.add_argument("--model", action="append", help="only this model (repeatable; default: every model)")
    mapping.add_argument("--config-dir", type=Path, default=ROOT / "config")
    check = commands.add_parser("preflight", help="check the target account before deploying an environment")
    check.add_argument("--env", required=True)
    check.add_argument("--config-dir", type=Path, default=ROOT / "config")
    check.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local emulator's http://localhost:PORT)")
    check.add_argument("--verbose", action="store_true", help="also list what is fine")
    listing = commands.add_parser("environments", help="the environments and their regions, as a JSON list of "
                                  '{"environment", "region"} (the pull-request workflow\'s cdk diff matrix)')
    listing.add_argument("--config-dir", type=Path, default=ROOT / "config")
    return parser


def _environments(args: argparse.Namespace) -> int:
    import json

    from config.loader import ConfigError, load_environments

    try:
        environments = load_environments(args.config_dir, display_root=ROOT)
    except ConfigError as exc:
        print(f"environments: {exc}", file=sys.stderr)
        return 2
    print(json.dumps([{"environment": env.name, "region": env.region} for env in environments]))
    return 0


def _preflight(args: argparse.Namespace) -> int:
    from config.loader import ConfigError
    from delivery.preflight import preflight
    from delivery.promote import PromotionRefused

    try:
        env = _environment(args)
    except (ConfigError, PromotionRefused) as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2
    import boto3

    session = boto3.session.Session(region_name=env.region)
    replica = env.data.replication.region if env.data.replication else None
    report = preflight(env, sts=session.client("sts", endpoint_url=args.endpoint_url),
                       ssm=session.client("ssm", endpoint_url=args.endpoint_url),
                       service_quotas=session.client("service-quotas", endpoint_url=args.endpoint_url),
                       ec2=session.client("ec2", endpoint_url=args.endpoint_url),
                       sagemaker=session.client("sagemaker", endpoint_url=args.endpoint_url),
                       replica_ssm=session.client("ssm", region_name=replica, endpoint_url=args.endpoint_url) if replica else None)
    for line in report.ok if args.verbose else []:
        print(f"ok: {line}")
    for line in report.notes:
        print(f"note: {line}")
    for line in report.shortfalls:
        print(f"preflight: {line}", file=sys.stderr)
    if report.shortfalls:
        print(f"{env.name}: {len(report.shortfalls)} shortfall(s) in {env.account}/{env.region}; fix them, then deploy",
              file=sys.stderr)
        return 1
    print(f"{env.name}: {env.account}/{env.region} is ready: bootstrap, {sum('Service Quotas' in o for o in report.ok)} "
          "quotas and the images checked")
    return 0


def _environment(args: argparse.Namespace):
    from config.loader import load_environment
    from delivery.promote import environment_file

    return load_environment(environment_file(args.config_dir, args.env), display_root=ROOT)


def _upload_data(args: argparse.Namespace) -> int:
    from config.loader import ConfigError
    from delivery.promote import PromotionRefused
    from delivery.registry import RegistryError, upload_data

    try:
        env = _environment(args)
        import boto3

        session = boto3.session.Session(region_name=env.region)
        done = upload_data(env, args.model, session.client("cloudformation", endpoint_url=args.endpoint_url),
                           session.client("s3", endpoint_url=args.endpoint_url))
    except (RegistryError, ConfigError, PromotionRefused) as exc:
        print(f"upload-data: {exc}", file=sys.stderr)
        return 2
    print(f"{done.model}: {done.source} -> {done.uri}")
    return 0


def _import_mapping(args: argparse.Namespace) -> int:
    import json

    from config.loader import ConfigError
    from delivery.promote import PromotionRefused
    from delivery.registry import RegistryError, import_mapping

    try:
        mapping = import_mapping(_environment(args), args.model)
    except (RegistryError, ConfigError, PromotionRefused) as exc:
        print(f"import-mapping: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(mapping, indent=2))
    return 0


def _promote(args: argparse.Namespace) -> int:
    from config.loader import ConfigError
    from delivery.promote import PromotionRefused, check_arn, promote

    try:
        region = check_arn(args.model_package)["region"]
        import boto3

        client = boto3.client("sagemaker", region_name=region, endpoint_url=args.endpoint_url)
        changes = promote(args.config_dir, args.env, args.model, args.model_package, client, display_root=ROOT)
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
    # cdk synthesizes config/ unless told otherwise: the command must name the directory this edit is in.
    directory = args.config_dir.resolve()
    context = "" if directory == (ROOT / "config").resolve() else \
        f" --context config_dir={shlex.quote(str(directory.relative_to(ROOT) if directory.is_relative_to(ROOT) else directory))}"
    if args.endpoint_url:  # the emulator: make diff would ask AWS
        print(f"Next: `npx cdk deploy '{args.env}/*' --require-approval never{context}` with the emulator's exports (as "
              "`make demo ARGS=--keep-running` prints them) deploys it there.")
    elif context:  # make diff reads config/
        print(f"Next: `npx cdk diff '{args.env}/*'{context}` shows what deploying it changes.")
    else:
        print(f"Next: `make diff ENV={args.env}` shows what deploying it changes; commit {shown} and open a pull request.")
    return 0


def _smoke_test(args: argparse.Namespace) -> int:
    from delivery.smoke_test import SmokeTestFailed, run

    try:
        lines = run(env=args.env, region=args.region, endpoint=args.endpoint, role_arn=args.role_arn, sample=args.sample,
                    endpoint_url=args.endpoint_url)
    except SmokeTestFailed as exc:
        print(f"smoke test failed: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"ok: {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"promote": _promote, "smoke-test": _smoke_test, "upload-data": _upload_data,
                "import-mapping": _import_mapping, "preflight": _preflight, "environments": _environments}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
