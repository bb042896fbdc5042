"""S3 buckets leave a stack as CloudFormation takes them: emptied first where CDK's autoDeleteObjects asks, refused
while they hold objects otherwise. Imported only inside the moto server.

moto 5.2.5 deletes a stack's bucket with S3's DeleteBucket, which it answers by keeping a bucket that holds objects,
silently: the stack reached DELETE_COMPLETE and left dev's raw-data and artifacts buckets, with their objects,
behind. And Custom::S3AutoDeleteObjects, CDK's Lambda-backed resource that empties such a bucket before it goes, is
a function moto cannot run without Docker. Here:

- Custom::S3AutoDeleteObjects runs what CDK's handler runs on Delete (aws-cdk-lib's
  custom-resource-handlers/dist/aws-s3/auto-delete-objects-handler: only a bucket tagged
  aws-cdk:auto-delete-objects=true is emptied, every version and delete marker; a bucket already gone is fine);
- a bucket still holding objects fails its delete with S3's BucketNotEmpty, "The bucket you tried to delete is not
  empty", so its stack is DELETE_FAILED (server.py), as in CloudFormation, and a later delete retries.
"""

from __future__ import annotations

from typing import Any

from local.emulator.cloudformation import emulator_clients, handler_run_type, register

#: The tag CDK puts on a bucket whose objects its custom resource may delete (the handler checks it first).
AUTO_DELETE_TAG = "aws-cdk:auto-delete-objects"


def empty_if_tagged(s3: Any, bucket: str) -> None:
    """What CDK's auto-delete-objects handler does on Delete, through S3's API."""
    try:
        tags = s3.get_bucket_tagging(Bucket=bucket).get("TagSet", [])
    except s3.exceptions.NoSuchBucket:
        return
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchTagSet", "NoSuchTagSetError"):
            return  # no tags: not a bucket CDK may empty
        raise
    if not any(t["Key"] == AUTO_DELETE_TAG and t["Value"] == "true" for t in tags):
        return
    while True:
        page = s3.list_object_versions(Bucket=bucket)
        objects = [{"Key": o["Key"], "VersionId": o["VersionId"]} for o in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
        if not objects:
            return
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def auto_delete_objects_type() -> type:
    def on_delete(_stack_id: str, properties: dict, region_name: str) -> None:
        bucket = properties.get("BucketName")
        if not bucket:
            raise ValueError("No BucketName was provided.")  # the handler's own words
        (s3,) = emulator_clients(region_name, "s3")
        empty_if_tagged(s3, str(bucket))

    return handler_run_type("Custom::S3AutoDeleteObjects", lambda p: str(p.get("BucketName", "")), on_delete)


def buckets_delete_as_cloudformation_does() -> None:
    from moto.s3.exceptions import BucketNotEmpty
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    original = FakeBucket.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def delete_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str) -> None:
        bucket = s3_backends[account_id][get_partition(region_name)].buckets.get(resource_name)
        if bucket is not None and bucket.keys:
            raise BucketNotEmpty(resource_name)
        original(cls, resource_name, cloudformation_json, account_id, region_name)

    FakeBucket.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)  # type: ignore[assignment]
    register(auto_delete_objects_type())
