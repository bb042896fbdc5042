"""A directory shipped as a deterministic sourcedir.tar.gz CDK asset.

SageMaker's script mode unpacks `sagemaker_submit_directory` with tarfile (gzip), so a
plain directory asset (CDK zips those) will not do. Bundling runs locally, never in
Docker, and the archive is byte-identical for the same files: sorted names, zeroed
owners and times, no gzip timestamp.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import tarfile
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, BundlingOutput, DockerImage, ILocalBundling
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

#: Never shipped. Caches written by local runs and tests would change the asset hash. And
#: requirements.txt pins the local test environment: SageMaker's training toolkit pip-installs a
#: requirements.txt it finds in the code, which a network-isolated job cannot do (the job would
#: fail), and the framework image already has what the scripts import.
EXCLUDE = ["__pycache__", "*.pyc", ".pytest_cache", "*.md", "requirements.txt"]
ARCHIVE = "sourcedir.tar.gz"
#: Added at the archive's root unless the code has its own: the toolkit's `pip install .` then needs no
#: index (offline_install/pyproject.toml says why).
OFFLINE_INSTALL = Path(__file__).with_name("offline_install")


def _shipped(source: Path) -> list[Path]:
    """The files that ship (EXCLUDE matched against every path part), sorted."""
    return sorted(
        p for p in source.rglob("*")
        if p.is_file() and not any(fnmatch.fnmatch(part, pattern) for part in p.relative_to(source).parts for pattern in EXCLUDE)
    )


#: What data, not code, looks like in a code folder: by kind, or by size (a model, a dump).
DATA_SUFFIXES = {".csv", ".tsv", ".parquet", ".feather", ".xlsx", ".xls", ".zip", ".gz", ".bz2", ".pkl", ".pickle",
                 ".npy", ".npz", ".h5", ".joblib"}
LARGE_FILE_BYTES = 5 * 1024 * 1024


def data_like_files(source: Path) -> list[str]:
    """Files of the folder that would ship in sourcedir.tar.gz and look like data: every job downloads them."""
    return [path.relative_to(source).as_posix() for path in _shipped(source)
            if path.suffix.lower() in DATA_SUFFIXES or path.stat().st_size > LARGE_FILE_BYTES]


def write_tarball(source: Path, target: Path) -> None:
    buffer = io.BytesIO()
    shipped = {path.relative_to(source).as_posix(): path for path in _shipped(source)}
    for extra in _shipped(OFFLINE_INSTALL):
        shipped.setdefault(extra.name, extra)
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, path in sorted(shipped.items()):
            info = tarfile.TarInfo(name)
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as zipped:
        zipped.write(buffer.getvalue())


@jsii.implements(ILocalBundling)
class _LocalTarball:
    def __init__(self, source: Path) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:  # noqa: ARG002 - jsii's signature
        write_tarball(self.source, Path(output_dir) / ARCHIVE)
        return True


class SourceTarball(Construct):
    """`asset.s3_object_url` is the tarball; `file_name` is its object's base name."""

    def __init__(self, scope: Construct, id_: str, *, source: Path) -> None:
        super().__init__(scope, id_)
        self.asset = s3_assets.Asset(
            self,
            "Asset",
            path=str(source),
            # The hash of the tarball itself: what ships is what is hashed, one exclusion rule.
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=BundlingOptions(
                # Never pulled: local bundling always succeeds, and no Docker exists here.
                image=DockerImage.from_registry("local-bundling-only"),
                local=_LocalTarball(source),
                output_type=BundlingOutput.ARCHIVED,
            ),
        )
        self.file_name = self.asset.s3_object_key.rsplit("/", 1)[-1]
