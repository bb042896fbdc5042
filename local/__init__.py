"""Local, offline AWS: an embedded moto server and helpers to run the pinned CDK CLI against it."""
