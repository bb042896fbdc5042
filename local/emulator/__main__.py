"""`python -m local.emulator [--port N]`: the emulator in the foreground, with the exports to use it; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time

from local.emulator import DEFAULT_REGION, Emulator, EmulatorError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m local.emulator", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, help="port to bind on 127.0.0.1 (default: a free one)")
    ap.add_argument("--region", default=DEFAULT_REGION)
    ap.add_argument("--log-file", help="moto server log (default: under the temp dir)")
    args = ap.parse_args(argv)
    # Python leaves SIGINT ignored when it started ignored (e.g. launched in the background of a
    # non-interactive shell); this command's contract is "Ctrl-C stops it", so claim it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with Emulator(args.port, region=args.region, log_path=args.log_file) as emu:
            print(f"AWS emulator (moto) listening at {emu.endpoint_url}  log: {emu.log_path}")
            print("In another shell:")
            for k, v in emu.aws_env().items():
                print(f"  export {k}={shlex.quote(v)}")
            stale = sorted({"AWS_PROFILE", "AWS_SESSION_TOKEN"} | {k for k in os.environ if k.startswith("AWS_")})
            print("  unset " + " ".join(k for k in stale if k not in emu.aws_env()))
            print("Ctrl-C to stop.", flush=True)
            while emu.running:
                time.sleep(0.5)
            raise EmulatorError(f"moto server exited unexpectedly (log {emu.log_path}): {emu._tail()}")
    except KeyboardInterrupt:
        print("\nemulator stopped")
        return 0
    except EmulatorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1



sys.exit(main())
