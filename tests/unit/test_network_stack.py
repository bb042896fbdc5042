"""Network stack: private, multi-AZ, with the endpoints workloads need and flow logs."""

from __future__ import annotations

import ipaddress

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms

from config import ConfigError, load_environment
from stacks.foundation.network_stack import NetworkStack
from tests.helpers.configs import ENVIRONMENTS, config_error, shipped, write_config
from tests.helpers.paths import CONFIG_DIR

REQUIRED_INTERFACE_ENDPOINTS = {
    "sagemaker.api", "sagemaker.runtime", "sts", "logs", "ecr.api", "ecr.dkr", "monitoring", "kms",
}


def service_suffix(endpoint) -> str:
    name = endpoint["Properties"]["ServiceName"]
    if isinstance(name, str):
        return name.split("us-east-1.", 1)[1]
    # Gateway endpoints render as Fn::Join of "com.amazonaws.", region, ".s3"
    return "".join(p for p in name["Fn::Join"][1] if isinstance(p, str)).split(".")[-1]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_vpc_cidr_and_private_subnets_span_configured_zones(assembly, env):
    config = load_environment(CONFIG_DIR / f"{env}.yaml")
    template = assembly.template(env, "Network")
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": config.network.cidr})
    subnets = template.find_resources("AWS::EC2::Subnet")
    private = [s for s in subnets.values() if not s["Properties"]["MapPublicIpOnLaunch"]
               and any(t == {"Key": "aws-cdk:subnet-name", "Value": "Workloads"} for t in s["Properties"]["Tags"])]
    zones = {s["Properties"]["AvailabilityZone"] for s in private}
    assert zones == set(config.network.availability_zones)
    assert len(zones) >= 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_subnet_assigns_public_ips(assembly, env):
    for subnet in assembly.template(env, "Network").find_resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


@pytest.mark.parametrize("env, nat", [("dev", 1), ("staging", 1), ("prod", 3)])
def test_nat_gateways_per_environment(assembly, env, nat):
    assembly.template(env, "Network").resource_count_is("AWS::EC2::NatGateway", nat)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_vpc_endpoints_for_private_workloads(assembly, env):
    endpoints = assembly.template(env, "Network").find_resources("AWS::EC2::VPCEndpoint")
    interface = {service_suffix(e) for e in endpoints.values() if e["Properties"].get("VpcEndpointType") == "Interface"}
    gateway = {service_suffix(e) for e in endpoints.values() if e["Properties"].get("VpcEndpointType") != "Interface"}
    assert REQUIRED_INTERFACE_ENDPOINTS <= interface
    assert gateway == {"s3"}
    for endpoint in endpoints.values():
        if endpoint["Properties"].get("VpcEndpointType") == "Interface":
            assert endpoint["Properties"]["PrivateDnsEnabled"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_endpoint_security_group_admits_only_https_from_the_vpc(assembly, env):
    config = load_environment(CONFIG_DIR / f"{env}.yaml")
    groups = assembly.template(env, "Network").find_resources("AWS::EC2::SecurityGroup")
    endpoint_group = next(g for i, g in groups.items() if i.startswith("EndpointSecurityGroup"))
    assert endpoint_group["Properties"]["SecurityGroupIngress"] == [{
        "CidrIp": config.network.cidr, "Description": "HTTPS from workloads in this VPC",
        "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443,
    }]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_flow_logs_go_to_a_kms_encrypted_log_group(assembly, env):
    template = assembly.template(env, "Network")
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})
    (group,) = template.find_resources("AWS::Logs::LogGroup").values()
    # The data stack's customer-managed key, imported across stacks.
    assert "DataKey" in group["Properties"]["KmsKeyId"]["Fn::ImportValue"]
    config = load_environment(CONFIG_DIR / f"{env}.yaml")
    assert group["Properties"]["RetentionInDays"] == config.network.flow_log_retention_days


def test_default_security_group_is_restricted(assembly):
    assembly.template("dev", "Network").resource_count_is("Custom::VpcRestrictDefaultSG", 1)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_workload_security_group_admits_only_its_peers_over_tcp_and_ipsec(assembly, env):
    """Every job sets EnableInterContainerTrafficEncryption, which SageMaker implements with IPsec:
    "the security group must allow UDP port 500 and IP protocol 50 (ESP) to and from itself"
    (SageMaker developer guide, Protect communications between ML compute instances in a
    distributed training job). Without them a two-instance job (staging's) hangs."""
    template = assembly.template(env, "Network")
    groups = template.find_resources("AWS::EC2::SecurityGroup")
    (group_id, group), = [(i, g) for i, g in groups.items() if i.startswith("WorkloadSecurityGroup")]
    assert "SecurityGroupIngress" not in group["Properties"]
    itself = {"Fn::GetAtt": [group_id, "GroupId"]}

    def rules(kind: str, peer: str) -> set[tuple]:
        found = template.find_resources(kind).values()
        return {(r["Properties"]["IpProtocol"], r["Properties"].get("FromPort"), r["Properties"].get("ToPort"))
                for r in found if r["Properties"]["GroupId"] == itself and r["Properties"].get(peer) == itself}

    expected = {("tcp", 0, 65535), ("udp", 500, 500), ("50", None, None)}
    assert rules("AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId") == expected
    assert rules("AWS::EC2::SecurityGroupEgress", "DestinationSecurityGroupId") == expected


@pytest.fixture(scope="module")
def without_nat(tmp_path_factory):
    """The same dev environment with nat_gateways: 0 (no packages, as validation then requires)."""
    import yaml

    from tests.helpers.assembly import Assembly, synth_app

    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["network"]["nat_gateways"] = 0
    for notebook in data["notebooks"]:
        notebook["packages"] = []
    for team in data.get("studio", {}).get("teams", {}).values():
        team["packages"] = []
    config_dir = tmp_path_factory.mktemp("config-no-nat")
    (config_dir / "dev.yaml").write_text(yaml.safe_dump(data))
    outdir = tmp_path_factory.mktemp("cdk.out-no-nat")
    synth_app(outdir, config_dir)  # cdk-nag runs here too: a finding would fail the fixture
    return Assembly(outdir)


def test_without_nat_the_vpc_has_no_route_to_the_internet(without_nat):
    template = without_nat.template("dev", "Network")
    for resource_type in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"):
        template.resource_count_is(resource_type, 0)
    for route in template.find_resources("AWS::EC2::Route").values():
        assert route["Properties"].get("DestinationCidrBlock") != "0.0.0.0/0"
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 2 and all("Workloads" in i for i in subnets)


def test_without_nat_the_endpoints_still_serve_the_workloads(without_nat):
    endpoints = without_nat.template("dev", "Network").find_resources("AWS::EC2::VPCEndpoint")
    interface = {service_suffix(e) for e in endpoints.values() if e["Properties"].get("VpcEndpointType") == "Interface"}
    assert REQUIRED_INTERFACE_ENDPOINTS <= interface
    notebook = without_nat.template("dev", "Notebooks").find_resources("AWS::SageMaker::NotebookInstance")
    (props,) = [n["Properties"] for n in notebook.values()]
    assert "VpcWorkloadsSubnet" in props["SubnetId"]["Fn::ImportValue"]


def network_template(cfg) -> dict:
    """The Network stack alone for an environment config (not validated again: a CIDR the loader refuses too)."""
    app = cdk.App(context={f"availability-zones:account={cfg.account}:region={cfg.region}": list(cfg.network.availability_zones)})
    where = cdk.Environment(account=cfg.account, region=cfg.region)
    key = kms.Key(cdk.Stack(app, "Key", env=where), "Key")
    stack = NetworkStack(app, "Network", env_config=cfg, log_key=key, env=where)
    return cdk.assertions.Template.from_stack(stack).to_json()


@pytest.mark.parametrize(("zones", "nat"), [(2, 0), (2, 1), (3, 3), (6, 6)])
def test_the_smallest_cidr_the_loader_accepts_holds_every_subnet_cdk_allocates(tmp_path, zones, nat):
    """The loader's room check against CDK's own allocation (aws-cdk-lib's ec2 NetworkBuilder): at the smallest
    prefix the loader accepts, every subnet CDK declares lies inside the VPC and none overlap; one bit smaller is
    refused by the loader with that smallest prefix named, and CDK cannot allocate it either."""
    data = shipped("dev")
    data["network"].update(availability_zones=[f"us-east-1{z}" for z in "abcdef"[:zones]], nat_gateways=nat)
    if not nat:  # without egress, nothing installs packages
        for holder in [*data.get("notebooks", []), *((data.get("studio") or {}).get("teams") or {}).values()]:
            holder.pop("packages", None)
    accepted = [p for p in range(16, 25) if _loads(tmp_path, data, f"10.10.0.0/{p}")]
    smallest = max(accepted)
    assert accepted == list(range(16, smallest + 1))
    data["network"]["cidr"] = f"10.10.0.0/{smallest}"
    cfg = load_environment(write_config(tmp_path, data))
    subnets = [ipaddress.IPv4Network(s["Properties"]["CidrBlock"]) for s in
               network_template(cfg)["Resources"].values() if s["Type"] == "AWS::EC2::Subnet"]
    vpc = ipaddress.IPv4Network(cfg.network.cidr)
    assert len(subnets) == zones * (2 if nat else 1)
    assert all(s.subnet_of(vpc) for s in subnets)
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])
    if smallest < 24:
        data["network"]["cidr"] = f"10.10.0.0/{smallest + 1}"
        message = config_error(tmp_path, data)
        assert f"(allowed: /{smallest} or larger, e.g. 10.10.0.0/{smallest}" in message
        # Without NAT, where the layout without the reserved egress ranges would fit, the key that keeps it is named.
        old_layout_fits = not nat and _loads(tmp_path, {**data, "network": {**data["network"], "reserve_egress_subnets": False}},
                                             f"10.10.0.0/{smallest + 1}")
        assert ("reserve_egress_subnets: false" in message) == old_layout_fits
        too_small = cfg.model_copy(update={"network": cfg.network.model_copy(update={"cidr": f"10.10.0.0/{smallest + 1}"})})
        with pytest.raises(RuntimeError, match="exceeds remaining space"):
            network_template(too_small)


def _loads(tmp_path, data: dict, cidr: str) -> bool:
    data["network"]["cidr"] = cidr
    try:
        load_environment(write_config(tmp_path, data))
    except ConfigError as error:
        assert "has no room for the subnets" in str(error), str(error)
        return False
    return True


def _subnets(cfg) -> dict[str, str]:
    """The Network stack's subnets, logical id -> CidrBlock."""
    return {i: r["Properties"]["CidrBlock"] for i, r in network_template(cfg)["Resources"].items() if r["Type"] == "AWS::EC2::Subnet"}


@pytest.mark.parametrize("zones", [2, 3, 6])
def test_turning_nat_on_or_off_leaves_every_workload_subnet_where_it_is(tmp_path, zones):
    """A subnet's CidrBlock is create-only (CloudFormation's resource schema for AWS::EC2::Subnet, bundled with
    cfn-lint: createOnlyProperties), and every workload stack imports the subnets' ids, which CloudFormation does not
    let change while imported (Fn::ImportValue's restrictions). So NAT on and off must lay the workload subnets out
    alike: without NAT, the egress subnets' ranges are reserved, not given to the workloads (aws/aws-cdk#6683)."""
    data = shipped("dev")
    data["network"].update(availability_zones=[f"us-east-1{z}" for z in "abcdef"[:zones]], cidr="10.10.0.0/16")
    with_nat = load_environment(write_config(tmp_path, {**data, "network": {**data["network"], "nat_gateways": 1}}))
    for holder in [*data.get("notebooks", []), *((data.get("studio") or {}).get("teams") or {}).values()]:
        holder.pop("packages", None)
    without = load_environment(write_config(tmp_path, {**data, "network": {**data["network"], "nat_gateways": 0}}))
    workloads = {i: c for i, c in _subnets(with_nat).items() if "Workloads" in i}
    assert len(workloads) == zones
    assert _subnets(without) == workloads  # the same ids and ranges, and no egress subnet without NAT
    tmpl = network_template(with_nat)
    assert sum(r["Type"] == "AWS::EC2::NatGateway" for r in tmpl["Resources"].values()) == 1


def test_an_environment_deployed_without_nat_before_the_reservation_keeps_its_layout(tmp_path):
    """`reserve_egress_subnets: false` keeps the layout that environments deployed without NAT had before the egress
    ranges were reserved: the workload subnets from the VPC's first address, so an upgrade moves none of them."""
    data = shipped("dev")
    data["network"].update(nat_gateways=0, reserve_egress_subnets=False, cidr="10.10.0.0/16")
    for holder in [*data.get("notebooks", []), *((data.get("studio") or {}).get("teams") or {}).values()]:
        holder.pop("packages", None)
    cidrs = sorted(_subnets(load_environment(write_config(tmp_path, data))).values(), key=lambda c: ipaddress.IPv4Network(c))
    assert cidrs[0] == "10.10.0.0/20"
    data["network"]["reserve_egress_subnets"] = True
    cidrs = sorted(_subnets(load_environment(write_config(tmp_path, data))).values(), key=lambda c: ipaddress.IPv4Network(c))
    assert cidrs[0] == "10.10.16.0/20"
