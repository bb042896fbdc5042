"""`make demo`: the dev environment on the embedded AWS emulator, no AWS account needed.

Starts the emulator on a free localhost port, bootstraps, deploys every dev stack with
the real CDK CLI, prints what was created, and always stops the emulator on the way out
(also on Ctrl-C). `--keep-running` leaves it up so you can explore with the AWS CLI.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from local.cdk_cli import CdkError
from local.deployment import deploy_stage, format_inventory, inventory
from local.emulator import Emulator, EmulatorError

ENV_NAME = "dev"


def step(number: int, text: str) -> float:
    print(f"[{number}/3] {text}", flush=True)
    return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="emulator port (default: a free one)")
    parser.add_argument("--keep-running", action="store_true", help="leave the emulator up until Ctrl-C")
    args = parser.parse_args(argv)
    # Ctrl-C must always stop the demo and its emulator, even if SIGINT was inherited as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.perf_counter()
    try:
        t = step(1, "starting the embedded AWS emulator (moto server) on localhost")
        with Emulator(port=args.port) as emulator:
            print(f"      {emulator.endpoint_url}  ({time.perf_counter() - t:.1f}s)")
            t = step(2, f"cdk bootstrap + cdk deploy '{ENV_NAME}/*' against it (synth runs cdk-nag on every stage)")
            deploy_stage(emulator, ENV_NAME)
            print(f"      deployed in {time.perf_counter() - t:.1f}s")
            step(3, "what the dev environment contains")
            print(format_inventory(inventory(emulator, ENV_NAME)))
            print(f"\ndemo finished in {time.perf_counter() - started:.1f}s")
            if args.keep_running:
                print(f"\nemulator still running: export AWS_ENDPOINT_URL={emulator.endpoint_url} "
                      "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing; Ctrl-C stops it")
                while True:
                    time.sleep(3600)
    except (EmulatorError, CdkError) as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopped; the emulator is shut down", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
