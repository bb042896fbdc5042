#!/bin/bash
# OnStart: runs as root on every start of the notebook instance (Amazon Linux 2023 platforms).
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
SYSTEMD_DIR=/etc/systemd/system

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

# >>> sdkdefaults
# The SageMaker Python SDK's defaults for jobs started here: the notebooks role may start them only in the
# platform's VPC, with the experiments role, writing under notebooks/ of the artifacts bucket with the data key. The SDK reads this
# file (its admin config) in every kernel; a call that names a value itself still wins. Rewritten on every start.
mkdir -p /etc/xdg/sagemaker
cat >/etc/xdg/sagemaker/config.yaml <<'SDK_DEFAULTS'
@SDK_DEFAULTS@
SDK_DEFAULTS
chmod 0644 /etc/xdg/sagemaker/config.yaml
echo "on-start: SageMaker SDK defaults written to /etc/xdg/sagemaker/config.yaml"
# <<< sdkdefaults

# >>> autostop
# Written on every start: SageMaker rebuilds the root volume, systemd units included, at each start. Compressed
# (notebook_lifecycle/autostop.py, gzip and base64) to leave room under SageMaker's 16 KiB for the rest.
base64 -d <<'AUTOSTOP_PY' | gzip -dc >"$AUTOSTOP_PATH"
@AUTOSTOP_PY@
AUTOSTOP_PY
chmod 0644 "$AUTOSTOP_PATH"
[[ -x "$SYSTEM_PYTHON" ]] || echo "on-start: warning: $SYSTEM_PYTHON missing; auto-stop cannot run" >&2

# AL2023 has no cron: a systemd timer runs the check every 5 minutes, as ec2-user (who can write to
# JupyterSystemEnv, so root must not run it). Rewritten on every start: a new threshold replaces the old.
cat >"$SYSTEMD_DIR/sagemaker-autostop.service" <<UNIT
[Unit]
Description=Stop this notebook after ${IDLE_SECONDS}s idle

[Service]
Type=oneshot
User=ec2-user
ExecStart=$SYSTEM_PYTHON $AUTOSTOP_PATH --idle-seconds $IDLE_SECONDS
StandardOutput=append:$AUTOSTOP_LOG
StandardError=append:$AUTOSTOP_LOG
UNIT
cat >"$SYSTEMD_DIR/sagemaker-autostop.timer" <<UNIT
[Unit]
Description=Idle check every 5 minutes

[Timer]
OnBootSec=5min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload
systemctl enable sagemaker-autostop.timer
systemctl restart sagemaker-autostop.timer
echo "on-start: auto-stop scheduled (systemd timer sagemaker-autostop.timer); log: $AUTOSTOP_LOG"
# <<< autostop
