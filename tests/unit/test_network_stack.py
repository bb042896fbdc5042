"""Network stack: private, multi-AZ, with the endpoints workloads need and flow logs."""

from __future__ import annotations

import pytest

from config import load_environment
from tests.conftest import ROOT

ENVS = ("dev", "staging", "prod")
REQUIRED_INTERFACE_ENDPOINTS = {
    "sagemaker.api", "sagemaker.runtime", "sts", "logs", "ecr.api", "ecr.dkr", "monitoring", "kms",
}


def service_suffix(endpoint) -> str:
    name = endpoint["Properties"]["ServiceName"]
    if isinstance(name, str):
        return name.split("us-east-1.", 1)[1]
    # Gateway endpoints render as Fn::Join of "com.amazonaws.", region, ".s3"
    return "".join(p for p in name["Fn::Join"][1] if isinstance(p, str)).split(".")[-1]


@pytest.mark.parametrize("env", ENVS)
def test_vpc_cidr_and_private_subnets_span_configured_zones(assembly, env):
    config = load_environment(ROOT / "config" / f"{env}.yaml")
    template = assembly.template(env, "Network")
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": config.network.cidr})
    subnets = template.find_resources("AWS::EC2::Subnet")
    private = [s for s in subnets.values() if not s["Properties"]["MapPublicIpOnLaunch"]
               and any(t == {"Key": "aws-cdk:subnet-name", "Value": "Workloads"} for t in s["Properties"]["Tags"])]
    zones = {s["Properties"]["AvailabilityZone"] for s in private}
    assert zones == set(config.network.availability_zones)
    assert len(zones) >= 2


@pytest.mark.parametrize("env", ENVS)
def test_no_subnet_assigns_public_ips(assembly, env):
    for subnet in assembly.template(env, "Network").find_resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


@pytest.mark.parametrize("env, nat", [("dev", 1), ("staging", 1), ("prod", 3)])
def test_nat_gateways_per_environment(assembly, env, nat):
    assembly.template(env, "Network").resource_count_is("AWS::EC2::NatGateway", nat)


@pytest.mark.parametrize("env", ENVS)
def test_vpc_endpoints_for_private_workloads(assembly, env):
    endpoints = assembly.template(env, "Network").find_resources("AWS::EC2::VPCEndpoint")
    interface = {service_suffix(e) for e in endpoints.values() if e["Properties"].get("VpcEndpointType") == "Interface"}
    gateway = {service_suffix(e) for e in endpoints.values() if e["Properties"].get("VpcEndpointType") != "Interface"}
    assert REQUIRED_INTERFACE_ENDPOINTS <= interface
    assert gateway == {"s3"}
    for endpoint in endpoints.values():
        if endpoint["Properties"].get("VpcEndpointType") == "Interface":
            assert endpoint["Properties"]["PrivateDnsEnabled"] is True


@pytest.mark.parametrize("env", ENVS)
def test_endpoint_security_group_admits_only_https_from_the_vpc(assembly, env):
    config = load_environment(ROOT / "config" / f"{env}.yaml")
    groups = assembly.template(env, "Network").find_resources("AWS::EC2::SecurityGroup")
    endpoint_group = next(g for i, g in groups.items() if i.startswith("EndpointSecurityGroup"))
    assert endpoint_group["Properties"]["SecurityGroupIngress"] == [{
        "CidrIp": config.network.cidr, "Description": "HTTPS from workloads in this VPC",
        "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443,
    }]


@pytest.mark.parametrize("env", ENVS)
def test_flow_logs_go_to_a_kms_encrypted_log_group(assembly, env):
    template = assembly.template(env, "Network")
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})
    (group,) = template.find_resources("AWS::Logs::LogGroup").values()
    # The data stack's customer-managed key, imported across stacks.
    assert "DataKey" in group["Properties"]["KmsKeyId"]["Fn::ImportValue"]
    config = load_environment(ROOT / "config" / f"{env}.yaml")
    assert group["Properties"]["RetentionInDays"] == config.network.flow_log_retention_days


def test_default_security_group_is_restricted(assembly):
    assembly.template("dev", "Network").resource_count_is("Custom::VpcRestrictDefaultSG", 1)
