"""Typed schema of an environment's `studio:` block: a SageMaker Studio domain, its teams and their spaces.

One VPC-only domain per environment (stacks/foundation/studio_stack.py) when ``enabled``. Each team gets its own
execution role, reaching only the models of the catalog it names; each member one user profile and one private
JupyterLab space. Rules that need the rest of the environment (the model catalog, NAT gateways) are checked by
EnvironmentConfig.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from catalog.instance_types import check_jupyterlab_instance_type
from config.fields import StrictModel, int_range

#: Team names: lowercase words joined by hyphens. They start every space name (<team>-<member>), which is how the
#: team roles tell their spaces apart (ARNs), so a team name must never be another's prefix plus a hyphen.
TEAM_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
TEAM_NAME_MAX = 16
#: UserProfileName and SpaceName of SageMaker's API (botocore): [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
PROFILE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
PROFILE_NAME_MAX = 63
#: IdleTimeoutInMinutes, MinIdleTimeoutInMinutes and MaxIdleTimeoutInMinutes of IdleSettings (botocore: 60..525600).
IDLE_MINUTES = (60, 525600)
#: An IAM Identity Center group ID (identitystore's ResourceId, e.g. 90677cafd1-7c8b9a10-...; AWS::SSO::ApplicationAssignment).
GROUP_ID = re.compile(r"^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$")


def _check_team_name(value: str) -> str:
    if not TEAM_NAME.fullmatch(value) or len(value) > TEAM_NAME_MAX:
        raise ValueError(f"team names are 1-{TEAM_NAME_MAX} lowercase letters, digits and inner hyphens, starting with a "
                         "letter (e.g. marketing, risk-models)")
    return value


def _check_member(value: str) -> str:
    if not PROFILE_NAME.fullmatch(value):
        raise ValueError("not a Studio user profile name (allowed: letters, digits and inner hyphens, at most 63, e.g. alice, "
                         "j-doe)")
    return value


def _check_group(value: str) -> str:
    if not GROUP_ID.fullmatch(value):
        raise ValueError("not an IAM Identity Center group ID (allowed: the group's ID from the Identity Center console, "
                         "e.g. 90677cafd1-7c8b9a10-1234-4d4b-8f2a-0123456789ab)")
    return value


TeamName = Annotated[str, AfterValidator(_check_team_name)]
Member = Annotated[str, AfterValidator(_check_member)]
IdleMinutes = Annotated[int, int_range(*IDLE_MINUTES, " minutes (SageMaker's IdleSettings)")]


class StudioAuthConfig(StrictModel):
    """How people sign in: IAM (a presigned URL per user profile) or IAM Identity Center (SSO)."""

    mode: Literal["IAM", "SSO"] = "IAM"
    #: SSO only: Identity Center groups assigned to the domain's application.
    groups: list[Annotated[str, AfterValidator(_check_group)]] = Field(default_factory=list)
    #: SSO only: a member's Identity Center user name where it is not the member's name (often an email address, which a
    #: profile name cannot be), e.g. {alice: alice@example.com}.
    user_names: dict[str, Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sso_only(self) -> StudioAuthConfig:
        for field in ("groups", "user_names"):
            if getattr(self, field) and self.mode != "SSO":
                raise ValueError(f"{field}: Identity Center {field.replace('_', ' ')} need mode: SSO (allowed with mode IAM: none)")
        return self

    def user_name(self, member: str) -> str:
        """The member's Identity Center user name (SSO)."""
        return self.user_names.get(member, member)


class IdleShutdownConfig(StrictModel):
    """JupyterLab's built-in idle shutdown (the domain's app lifecycle settings): a space's app stops after
    ``default_minutes`` idle; its owner may choose another timeout between ``min_minutes`` and ``max_minutes``."""

    default_minutes: IdleMinutes = 60
    min_minutes: IdleMinutes = 60
    max_minutes: IdleMinutes = 240

    @model_validator(mode="after")
    def _ordered(self) -> IdleShutdownConfig:
        if not self.min_minutes <= self.default_minutes <= self.max_minutes:
            raise ValueError(f"default_minutes: {self.default_minutes} is outside min_minutes..max_minutes "
                             f"{self.min_minutes}..{self.max_minutes} (allowed: min_minutes <= default_minutes <= max_minutes)")
        return self


class TeamConfig(StrictModel):
    """A team: its people (one user profile and one private JupyterLab space each) and the models it works on."""

    members: Annotated[list[Member], Field(min_length=1)]
    #: Models of the environment's catalog (its `models:` keys): the only ones the team's role reaches.
    models: Annotated[list[str], Field(min_length=1)]
    #: Instance types the team's spaces may run on; the first is the spaces' default.
    instance_types: Annotated[list[Annotated[str, AfterValidator(check_jupyterlab_instance_type)]], Field(min_length=1)] = (
        Field(default_factory=lambda: ["ml.t3.medium"]))
    #: Pinned pip requirements the lifecycle script installs in the background when a space's JupyterLab starts.
    packages: list[str] = Field(default_factory=list)
    #: Each space's EBS volume (SpaceEbsVolumeSizeInGb: 5..16384).
    volume_size_gb: Annotated[int, int_range(5, 16384, " GB")] = 5

    @model_validator(mode="after")
    def _each_once(self) -> TeamConfig:
        for field in ("members", "models", "instance_types"):
            values = getattr(self, field)
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"{field}: each once; repeated: {', '.join(repeated)}")
        return self


#: CloudFormation's resources per stack ("CloudFormation quotas", docs.aws.amazon.com/AWSCloudFormation/latest/
#: UserGuide/cloudformation-limits.html), and what the Studio stack holds (stacks/foundation/studio_stack.py): the
#: domain and what serves it, a role, policies and a lifecycle config a team, a user profile and a space a member.
MAX_STACK_RESOURCES = 500
STUDIO_STACK_RESOURCES = 30
STUDIO_TEAM_RESOURCES = 10
STUDIO_MEMBER_RESOURCES = 2


class StudioConfig(StrictModel):
    """The environment's SageMaker Studio domain (VPC only), its teams and their JupyterLab spaces."""

    enabled: bool = False
    auth: StudioAuthConfig = Field(default_factory=StudioAuthConfig)
    idle_shutdown: IdleShutdownConfig = Field(default_factory=IdleShutdownConfig)
    teams: dict[TeamName, TeamConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _teams(self) -> StudioConfig:
        if self.enabled and not self.teams:
            raise ValueError("teams: no team (allowed: at least one team when enabled is true; each member's profile and role "
                             "come from a team)")
        seen: dict[str, tuple[str, str]] = {}
        for team, config in self.teams.items():
            for member in config.members:
                # Profiles' logical IDs drop hyphens and CloudFormation's IDs and SageMaker's names are matched without
                # regard to case here: j-doe and jDoe would be one resource.
                other_team, other = seen.setdefault(member.replace("-", "").lower(), (team, member))
                if other == member and other_team != team:
                    raise ValueError(f"teams.{team}.members: {member!r} is also in team {other_team!r} (allowed: each person in one "
                                     "team; a user profile carries one team's role)")
                if other != member:
                    raise ValueError(f"teams.{team}.members: {member!r} differs from {other!r} (team {other_team}) only in case or "
                                     "hyphens (allowed: member names that differ in their letters or digits)")
                space = space_name(team, member)
                if len(space) > PROFILE_NAME_MAX:
                    raise ValueError(f"teams.{team}.members: {member!r} makes the space name {space!r} {len(space)} characters "
                                     f"(allowed: team and member names of at most {PROFILE_NAME_MAX} together, with the hyphen)")
        members = sum(len(config.members) for config in self.teams.values())
        # Identity Center: one application assignment a group.
        resources = (STUDIO_STACK_RESOURCES + STUDIO_TEAM_RESOURCES * len(self.teams) + STUDIO_MEMBER_RESOURCES * members
                     + len(self.auth.groups))
        if resources > MAX_STACK_RESOURCES:
            groups = f" and {len(self.auth.groups)} Identity Center groups" if self.auth.groups else ""
            raise ValueError(f"teams: {len(self.teams)} teams with {members} members{groups} make about {resources} resources in "
                             f"the Studio stack; CloudFormation allows {MAX_STACK_RESOURCES} a stack (allowed: fewer teams or members, "
                             f"about {STUDIO_MEMBER_RESOURCES} resources a member, {STUDIO_TEAM_RESOURCES} a team and 1 a group; or "
                             "give some teams a domain in another environment)")
        unknown = sorted(set(self.auth.user_names) - {m for config in self.teams.values() for m in config.members})
        if unknown:
            raise ValueError(f"auth.user_names: {', '.join(map(repr, unknown))} is no team's member (allowed: members of studio.teams)")
        for team in self.teams:
            for other in self.teams:
                if other != team and other.startswith(f"{team}-"):
                    raise ValueError(f"teams.{other}: starts with team {team!r} and a hyphen, so its spaces would fall under "
                                     f"{team!r}'s (allowed: team names that are not another team's name plus '-...')")
        return self

    def team_of(self, member: str) -> str:
        (team,) = [name for name, config in self.teams.items() if member in config.members]
        return team


def space_name(team: str, member: str) -> str:
    """A member's private JupyterLab space: named after the team first, which the team roles' ARNs rely on."""
    return f"{team}-{member}"


#: CreateSpace's SpaceDisplayName: at most 64 characters (botocore's sagemaker model, NonEmptyString64).
SPACE_DISPLAY_NAME_MAX = 64


def space_display_name(team: str, member: str) -> str:
    """What Studio shows for the space: "<member> (<team>)", or the space name itself where that would be longer
    than a display name may be (a space name of 62 or 63 characters)."""
    shown = f"{member} ({team})"
    return shown if len(shown) <= SPACE_DISPLAY_NAME_MAX else space_name(team, member)
