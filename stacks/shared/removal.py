"""The one place that turns an environment's removal_policy into CDK behaviour."""

from aws_cdk import Duration, RemovalPolicy

from config import EnvironmentConfig


def stateful_removal_policy(env: EnvironmentConfig) -> RemovalPolicy:
    """Keys, buckets and their logs: retained in staging/prod, destroyed with the stack in dev."""
    return RemovalPolicy.RETAIN if env.removal_policy == "retain" else RemovalPolicy.DESTROY



def key_pending_window(removal: RemovalPolicy) -> Duration:
    """How long a deleted key waits: the shortest window where data is disposable, the maximum where it is not."""
    return Duration.days(7 if removal == RemovalPolicy.DESTROY else 30)
