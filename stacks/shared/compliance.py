"""Compliance checks: cdk-nag's AwsSolutions and NIST 800-53 R5 packs over the whole app.

cdk-nag 3.x plugins walk the entire construct tree from the app root whichever stage they
are registered on (the validation context hands them the app), so they are registered once,
on the root: every stage's stacks and the delivery pipeline's are checked, each exactly once.
(Registered per stage, every pack walked the whole app once per stage.) Findings fail the
synth; acknowledgments live next to the resource they cover, each with its reason.
"""

from __future__ import annotations

import jsii
from aws_cdk import Acknowledgment, Aspects, CfnResource, IAspect, Stage, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from constructs import IConstruct


@jsii.implements(IAspect)
class DropRedundantProviderDependency:
    """CDK's custom-resource providers (S3 auto-delete, default-SG restriction) declare their
    handler DependsOn its role while a GetAtt on that role already orders them; cfn-lint
    reports that as W3005. Removing the duplicate changes no deployment order."""

    def visit(self, node: IConstruct) -> None:
        if not (isinstance(node, CfnResource) and node.node.id == "Handler"):
            return
        provider = node.node.scope
        if provider is None or not provider.node.id.endswith("CustomResourceProvider"):
            return
        role = provider.node.try_find_child("Role")
        if isinstance(role, CfnResource):
            node.remove_resource_dependency(role)


def add_compliance_checks(stage: Stage) -> None:
    """The packs on the stage's app (once per app) and the template tidy-up on the stage."""
    Aspects.of(stage).add(DropRedundantProviderDependency())
    root = stage.node.root
    # Registered twice, the packs would walk the app twice and report every finding twice.
    if not getattr(root, "_platform_compliance_checks", False):
        root._platform_compliance_checks = True
        Validations.of(root).add_plugins(
            AwsSolutionsChecks(root, verbose=True),
            NIST80053R5Checks(root, verbose=True),
        )


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge findings on one construct (and its children) with one specific reason."""
    if len(reason.split()) < 6:
        raise ValueError(f"acknowledgment of {', '.join(rule_ids)} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids))

