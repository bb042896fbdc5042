"""Moving a job's inputs and outputs between the emulated S3 and its container directory."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from local.jobs.errors import JobFailed


def split_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise JobFailed(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def download(s3: Any, uri: str, target: Path) -> list[Path]:
    """Every object under the S3 prefix ``uri`` into ``target``, relative paths kept (S3Prefix)."""
    bucket, prefix = split_uri(uri)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix):].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
            if obj["Key"].endswith("/"):
                continue
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))
            written.append(path)
    if not written:
        raise JobFailed(f"no objects under {uri}")
    return written


def upload_dir(s3: Any, source: Path, uri: str) -> int:
    bucket, prefix = split_uri(uri)
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{path.relative_to(source).as_posix()}")
        count += 1
    return count


def upload_tarball(s3: Any, source: Path, uri: str) -> None:
    """``source``'s contents as a gzipped tar at the archive root, as SageMaker packs /opt/ml/model."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(source.iterdir()):
            archive.add(path, arcname=path.name)
    bucket, key = split_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

