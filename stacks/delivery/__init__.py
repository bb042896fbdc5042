"""Delivery: the CDK Pipelines pipeline that deploys every environment from git.
Runtime: delivery/ (promote, smoke test)."""
