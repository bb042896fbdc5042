"""Take docs/images/mlflow-compare-runs.png: MLflow's UI comparing two runs of the example model.

    make screenshot-mlflow          # or: python -m local.screenshot --out docs/images/mlflow-compare-runs.png

Starts the local MLflow server (local/tracking_server.py) in a scratch folder, logs two pipeline executions
of the example model as its jobs log them (local/tracking_runs.py; the second with a smaller learning
rate), opens MLflow's compare-runs page for the two in a headless Chromium and saves what it renders.
Chromium is not a project dependency: install it with your system's packages (Debian: apt-get install
chromium) or name it with --browser.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from config import load_environment
from local.paths import REPO_ROOT, shown
from local.tracking_runs import log_execution
from local.tracking_server import TrackingServer, quiet_plugin_warnings

OUT = REPO_ROOT / "docs" / "images" / "mlflow-compare-runs.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MODEL = "direct-marketing"


def compare_url(server: str, experiment_id: str, run_ids: list[str]) -> str:
    """MLflow's compare-runs page (its UI routes: #/compare-runs?runs=[...]&experiments=[...])."""
    query = urllib.parse.urlencode({"runs": json.dumps(run_ids), "experiments": json.dumps([experiment_id])})
    return f"{server}/#/compare-runs?{query}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--browser", help=f"a Chromium executable (default: the first of {', '.join(BROWSERS)} on PATH)")
    args = parser.parse_args(argv)
    browser = args.browser or next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if not browser:
        sys.exit(f"no headless browser found (looked for {', '.join(BROWSERS)}); install Chromium or pass --browser")
    model = load_environment(REPO_ROOT / "config" / "dev.yaml", display_root=REPO_ROOT).models[MODEL]
    with tempfile.TemporaryDirectory(prefix="mlflow-screenshot-") as scratch, TrackingServer(Path(scratch) / "mlflow") as server:
        runs = [log_execution(server.url, model, execution, Path(scratch), hyperparameters={"eta": eta})
                for execution, eta in (("execution-eta-0.2", "0.2"), ("execution-eta-0.05", "0.05"))]
        from mlflow import MlflowClient

        quiet_plugin_warnings()
        client = MlflowClient(tracking_uri=server.url)
        experiment = client.get_experiment_by_name(f"dev-{MODEL}")
        assert experiment is not None
        ids = [client.search_runs([experiment.experiment_id], filter_string=f"attributes.run_name = '{run.execution_id}'")[0].info.run_id
               for run in runs]
        url = compare_url(server.url, experiment.experiment_id, ids)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1600,1300",
                        "--virtual-time-budget=20000", f"--screenshot={args.out.resolve()}", url],
                       check=True, capture_output=True, timeout=180)
    print(f"wrote {shown(args.out)} ({url.split('#')[1][:60]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
