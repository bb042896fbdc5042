"""The SageMaker container contract for tests that run the training scripts: SM_* variables and data."""

from __future__ import annotations

from pathlib import Path

from local.dataset import caravan_csv

#: The example dataset (CoIL 2000 caravan insurance), from the ISLP wheel.
CARAVAN = caravan_csv()


def sm_env(root: Path, train_dir: Path, validation_dir: Path, **extra: str) -> dict:
    """What SageMaker sets for a training job with train and validation channels, rooted at ``root``."""
    return {
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_CHANNEL_VALIDATION": str(validation_dir),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_NUM_GPUS": "0",
        **extra,
    }
