"""The example dataset: CoIL 2000 caravan insurance (the tutorials' direct-marketing data),
shipped in the ISLP wheel (requirements-data.txt). One place finds it: the demo, the tests
and the training benchmark."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def caravan_csv() -> Path:
    """Path of Caravan.csv; FileNotFoundError with the fix when ISLP is not installed."""
    try:
        path = Path(str(importlib.metadata.distribution("ISLP").locate_file("ISLP/data/Caravan.csv")))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FileNotFoundError("the example dataset is missing (ISLP's Caravan.csv); run `make install`")
    return path
