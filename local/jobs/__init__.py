"""SageMaker jobs run on this machine under the container contract, with S3 in the emulator.

What SageMaker does around a container is done here the same way: inputs are copied from
S3 to the paths the request names, the container's entry point runs with the request's
arguments and environment, and outputs go back to S3 when the job ends. One module per job
kind (processing, training, transform, the Lambda step), beside what they share: the
container directory, S3 transfers and the local hosting server.

A job that exits non-zero raises JobFailed with the script's own one-line error.
"""

from local.jobs.container import Container, extract
from local.jobs.errors import JobFailed
from local.jobs.hosting import invoke, serving
from local.jobs.lambda_function import lambda_invoke
from local.jobs.processing import processing_job
from local.jobs.s3 import download, split_uri, upload_dir, upload_tarball
from local.jobs.training import training_job
from local.jobs.transform import csv_filter, transform_job

__all__ = [
    "Container", "JobFailed", "csv_filter", "download", "extract", "invoke", "lambda_invoke", "processing_job",
    "serving", "split_uri", "training_job", "transform_job", "upload_dir", "upload_tarball",
]
