"""Compliance checks applied to every stage.

Checks added at the app root do not reach stacks inside a Stage, so each stage gets
its own plugins. Findings fail the synth; acknowledgments live next to the resource
they cover, each with its reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stage, Validations
from constructs import IConstruct
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks


def add_compliance_checks(stage: Stage) -> None:
    Validations.of(stage).add_plugins(
        AwsSolutionsChecks(stage, verbose=True),
        NIST80053R5Checks(stage, verbose=True),
    )


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge findings on one construct (and its children) with one specific reason."""
    if len(reason.split()) < 6:
        raise ValueError(f"acknowledgment of {', '.join(rule_ids)} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids))
