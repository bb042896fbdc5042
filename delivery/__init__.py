"""Delivery tools: promote a registered model version into an environment's config, and the
post-deploy smoke test the delivery pipeline runs. `python -m delivery --help`.

This module imports nothing heavy: the stacks use promote_command() in notification text.
"""

from __future__ import annotations


def promote_command(env_name: str, model_package_arn: str) -> str:
    """The command that makes ``env_name`` serve ``model_package_arn`` (a reviewed change to its config)."""
    return f"python -m delivery promote --env {env_name} --model-package {model_package_arn}"
