#!/bin/bash
# OnCreate: runs once, as root, when the notebook instance is created. Only lays out the
# persistent volume, so it finishes in seconds; slow work belongs in on_start.sh's background job.
set -euo pipefail
# SageMaker gives lifecycle scripts a minimal PATH.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

SAGEMAKER_HOME=/home/ec2-user/SageMaker

# As ec2-user, so the user owns what is created and root never follows links in their volume.
sudo -u ec2-user -H bash -s "$SAGEMAKER_HOME" <<'SETUP'
set -euo pipefail
cd "$1"
mkdir -p data notebooks .lifecycle
# A README the user has edited is theirs.
[[ -e README.md ]] || cat >README.md <<'README'
# Where things live on this notebook instance

- This folder (/home/ec2-user/SageMaker) is the only storage that survives a stop and start;
  everything else on the instance is reset at every start.
- data/ holds working copies of data. Keep the source of truth, and anything large or
  shared, in the environment's S3 data bucket.
- notebooks/ is for your notebooks.
- .lifecycle/pip-install.log shows the configured packages being installed into the
  conda_python3 kernel after each start; if an import fails right after a start, wait for
  it to finish and restart the kernel.
- The instance stops itself after a configured time without kernel or terminal activity
  (log: /var/log/sagemaker-autostop.log). Save your work.
README
SETUP
echo "on-create: prepared $SAGEMAKER_HOME"
