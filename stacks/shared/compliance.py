"""Compliance checks: cdk-nag's AwsSolutions and NIST 800-53 R5 packs over the whole app, and
HIPAA Security or PCI DSS 3.2.1 over the environments whose config chooses them.

cdk-nag 3.x plugins walk the entire construct tree from the app root whichever stage they
are registered on (the validation context hands them the app), so they are registered once,
on the root: every stage's stacks and the delivery pipeline's are checked, each exactly once.
(Registered per stage, every pack walked the whole app once per stage.) A pack an environment
chooses runs through StagesOnly, which hands the pack only the chosen stages (its
validate_scope). Findings fail the synth; acknowledgments live next to the resource they
cover, each with its reason, and a NIST finding's acknowledgment covers the same rule of the
other packs (cdk-nag's packs share rule names: NIST.800.53.R5-X, PCI.DSS.321-X, HIPAA.Security-X).
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    Aspects,
    CfnResource,
    IAspect,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    Stage,
    Validations,
)
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks
from constructs import IConstruct

#: The packs an environment may choose (config.environment.COMPLIANCE_PACKS), and their rule-ID prefix.
CHOSEN_PACKS = {"hipaa-security": (HIPAASecurityChecks, "HIPAA.Security-"), "pci-dss-3.2.1": (PCIDSS321Checks, "PCI.DSS.321-")}
NIST_PREFIX = "NIST.800.53.R5-"


@jsii.implements(IPolicyValidationPlugin)
class StagesOnly:
    """A cdk-nag pack that checks only the stages added to it (the environments that chose it)."""

    def __init__(self, pack: Any) -> None:
        self._pack = pack
        self.stages: list[Stage] = []

    @property
    def name(self) -> str:
        return str(self._pack.name)

    @property
    def version(self) -> Any:
        return self._pack.version

    @property
    def rule_ids(self) -> Any:
        return self._pack.rule_ids

    def validate(self, context: Any) -> PolicyValidationPluginReport:  # noqa: ARG002 - the plugin protocol's signature
        violations = [v for stage in self.stages for v in self._pack.validate_scope(stage).violations]
        return PolicyValidationPluginReport(success=not violations, violations=violations)


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


def add_compliance_checks(stage: Stage, packs: list[str] | tuple[str, ...] = ()) -> None:
    """The packs on the stage's app (once per app), the stage's chosen packs, and the template tidy-up."""
    Aspects.of(stage).add(DropRedundantProviderDependency())
    root = stage.node.root
    # Registered twice, the packs would walk the app twice and report every finding twice.
    if not getattr(root, "_platform_compliance_checks", False):
        root._platform_compliance_checks = True
        root._platform_chosen_packs = {}
        Validations.of(root).add_plugins(
            AwsSolutionsChecks(root, verbose=True),
            NIST80053R5Checks(root, verbose=True),
        )
    chosen: dict[str, StagesOnly] = root._platform_chosen_packs
    for pack in packs:
        if pack not in chosen:
            chosen[pack] = StagesOnly(CHOSEN_PACKS[pack][0](root, verbose=True))
            Validations.of(root).add_plugins(chosen[pack])
        chosen[pack].stages.append(stage)


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge findings on one construct (and its children) with one specific reason."""
    if len(reason.split()) < 6:
        raise ValueError(f"acknowledgment of {', '.join(rule_ids)} needs a specific reason, got {reason!r}")
    # The same control in the packs an environment may choose: the same finding, for the same reason.
    # (cdk-nag 3.0.2 publishes no rule list per pack: an ID a pack lacks is acknowledged to no effect.)
    same = [prefix + rule_id.removeprefix(NIST_PREFIX) for rule_id in rule_ids if rule_id.startswith(NIST_PREFIX)
            for _, prefix in CHOSEN_PACKS.values()]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in (*rule_ids, *same)))

