"""Typed schema of one environment's file, config/<env>.yaml: where it lives and what it contains.

Every model forbids unknown keys (a typo must fail, not be ignored) and is frozen
(stacks cannot mutate what was validated). Validator messages say what is allowed;
the loader turns them into one line that also names the file, field and bad value.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from functools import cache, partial
from typing import Annotated, Literal

import botocore.session
from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, model_validator

from catalog.images import debugger_rules_image, model_monitor_image, xgboost_image, xgboost_versions
from catalog.instance_types import NOTEBOOK_SHAPE, check_instance_type, suggest
from config.fields import StrictModel, check_description, int_range, one_of
from config.serving import ServingConfig
from config.studio import StudioConfig
from config.tracking import TrackingConfig
from config.training import PipelineConfig
from naming import (
    STUDIO_TEAM_TAG,
    STUDIO_USER_TAG,
    baseline_prefix,
    input_data_key,
    model_package_group_name,
    registry_logical_id,
    replica_bucket_name,
)

#: Environments whose stateful resources (keys, buckets, registry) must survive `cdk destroy`:
#: these names and any name that starts with one (prod2, production, stagingeu).
PROTECTED_ENVIRONMENTS = ("prod", "staging")

#: The retention periods CloudWatch Logs accepts (PutRetentionPolicy's enum).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)

# No hyphen: notebook instance names are "<env>-<notebook>" and must never collide across environments.
ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,14}$")
#: An S3 bucket name's most characters ("Bucket naming rules", Amazon S3 User Guide).
MAX_BUCKET_NAME = 63
NOTEBOOK_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# Endpoint names are "<env>-<model>" and SageMaker caps them at 63 characters, with 13 more for the
# monitoring schedule's suffix: 32 leaves room for any environment name.
MODEL_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MODEL_NAME_MAX = 32
# An exact pin, and nothing a shell could interpret: the value is written into a lifecycle script.
PINNED_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9.+!_-]+$")
#: A tag key every tagged service takes: EC2's (the VPC, subnets, security groups) are at most 127 characters
#: ("Tag", docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Tag.html), one fewer than most services allow.
TAG_KEY = re.compile(r"^[\w .:/=+@-]{1,127}$")


@cache
def sagemaker_regions() -> tuple[str, ...]:
    return tuple(sorted(botocore.session.get_session().get_available_regions("sagemaker")))


@cache
def cloudformation_types_in(region: str) -> frozenset[str] | None:
    """The resource types CloudFormation offers in a region, from the registry schemas cfn-lint ships
    (cfnlint/data/schemas/providers/<region>.json); None for a region it has no data for."""
    import importlib.util
    import json
    from pathlib import Path

    # Found, not imported: importing cfnlint takes 0.6 s, and every config load (every synth) comes here.
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.origin:
        raise RuntimeError("cfn-lint is not installed (requirements.txt pins it): run make install")
    path = Path(spec.origin).parent / "data" / "schemas" / "providers" / f"{region}.json"
    return frozenset(json.loads(path.read_text())) if path.is_file() else None


@cache
def zone_letters_in(region: str) -> str | None:
    """The letters of a region's Availability Zones as cfn-lint lists them (cfnlint.helpers.AVAILABILITY_ZONES, read from
    its source, not imported, for the reason above), e.g. "abcdef" for us-east-1; None for a region it does not list."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.origin:
        raise RuntimeError("cfn-lint is not installed (requirements.txt pins it): run make install")
    tree = ast.parse((Path(spec.origin).parent / "helpers.py").read_text(encoding="utf-8"))
    zones = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "AVAILABILITY_ZONES" for t in node.targets))
    return "".join(sorted(zone.removeprefix(region) for zone in zones[region])) if region in zones else None


@cache
def _xgboost_published_in(region: str) -> bool:
    def published(version: str) -> bool:
        try:
            xgboost_image(region, version)
        except ValueError:
            return False
        return True

    return any(published(version) for version in xgboost_versions())


def _check_region(value: str) -> str:
    regions = sagemaker_regions()
    if value not in regions:
        hint = suggest(value, regions)
        did_you_mean = f"; did you mean {', '.join(hint)}?" if hint else ""
        raise ValueError(f"not a region where SageMaker is available (allowed: {', '.join(regions)}){did_you_mean}")
    return value


def _check_account(value: object) -> object:
    if isinstance(value, int):
        raise ValueError("must be a quoted string of 12 digits (YAML reads an unquoted number as an integer)")
    if isinstance(value, str) and not re.fullmatch(r"\d{12}", value):
        raise ValueError("must be exactly 12 digits")
    return value


def _check_notebook_type(value: str) -> str:
    return check_instance_type(value, NOTEBOOK_SHAPE, "notebook", ("ml.t3.medium", "ml.m5.xlarge", "ml.g4dn.xlarge"))


def _check_package(value: str) -> str:
    if not PINNED_PACKAGE.fullmatch(value):
        raise ValueError("must be a pinned pip requirement 'name==version' (e.g. xgboost==3.4.1)")
    return value


def _check_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block ({exc})") from None
    if not 16 <= network.prefixlen <= 24:
        raise ValueError("prefix length must be in /16../24 (room for public and private subnets in each AZ)")
    # IANA's special-purpose blocks that no host network can use (Python's ipaddress keeps that registry).
    special = next((kind for kind in ("loopback", "link_local", "multicast", "reserved") if getattr(network, f"is_{kind}")), None)
    if special:
        raise ValueError(f"a {special.replace('_', '-')} block, which no VPC can use (allowed: any other, e.g. a private block of RFC 1918: "
                         "10.0.0.0/16, 172.16.0.0/16 or 192.168.0.0/16)")
    return value


def _check_tag_key(value: str) -> str:
    if value.lower().startswith("aws:") or not TAG_KEY.fullmatch(value):
        raise ValueError("tag keys are 1-127 letters, digits, spaces or _.:/=+-@ (EC2's limit) and must not start with 'aws:'")
    return value


Region = Annotated[str, AfterValidator(_check_region)]
AccountId = Annotated[str, BeforeValidator(_check_account)]
TagKey = Annotated[str, AfterValidator(_check_tag_key)]
#: A tag's value as AWS takes it everywhere the platform tags (IAM's Tag.Value is the strictest: letters, numbers,
#: spaces and _.:/=+-@, docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html); not empty, which Studio's resources,
#: CloudWatch's alarms and dashboards refuse (their CloudFormation schemas: minLength 1).
TagValue = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(lambda value: _check_tag_value(value))]
#: AWS allows 50 tags a resource; the platform adds its own to some (Studio's studio-team and studio-user, CDK's
#: three on each subnet, the stage's), so the config's own stop below that.
MAX_CONFIG_TAGS = 40
#: Tag keys the platform sets on every resource itself: the stage's environment. A config key may be one of them as
#: written (its value replaces the platform's), never a spelling that differs in case: IAM refuses a role whose tag
#: keys differ only in case ("Tag keys are case insensitive"). Name, which CDK sets per VPC resource, is refused.
PLATFORM_TAG_KEYS = ("environment",)
#: The most zones a network may span (a workload subnet each).
MAX_AVAILABILITY_ZONES = 6
#: CloudFormation's resource schemas of AWS::SageMaker::Domain, ::UserProfile, ::Space and ::StudioLifecycleConfig
#: cap a tag's value at 128 characters (256 elsewhere); cfn-lint ships those schemas and a test reads them.
STUDIO_TAG_VALUE_MAX = 128


def _check_tag_value(value: str) -> str:
    bad = next((ch for ch in value if unicodedata.category(ch)[0] not in "LNZ" and ch not in "_.:/=+-@"), None)
    if bad is not None:
        raise ValueError(f"tag values are letters, numbers, spaces and _.:/=+-@; {bad!r} is not allowed (IAM's Tag.Value)")
    return value


#: The subnets the network stack gives each zone (stacks/foundation/network_stack.py): workloads (jobs, notebooks,
#: endpoints) a /20, and with NAT gateways a public /24 for their egress.
WORKLOAD_SUBNET_MASK = 20
EGRESS_SUBNET_MASK = 24


def subnets_fit(cidr: str, zones: int, nat: bool) -> bool:
    """Whether the VPC's CIDR holds every subnet as CDK allocates them (NetworkBuilder in aws-cdk-lib's ec2: each
    configuration in turn, a block a zone, each block aligned to its size after the one before)."""
    network = ipaddress.IPv4Network(cidr)
    masks = ([EGRESS_SUBNET_MASK] * zones if nat else []) + [WORKLOAD_SUBNET_MASK] * zones
    start = 0
    for mask in masks:
        size = 2 ** (32 - mask)
        start = -(-start // size) * size  # aligned up to the block's size
        start += size
    return start <= network.num_addresses


class NetworkConfig(StrictModel):
    """The VPC that notebooks, jobs and endpoints run in, without direct internet access."""

    cidr: Annotated[str, AfterValidator(_check_cidr)]
    availability_zones: Annotated[list[str], Field(min_length=2, max_length=MAX_AVAILABILITY_ZONES)]
    nat_gateways: Annotated[int, int_range(0, 6)]
    flow_log_retention_days: Annotated[int, one_of(LOG_RETENTION_DAYS)] = 90
    #: Without NAT, keep the NAT egress subnets' address ranges free, so that turning NAT on or off later leaves the
    #: workload subnets (create-only CidrBlock, imported by every workload stack) where they are.
    reserve_egress_subnets: bool = True

    @property
    def egress_layout(self) -> bool:
        """Whether the VPC's layout holds the egress subnets' ranges: built with NAT, reserved without."""
        return self.nat_gateways > 0 or self.reserve_egress_subnets

    @model_validator(mode="after")
    def _azs_distinct_and_nat_fits(self) -> NetworkConfig:
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise ValueError("availability_zones: must be distinct (multi-AZ needs at least 2 different zones)")
        if self.nat_gateways > len(self.availability_zones):
            raise ValueError(
                f"nat_gateways: {self.nat_gateways} exceeds the {len(self.availability_zones)} availability zones "
                "(allowed: 0 up to one per zone)"
            )
        if not self.reserve_egress_subnets and self.nat_gateways:
            raise ValueError(
                "reserve_egress_subnets: false keeps the layout of an environment deployed without NAT; with "
                f"nat_gateways: {self.nat_gateways} the egress subnets exist (allowed: true, or nat_gateways: 0)"
            )
        zones, nat = len(self.availability_zones), self.egress_layout
        if not subnets_fit(self.cidr, zones, nat):
            network = ipaddress.IPv4Network(self.cidr)
            largest = max(p for p in range(16, 25) if subnets_fit(f"10.0.0.0/{p}", zones, nat))
            egress = f" and a /{EGRESS_SUBNET_MASK} for NAT egress, reserved without NAT" if nat else ""
            deployed = ("; or, for an environment deployed without NAT before the egress ranges were reserved, "
                        "reserve_egress_subnets: false") if not self.nat_gateways and subnets_fit(self.cidr, zones, False) else ""
            raise ValueError(
                f"cidr: {self.cidr} has no room for the subnets of {zones} zones (each gets a /{WORKLOAD_SUBNET_MASK} for "
                f"workloads{egress}) (allowed: /{largest} or larger, e.g. {network.supernet(new_prefix=largest)}{deployed})"
            )
        return self


class ReplicationConfig(StrictModel):
    """Cross-region replication of the model-artifacts bucket (trained models, reports, baselines)."""

    #: The disaster-recovery region, where <env>-DataReplica holds the replica bucket and its own key.
    region: Region


class DataConfig(StrictModel):
    """Lifecycle of the data lake's buckets, and where the model artifacts are replicated."""

    noncurrent_version_expiration_days: Annotated[int, int_range(1, 3650)] = 90
    abort_incomplete_upload_days: Annotated[int, int_range(1, 365)] = 7
    access_log_expiration_days: Annotated[int, int_range(1, 3650)] = 365
    replication: ReplicationConfig | None = None


#: The cdk-nag packs an environment may add to the two that always run (AwsSolutions, NIST 800-53 R5).
COMPLIANCE_PACKS = ("hipaa-security", "pci-dss-3.2.1")


class ComplianceConfig(StrictModel):
    """Compliance packs this environment's stacks are checked against at synth, beyond AwsSolutions and NIST."""

    packs: list[Literal[COMPLIANCE_PACKS]] = Field(default_factory=list)  # type: ignore[valid-type]  # a Literal of a tuple

    @model_validator(mode="after")
    def _each_once(self) -> ComplianceConfig:
        repeated = sorted({p for p in self.packs if self.packs.count(p) > 1})
        if repeated:
            raise ValueError(f"packs: each pack once; repeated: {', '.join(repeated)}")
        return self


class GateFunctionConfig(StrictModel):
    """Each model's evaluation-gate Lambda function."""

    #: An encrypted SQS dead-letter queue for the function (it only ever receives asynchronous invocations).
    dead_letter_queue: bool = False
    #: Concurrency reserved for each model's gate. Reserving takes from the account's unreserved pool, of
    #: which AWS keeps at least 10: an account whose limit is 10 (new accounts) cannot reserve any (preflight checks).
    reserved_concurrency: Annotated[int, int_range(1, 1000)] | None = None


class NotebookConfig(StrictModel):
    """A SageMaker notebook instance with its lifecycle configuration."""

    name: Annotated[str, Field(pattern=NOTEBOOK_NAME.pattern)]
    instance_type: Annotated[str, AfterValidator(_check_notebook_type)]
    volume_size_gb: Annotated[int, int_range(5, 16384, " GB")]
    idle_minutes: Annotated[int, int_range(0, 10080, " minutes; 0 turns auto-stop off")]
    packages: list[Annotated[str, AfterValidator(_check_package)]] = Field(default_factory=list)
    #: Zone of the notebook's subnet. Unset: chosen from the name, so adding or reordering notebooks
    #: never moves one (a move replaces the instance and its storage volume).
    availability_zone: str | None = None

    @model_validator(mode="after")
    def _lifecycle_script_fits(self) -> NotebookConfig:
        # The on-start script embeds the package list and the SDK defaults (their subnets: one a zone, at most
        # MAX_AVAILABILITY_ZONES; measured at their longest); SageMaker caps each script's size.
        from notebook_lifecycle import MAX_SCRIPT_CHARS, SdkDefaults, render_on_start

        widest = SdkDefaults(bucket="", role_arn="", subnet_ids=("",) * MAX_AVAILABILITY_ZONES, security_group_id="", kms_key_arn="")
        try:
            render_on_start(idle_minutes=self.idle_minutes, packages=list(self.packages), sdk_defaults=widest)
        except ValueError as exc:
            raise ValueError(
                f"packages: {len(self.packages)} packages make the on-start lifecycle script too long ({exc}; "
                f"allowed: a script of at most {MAX_SCRIPT_CHARS} base64 characters)"
            ) from None
        return self


def _check_model_name(value: str) -> str:
    if not MODEL_NAME.fullmatch(value) or len(value) > MODEL_NAME_MAX:
        raise ValueError(
            f"model names are 1-{MODEL_NAME_MAX} lowercase letters, digits and inner hyphens, starting with a letter "
            "(e.g. churn, direct-marketing)"
        )
    return value


ModelName = Annotated[str, AfterValidator(_check_model_name)]


class ModelConfig(PipelineConfig):
    """One model of the catalog: its dataset, training and evaluation (the pipeline) and its endpoint."""

    serving: ServingConfig = Field(default_factory=ServingConfig)
    #: What the model predicts, in a few words: its registry group's description (set once: CloudFormation
    #: replaces a group whose description changes, and a named group cannot be replaced).
    description: Annotated[str, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
                           Field(min_length=1, max_length=200), AfterValidator(check_description)] | None = None
    #: The registry group's logical ID in the data stack, when it must stay what an earlier layout deployed
    #: (default: naming.registry_logical_id, from the model's name).
    registry_logical_id: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,254}$")] | None = None
    #: The catalog key (set by EnvironmentConfig; not a key of the block).
    _name: str = PrivateAttr(default="")

    @property
    def name(self) -> str:
        return self._name

    @property
    def registry_id(self) -> str:
        """The logical ID of the model's registry group in the data stack."""
        return self.registry_logical_id or registry_logical_id(self.name)

    @property
    def registry_description(self) -> str:
        return self.description or f"versions of the {self.name} model"

    @property
    def input_uri_key(self) -> str | None:
        """Key of the model's data in the raw-data bucket, where it is uploaded; None for data already in S3."""
        source = self.dataset.source
        return None if source.in_s3 else input_data_key(self.name, source.file_name)


class EnvironmentConfig(StrictModel):
    """One deployment environment (dev, staging, prod): where it lives and what it contains."""

    name: Annotated[str, Field(pattern=ENV_NAME.pattern)]
    account: AccountId
    region: Region
    removal_policy: Literal["retain", "destroy"]
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    network: NetworkConfig
    data: DataConfig = Field(default_factory=DataConfig)
    compliance: ComplianceConfig = Field(default_factory=ComplianceConfig)
    gate_function: GateFunctionConfig = Field(default_factory=GateFunctionConfig)
    #: SageMaker's managed MLflow: one tracking server per environment, which every pipeline run logs to.
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    notebooks: list[NotebookConfig] = Field(default_factory=list)
    #: SageMaker Studio: a VPC-only domain, teams with their own roles, and one JupyterLab space per member.
    studio: StudioConfig = Field(default_factory=StudioConfig)
    #: The model catalog: each model gets its own pipeline, registry group and endpoint (stacks/stage.py).
    models: dict[ModelName, ModelConfig] = Field(default_factory=dict)
    @model_validator(mode="after")
    def _tag_count(self) -> EnvironmentConfig:
        seen: dict[str, str] = {}
        for key in self.tags:
            folded = key.casefold()
            if folded in (STUDIO_TEAM_TAG, STUDIO_USER_TAG):
                raise ValueError(f"tags.{key}: the platform tags Studio's roles, profiles and spaces with {key.lower()!r}, "
                                 "which decides who opens which profile (allowed: another key)")
            if folded == "name":
                raise ValueError(f"tags.{key}: CDK tags the VPC and its subnets, gateways and flow-log role with Name, each "
                                 "its own, and IAM takes tag keys without case (allowed: another key)")
            platform = next((k for k in PLATFORM_TAG_KEYS if k.casefold() == folded and k != key), None)
            other = seen.get(folded, platform)
            if other is not None:
                raise ValueError(f"tags.{key}: differs from {other!r} only in case, and IAM takes tag keys without case "
                                 "(a role with both is refused) (allowed: one spelling per key; the platform's own "
                                 + " and ".join(repr(k) for k in PLATFORM_TAG_KEYS) + " only as written)")
            seen[folded] = key
        if len(self.tags) > MAX_CONFIG_TAGS:
            raise ValueError(f"tags: {len(self.tags)} tags; AWS allows 50 a resource and the platform adds its own to some "
                             f"(Studio's, CDK's on subnets) (allowed: at most {MAX_CONFIG_TAGS})")
        long = next((key for key, value in self.tags.items() if len(value) > STUDIO_TAG_VALUE_MAX), None)
        if self.studio.enabled and long is not None:
            raise ValueError(f"tags.{long}: {len(self.tags[long])} characters; Studio's domain, user profiles and spaces take "
                             f"tag values of at most {STUDIO_TAG_VALUE_MAX} (allowed with studio.enabled: "
                             f"{STUDIO_TAG_VALUE_MAX} characters)")
        return self

    #: The file this was read from, as messages show it (set by the loader; not a key of the file).
    _source: str = PrivateAttr(default="")

    @property
    def resource_tags(self) -> dict[str, str]:
        """The tags every resource of the environment's stage gets: `environment: <env>`, then the config's own."""
        return {"environment": self.name, **self.tags}

    @property
    def source_file(self) -> str:
        """The file to edit, for messages: the one the loader read, else config/<name>.yaml."""
        return self._source or f"config/{self.name}.yaml"

    def notebook_zone(self, notebook: NotebookConfig) -> str:
        """The configured zone, else one derived from the name and the number of zones. Adding or removing a zone may
        move a notebook whose zone is not set, which CloudFormation cannot do to a named instance (its SubnetId is
        create-only): docs/configuration.md tells users to pin the zone first. Changing this formula would move
        deployed notebooks the same way."""
        if notebook.availability_zone:
            return notebook.availability_zone
        digest = hashlib.sha256(notebook.name.encode()).digest()
        zones = self.network.availability_zones
        return zones[int.from_bytes(digest[:4], "big") % len(zones)]

    @property
    def protected(self) -> bool:
        """Stateful resources of protected environments are retained whatever the stack's fate."""
        return self.name.startswith(PROTECTED_ENVIRONMENTS)

    def model(self, name: str) -> ModelConfig:
        """A model of the catalog, or ValueError naming the ones there are."""
        if name not in self.models:
            close = difflib.get_close_matches(name, list(self.models), n=1, cutoff=0.6)
            meant = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(
                f"no model {name!r} in {self.source_file}{meant} (allowed: {', '.join(self.models) or 'none: the models block is empty'})"
            )
        return self.models[name]

    def serving_requires_gpu(self, model: ModelConfig) -> bool:
        return self.protected if model.serving.require_gpu is None else model.serving.require_gpu

    @model_validator(mode="after")
    def _cross_field_rules(self) -> EnvironmentConfig:
        for name, model in self.models.items():
            model._name = name
        rules: list[Callable[[], None]] = [self._check_protection, self._check_zones, self._check_notebooks, self._check_model_names,
                                           self._check_replication, self._check_studio, self._check_region_offers]
        for model in self.models.values():
            rules += [partial(self._check_images, model), partial(self._check_serving, model)]
        problems = []
        for rule in rules:
            try:
                rule()
            except ValueError as error:  # each rule reports its first problem; every rule is heard
                if str(error) not in problems:  # the same problem once (e.g. a region without XGBoost, for each model)
                    problems.append(str(error))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _check_protection(self) -> None:
        if self.protected and self.removal_policy != "retain":
            raise ValueError(
                f"removal_policy: '{self.removal_policy}' would destroy the data key and buckets of "
                f"{self.name} with its stack (allowed in {' and '.join(PROTECTED_ENVIRONMENTS)}* environments: retain)"
            )

    def _check_zones(self) -> None:
        letters = zone_letters_in(self.region)
        for zone in self.network.availability_zones:
            if not zone.startswith(self.region) or not re.fullmatch(r"[a-z]", zone[len(self.region):]):
                raise ValueError(
                    f"network.availability_zones: '{zone}' is not a zone of region {self.region} "
                    f"(allowed: {self.region}a, {self.region}b, ...)"
                )
            # Which letters an account sees differs (us-west-1 has b or a), but none lies past the region's last one.
            if letters and zone[-1] > letters[-1]:
                raise ValueError(
                    f"network.availability_zones: '{zone}' is past the last zone of {self.region}, {self.region}{letters[-1]} "
                    f"(allowed: {self.region}a to {self.region}{letters[-1]}, the region's zones as cfn-lint lists them; "
                    f"`aws ec2 describe-availability-zones --region {self.region}` lists your account's)"
                )

    def _check_replication(self) -> None:
        replication = self.data.replication
        if replication and replication.region == self.region:
            raise ValueError(f"data.replication.region: '{replication.region}' is the environment's own region (allowed: "
                             "another region, for disaster recovery)")
        if replication:
            bucket = replica_bucket_name(self.name, self.account, replication.region)
            if len(bucket) > MAX_BUCKET_NAME:
                longest = MAX_BUCKET_NAME - len(bucket) + len(self.name)
                raise ValueError(
                    f"data.replication.region: the replica bucket {bucket} would be {len(bucket)} characters, more than "
                    f"the {MAX_BUCKET_NAME} S3 allows (allowed: with {replication.region}, an environment name of at most "
                    f"{longest} characters; or a region with a shorter name)")

    def _check_model_names(self) -> None:
        # The data stack's logical IDs drop the hyphens (registry_logical_id): they must stay distinct.
        seen: dict[str, str] = {}
        for name, model in self.models.items():
            other = seen.setdefault(model.registry_id.lower(), name)
            if other != name:
                if model.registry_logical_id or self.models[other].registry_logical_id:
                    raise ValueError(f"models.{name}.registry_logical_id: '{model.registry_id}' is model {other!r}'s too "
                                     "(allowed: a logical ID no other model of the environment has)")
                raise ValueError(f"models.{name}: differs from model {other!r} only in hyphens (allowed: names that differ "
                                 "in their letters or digits)")

    def _check_studio(self) -> None:
        from notebook_lifecycle import MAX_SCRIPT_CHARS, render_jupyterlab_on_start

        for team, config in self.studio.teams.items():
            at = f"studio.teams.{team}"
            unknown = [m for m in config.models if m not in self.models]
            if unknown:
                raise ValueError(f"{at}.models: {', '.join(map(repr, unknown))} is not a model of this environment's models block "
                                 f"(allowed: {', '.join(self.models) or 'none: the models block is empty'})")
            for index, package in enumerate(config.packages):
                if not PINNED_PACKAGE.fullmatch(package):
                    raise ValueError(f"{at}.packages[{index}] = {package!r}: must be a pinned pip requirement 'name==version' "
                                     "(e.g. xgboost==3.4.1)")
            if config.packages and self.network.nat_gateways == 0:
                raise ValueError(f"{at}.packages: installing packages needs egress to a package index, but network.nat_gateways "
                                 "is 0 (allowed: packages with nat_gateways >= 1, or no packages)")
            try:
                render_jupyterlab_on_start(packages=list(config.packages))
            except ValueError as exc:
                raise ValueError(f"{at}.packages: {len(config.packages)} packages make the lifecycle script too long ({exc}; "
                                 f"allowed: a script of at most {MAX_SCRIPT_CHARS} base64 characters)") from None

    def sagemaker_resource_types(self) -> dict[str, str]:
        """The SageMaker resource types this environment declares, each with the setting that asks for it (the
        platform's other types, IAM, S3, KMS, EC2 and the like, exist in every region the region field takes; a test
        holds both to the synthesized templates)."""
        types: dict[str, str] = {}
        if self.models:
            types |= dict.fromkeys(("AWS::SageMaker::ModelPackageGroup", "AWS::SageMaker::Pipeline"), "models")
        if self.notebooks:
            types |= dict.fromkeys(("AWS::SageMaker::NotebookInstance", "AWS::SageMaker::NotebookInstanceLifecycleConfig"),
                                   "notebooks")
        if self.studio.enabled:
            types |= dict.fromkeys(("AWS::SageMaker::Domain", "AWS::SageMaker::UserProfile", "AWS::SageMaker::Space",
                                    "AWS::SageMaker::StudioLifecycleConfig"), "studio.enabled")
        if self.tracking.enabled:
            types["AWS::SageMaker::MlflowTrackingServer"] = "tracking.enabled"
        for model in self.models.values():
            serving = model.serving
            if serving.model_package_arn:
                at = f"models.{model.name}.serving"
                types |= {t: types.get(t, f"{at}.model_package_arn")
                          for t in ("AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint")}
                if serving.mode == "instances" and serving.monitoring.enabled:
                    types |= {t: types.get(t, f"{at}.monitoring.enabled")
                              for t in ("AWS::SageMaker::DataQualityJobDefinition", "AWS::SageMaker::MonitoringSchedule")}
        return types

    def _check_region_offers(self) -> None:
        offered = cloudformation_types_in(self.region)
        if offered is None:
            return  # a region cfn-lint has no data for: CloudFormation's answer at deploy is the only one
        missing = {kind: setting for kind, setting in self.sagemaker_resource_types().items() if kind not in offered}
        if missing:
            settings = sorted(set(missing.values()))
            raise ValueError(f"region: CloudFormation has no {', '.join(sorted(missing))} in {self.region} (its resource types "
                             f"there, as cfn-lint ships them), which {' and '.join(settings)} use (allowed: a region that has "
                             "them, or this environment without those settings)")

    def _check_images(self, model: ModelConfig) -> None:
        try:
            xgboost_image(self.region, model.framework_version)
            if model.training.debugger.rules:
                debugger_rules_image(self.region)
        except ValueError as exc:
            # No XGBoost version at all in the region: the region is what to change (one line, not one per model).
            field = "region" if not _xgboost_published_in(self.region) else f"models.{model.name}.framework_version"
            raise ValueError(f"{field}: {exc}") from None

    def _check_notebooks(self) -> None:
        names = [nb.name for nb in self.notebooks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"notebooks: names must be unique; repeated: {', '.join(duplicates)}")
        for index, notebook in enumerate(self.notebooks):
            zones = self.network.availability_zones
            if notebook.availability_zone is not None and notebook.availability_zone not in zones:
                raise ValueError(
                    f"notebooks[{index}].availability_zone: '{notebook.availability_zone}' is not one of the "
                    f"network's zones (allowed: {', '.join(zones)})"
                )
            if notebook.packages and self.network.nat_gateways == 0:
                raise ValueError(
                    f"notebooks[{index}].packages: installing packages needs egress to a package index, "
                    "but network.nat_gateways is 0 (allowed: packages with nat_gateways >= 1, or no packages)"
                )

    def _check_serving(self, model: ModelConfig) -> None:
        serving, at = model.serving, f"models.{model.name}.serving"
        if self.protected:
            if serving.mode != "instances":
                raise ValueError(
                    f"{at}.mode: '{serving.mode}' has no GPU, VPC or multi-AZ fleet "
                    f"(allowed in {' and '.join(PROTECTED_ENVIRONMENTS)}* environments: instances)"
                )
            for field, value in (("initial_instance_count", serving.initial_instance_count),
                                 ("autoscaling.min_instances", serving.autoscaling.min_instances)):
                if value < 2:
                    raise ValueError(
                        f"{at}.{field}: {value} instance cannot span two Availability Zones "
                        f"(allowed in {' and '.join(PROTECTED_ENVIRONMENTS)}* environments: 2 or more)"
                    )
        if self.serving_requires_gpu(model) and not serving.gpu:
            what = "serverless endpoints have no GPU" if serving.mode == "serverless" else (
                f"'{serving.instance_type}' has no GPU")
            why = "require_gpu is true" if serving.require_gpu else f"{self.name} is a protected environment"
            raise ValueError(
                f"{at}.{'mode' if serving.mode == 'serverless' else 'instance_type'}: {what}, and {why} "
                "(allowed: a GPU hosting type such as ml.g4dn.xlarge, ml.g5.xlarge, ml.g6.xlarge; or require_gpu: false)"
            )
        package = serving.model_package
        if package and (package["region"], package["account"]) != (self.region, self.account):
            raise ValueError(
                f"{at}.model_package_arn: the version is in {package['account']}/{package['region']}, "
                f"this environment is {self.account}/{self.region} (allowed: a model package of this account and region)"
            )
        group = model_package_group_name(self.name, model.name)
        if package and package["group"] != group:
            raise ValueError(
                f"{at}.model_package_arn: the version is in group {package['group']}, not this model's {group} "
                f"(allowed: a version of {group})"
            )
        baseline = serving.monitoring.baseline_prefix
        if baseline and baseline.split("/")[1:3] != [self.name, model.name]:
            raise ValueError(
                f"{at}.monitoring.baseline_prefix: '{baseline}' was written by the {'/'.join(baseline.split('/')[1:3])} "
                f"pipeline, not by this model's in this environment (allowed: {baseline_prefix(self.name, model.name, '<execution id>')})"
            )
        if serving.mode == "instances" and serving.monitoring.enabled:
            try:
                model_monitor_image(self.region)
            except ValueError as exc:
                raise ValueError(f"{at}.monitoring: {exc}; set monitoring.enabled: false there") from None
