"""`python -m local.pipeline`: see local/pipeline/cli.py."""

import sys

from local.pipeline.cli import main

sys.exit(main())
