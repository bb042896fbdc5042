#!/bin/bash
# Studio JupyterLab lifecycle configuration: runs as the space's user (sagemaker-user) each time a space's
# JupyterLab app starts. Studio fails the start if this runs past 5 minutes, so the install goes to the
# background; its log stays on the space's own volume. Idle shutdown is not done here: the domain's built-in
# app lifecycle settings (IdleSettings) stop an idle JupyterLab.
# Rendered by notebook_lifecycle.render_jupyterlab_on_start(), which fills the @...@ placeholder.
set -euo pipefail

PACKAGES=(@PACKAGES@)
LOG_DIR="${HOME:-/home/sagemaker-user}/.lifecycle"

if ((${#PACKAGES[@]} == 0)); then
  echo "lifecycle: no packages configured for this team"
  exit 0
fi
mkdir -p "$LOG_DIR"
# The image's own Python (SageMaker Distribution: /opt/conda/bin/python), which the space's kernels run. --user puts the
# packages under ~/.local on the space's own volume: they are not written under the running JupyterLab server's
# environment, and they stay across restarts (the next start finds them installed).
PYTHON="$(command -v python3 || command -v python)"
echo "lifecycle: installing ${#PACKAGES[@]} package(s) in the background with $PYTHON --user; log: $LOG_DIR/pip-install.log"
nohup "$PYTHON" -m pip install --user --no-input --disable-pip-version-check "${PACKAGES[@]}" \
  >>"$LOG_DIR/pip-install.log" 2>&1 </dev/null &
