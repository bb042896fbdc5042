"""The one place that turns an environment's removal_policy into CDK behaviour."""

from aws_cdk import RemovalPolicy

from config import EnvironmentConfig


def stateful_removal_policy(env: EnvironmentConfig) -> RemovalPolicy:
    """Keys, buckets and their logs: retained in staging/prod, destroyed with the stack in dev."""
    return RemovalPolicy.RETAIN if env.removal_policy == "retain" else RemovalPolicy.DESTROY

