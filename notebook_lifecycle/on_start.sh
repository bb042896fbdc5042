#!/bin/bash
# OnStart: runs as root on every start of the notebook instance (notebook-al2-v3).
# SageMaker fails the start if this runs past 5 minutes, so slow work goes to the background.
# Rendered by notebook_lifecycle.render_on_start(), which fills the @...@ placeholders
# and drops a marked section when it is not configured.
set -euo pipefail
# SageMaker gives lifecycle scripts a minimal PATH.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

IDLE_SECONDS=@IDLE_SECONDS@
LOG_DIR=/home/ec2-user/SageMaker/.lifecycle
USER_PYTHON=/home/ec2-user/anaconda3/envs/python3/bin/python
SYSTEM_PYTHON=/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python
AUTOSTOP_PATH=/usr/local/sbin/sagemaker-autostop.py
AUTOSTOP_LOG=/var/log/sagemaker-autostop.log

echo "on-start: idle auto-stop after ${IDLE_SECONDS}s (0 = off)"

# >>> packages
PACKAGES=(@PACKAGES@)
echo "on-start: installing ${#PACKAGES[@]} package(s) in the background; log: $LOG_DIR/pip-install.log"
# pip may outlast the 5-minute limit, hence nohup and &. Everything runs as ec2-user, the log
# redirect included: root must never open paths inside the user-writable volume.
nohup sudo -u ec2-user -H bash -c \
  'mkdir -p "$1" && exec "$2" -m pip install --no-input --disable-pip-version-check "${@:3}" >>"$1/pip-install.log" 2>&1' \
  pip-install "$LOG_DIR" "$USER_PYTHON" "${PACKAGES[@]}" </dev/null >/dev/null 2>&1 &
# <<< packages

# >>> autostop
# Written on every start: SageMaker rebuilds the root volume, crontab included, at each start.
cat >"$AUTOSTOP_PATH" <<'AUTOSTOP_PY'
@AUTOSTOP_PY@
AUTOSTOP_PY
chmod 0644 "$AUTOSTOP_PATH"
[[ -x "$SYSTEM_PYTHON" ]] || echo "on-start: warning: $SYSTEM_PYTHON missing; auto-stop cannot run" >&2

# Replace instead of append, so a re-run or a changed threshold never leaves two entries.
install_cron_line() {
  local marker=$1 line=$2
  { crontab -l 2>/dev/null | grep -v -F -- "$marker" || true; echo "$line"; } | crontab -
}
# Root's cron, but run as ec2-user: ec2-user can write to JupyterSystemEnv, so root must not run it.
install_cron_line "$AUTOSTOP_PATH" \
  "*/5 * * * * sudo -u ec2-user -H $SYSTEM_PYTHON $AUTOSTOP_PATH --idle-seconds $IDLE_SECONDS >>$AUTOSTOP_LOG 2>&1"
echo "on-start: auto-stop scheduled; log: $AUTOSTOP_LOG"
# <<< autostop
