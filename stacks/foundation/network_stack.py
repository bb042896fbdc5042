"""The VPC that notebooks, processing/training jobs and endpoints run in.

Workloads live in private subnets and reach AWS services through VPC endpoints;
a NAT gateway (per environment, optional) is only for package indexes.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from config import EnvironmentConfig
from config.environment import EGRESS_SUBNET_MASK, WORKLOAD_SUBNET_MASK
from stacks.contracts import WORKLOADS, Workloads
from stacks.shared.compliance import acknowledge
from stacks.shared.log_retention import retention_days
from stacks.shared.removal import stateful_removal_policy

#: What IPsec between job instances needs (SageMaker developer guide, "Protect communications between
#: ML compute instances in a distributed training job").
IPSEC = (
    (ec2.Port.udp(500), "IPsec key exchange (IKE) for inter-container traffic encryption"),
    (ec2.Port(protocol=ec2.Protocol.ESP, string_representation="ESP"), "IPsec ESP for inter-container traffic encryption"),
)

#: Interface endpoints SageMaker workloads need without internet access, by purpose.
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "CloudWatchLogs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "CloudWatchMetrics": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
}
#: With tracking on: SageMaker managed MLflow's endpoint (service aws.sagemaker.<region>.experiments). The
#: sagemaker-mlflow plugin calls https://<region>.experiments.sagemaker.aws, which private DNS resolves to this
#: endpoint inside the VPC (SageMaker developer guide, "Connect to an MLflow tracking server through an
#: interface VPC endpoint": https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-interface-endpoint.html).
#: CreatePresignedMlflowTrackingServerUrl, for the UI, goes to the SageMakerApi endpoint above.
TRACKING_ENDPOINT = ("SageMakerExperiments", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_EXPERIMENTS)

#: With Studio on: the endpoint the Studio web UI and its apps reach SageMaker Studio through (aws.sagemaker.<region>.studio,
#: private DNS on: "Connect to Studio Through an Interface VPC Endpoint",
#: https://docs.aws.amazon.com/sagemaker/latest/dg/studio-interface-endpoint.html).
STUDIO_ENDPOINT = ("SageMakerStudio", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_STUDIO)
#: A VPC-only Studio domain needs the SageMaker API and runtime, S3, Studio, and for jobs started from a notebook STS and
#: CloudWatch Logs (SageMaker developer guide, "Connect Amazon SageMaker Studio in a VPC to external resources"): all but
#: Studio's are in INTERFACE_ENDPOINTS already. tests/unit/test_studio.py checks AWS's list against what is deployed.


class NetworkStack(Stack):
    """VPC across the configured zones, flow logs, and the endpoints of section 4 of the design."""

    def __init__(
        self, scope: Construct, id_: str, *, env_config: EnvironmentConfig, log_key: kms.IKey, **kwargs
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        net = env_config.network
        has_nat = net.nat_gateways > 0

        # The egress subnets come first, so they decide where the workload subnets start: without NAT their ranges are
        # reserved (CDK creates nothing there), and turning NAT on or off later never moves a workload subnet, whose
        # CidrBlock is create-only and whose id every workload stack imports.
        subnets = [
            ec2.SubnetConfiguration(
                name="Egress", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=EGRESS_SUBNET_MASK,
                map_public_ip_on_launch=False, reserved=not has_nat,
            ),
            ec2.SubnetConfiguration(
                name=WORKLOADS,
                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if has_nat else ec2.SubnetType.PRIVATE_ISOLATED,
                cidr_mask=WORKLOAD_SUBNET_MASK,
            ),
        ]
        if not net.egress_layout:  # deployed without NAT before the egress ranges were reserved: keep that layout
            subnets = subnets[1:]

        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=log_key,
            retention=retention_days(net.flow_log_retention_days),
            removal_policy=stateful_removal_policy(env_config),
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(net.cidr),
            # Explicit zones keep synth offline and deterministic (no availability-zone lookup).
            availability_zones=list(net.availability_zones),
            nat_gateways=net.nat_gateways,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.workload_subnets = ec2.SubnetSelection(subnet_group_name=WORKLOADS)
        for subnet in [*self.vpc.public_subnets, *self.vpc.private_subnets, *self.vpc.isolated_subnets]:
            # cfn-lint W3010 prefers Fn::GetAZs; the zones are pinned in config on purpose: synth stays
            # offline and deterministic, and a subnet never moves when the account's zone list changes.
            subnet.node.default_child.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3010"]}})
        acknowledge(
            self.vpc.node.find_child("All"),
            "CDK generates this role's inline policy for the flow log alone, scoped to its one log group.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        for subnet in self.vpc.public_subnets:  # only present with NAT gateways
            acknowledge(
                subnet,
                "Public subnets hold only the NAT gateways; no workload is ever placed in them.",
                "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
            )

        self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.workload_subnets]
        )
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="HTTPS from inside the VPC to AWS service endpoints",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(
            ec2.Peer.ipv4(net.cidr), ec2.Port.tcp(443), "HTTPS from workloads in this VPC"
        )
        # Processing/training jobs and endpoints: no inbound from outside the group; members talk to
        # each other (distributed training) and leave only over HTTPS.
        self.workload_security_group = ec2.SecurityGroup(
            self,
            "WorkloadSecurityGroup",
            vpc=self.vpc,
            description="SageMaker jobs and endpoints: peers in this group, HTTPS out",
            allow_all_outbound=False,
        )
        self.workload_security_group.connections.allow_internally(
            ec2.Port.all_tcp(), "Distributed training between job instances"
        )
        # Inter-container traffic encryption (set on every job) is IPsec between the instances: IKE on
        # UDP 500 and ESP (IP protocol 50) must pass within the group, or multi-instance jobs hang.
        for port, what in IPSEC:
            self.workload_security_group.connections.allow_internally(port, what)
        self.workload_security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS")
        self.workloads = Workloads(self.vpc, self.workload_subnets, self.workload_security_group)
        # What workload stacks import, exported whichever of them the app still has (Roles imports them today): a
        # stack turned off in config (notebooks: [], studio off) stays deployed until destroyed, importing these.
        self.export_value(self.vpc.vpc_id)
        self.export_value(self.workload_security_group.security_group_id)
        for subnet in self.vpc.select_subnets(subnet_group_name=WORKLOADS).subnets:
            self.export_value(subnet.subnet_id)
        endpoints = dict(INTERFACE_ENDPOINTS)
        if env_config.tracking.enabled:
            endpoints[TRACKING_ENDPOINT[0]] = TRACKING_ENDPOINT[1]
        if env_config.studio.enabled:
            endpoints[STUDIO_ENDPOINT[0]] = STUDIO_ENDPOINT[1]
        for name, service in endpoints.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.workload_subnets,
                security_groups=[self.endpoint_security_group],
                private_dns_enabled=True,
                open=False,
            )

