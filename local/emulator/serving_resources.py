"""The CloudFormation types around a served endpoint that moto 5.2.5 skips ("No Moto CloudFormation support"):
CloudWatch alarms, Application Auto Scaling targets and policies, SageMaker data-quality job definitions.

moto's APIs have all of them, but its CloudFormation deploys none: a Serving stack then lacks its rollback
alarms and autoscaling, and fails outright where another resource reads one with Fn::GetAtt (the dashboard
reads each alarm's Arn; the monitoring schedule its job definition's JobDefinitionArn). These deploy them
through those APIs, so DescribeAlarms, DescribeScalableTargets, DescribeScalingPolicies and
DescribeDataQualityJobDefinition answer for what a stack deployed. Remove a fix once the pinned moto release
has it. (AWS::SageMaker::MonitoringSchedule stays skipped: moto has no monitoring-schedule API to hold it.)
"""

from __future__ import annotations

from typing import Any

#: Properties whose change replaces the resource (createOnlyProperties in each type's CloudFormation registry
#: schema); any other change updates it in place, as the put/register calls below do.
REPLACED_BY = {
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::ApplicationAutoScaling::ScalableTarget": ("ResourceId", "ScalableDimension", "ServiceNamespace"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": ("PolicyName", "ResourceId", "ScalableDimension", "ScalingTargetId", "ServiceNamespace"),
    "AWS::SageMaker::DataQualityJobDefinition": ("DataQualityAppSpecification", "DataQualityBaselineConfig", "DataQualityJobInput",
                                                 "DataQualityJobOutputConfig", "EndpointName", "JobDefinitionName", "JobResources",
                                                 "NetworkConfig", "RoleArn", "StoppingCondition", "Tags"),
}


def scalable_target_id(resource_id: str, dimension: str, namespace: str) -> str:
    """What Ref returns for an AWS::ApplicationAutoScaling::ScalableTarget (its template reference:
    "service/cluster/service|ecs:service:DesiredCount|ecs"), and what a ScalingPolicy's ScalingTargetId holds."""
    return f"{resource_id}|{dimension}|{namespace}"


def split_scalable_target_id(target_id: str) -> tuple[str, str, str]:
    """Resource ID, scalable dimension and service namespace of a ScalableTarget's Ref."""
    parts = target_id.split("|")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"ScalingTargetId {target_id!r} is not resource-id|scalable-dimension|service-namespace")
    return parts[0], parts[1], parts[2]


def data_quality_summaries_name_their_endpoint() -> None:
    """ListDataQualityJobDefinitions: moto 5.2.5 answers EndpointName 'EndpointName' for every definition;
    SageMaker's MonitoringJobDefinitionSummary carries the endpoint the job's input names."""
    from moto.sagemaker.models import FakeDataQualityJobDefinition

    def summary_object(self: Any) -> dict[str, Any]:
        return {"MonitoringJobDefinitionName": self.job_definition_name, "MonitoringJobDefinitionArn": self.arn,
                "CreationTime": self.creation_time,
                "EndpointName": (self.data_quality_job_input.get("EndpointInput") or {}).get("EndpointName", "")}

    FakeDataQualityJobDefinition.summary_object = property(summary_object)  # type: ignore[assignment]


def alarms_autoscaling_and_monitoring_deploy() -> None:
    """See the module docstring: the four types, through moto's CloudWatch, Application Auto Scaling and
    SageMaker backends. Ref and Fn::GetAtt as each type's template reference documents them."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.sagemaker.models import sagemaker_backends

    from local.emulator.cloudformation import Deployed, api_backed, register

    def put_alarm(backend: Any, name: str, props: dict) -> Deployed:
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props.get("ComparisonOperator"),
            evaluation_periods=props.get("EvaluationPeriods"),
            period=props.get("Period"),
            threshold=props.get("Threshold"),
            statistic=props.get("Statistic"),
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            ok_actions=props.get("OKActions") or [],
            insufficient_data_actions=props.get("InsufficientDataActions") or [],
            datapoints_to_alarm=props.get("DatapointsToAlarm"),
            unit=props.get("Unit"),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() == "true",
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags") or [],
        )
        # Ref: the alarm name; Fn::GetAtt Arn: its ARN.
        return Deployed(name, lambda: backend.delete_alarms([name]), {"Arn": alarm.alarm_arn}, name=name)

    def register_target(backend: Any, _name: str, props: dict) -> Deployed:
        resource_id, dimension, namespace = str(props.get("ResourceId")), str(props.get("ScalableDimension")), str(props.get("ServiceNamespace"))
        target = backend.register_scalable_target(
            namespace, resource_id, dimension, min_capacity=_int(props.get("MinCapacity")), max_capacity=_int(props.get("MaxCapacity")),
            role_arn=props.get("RoleARN"), suspended_state=props.get("SuspendedState"),
        )

        def deregister() -> None:
            if backend.describe_scalable_targets(namespace, [resource_id], dimension):
                backend.deregister_scalable_target(namespace, resource_id, dimension)

        return Deployed(scalable_target_id(resource_id, dimension, namespace), deregister,
                        {"Id": scalable_target_id(resource_id, dimension, namespace), "Arn": target.arn})

    def put_policy(backend: Any, _name: str, props: dict) -> Deployed:
        if props.get("ScalingTargetId"):
            resource_id, dimension, namespace = split_scalable_target_id(props["ScalingTargetId"])
        else:
            resource_id, dimension, namespace = str(props.get("ResourceId")), str(props.get("ScalableDimension")), str(props.get("ServiceNamespace"))
        name = str(props.get("PolicyName"))
        policy_type = props.get("PolicyType")
        body = props.get("TargetTrackingScalingPolicyConfiguration") or props.get("StepScalingPolicyConfiguration")
        policy = backend.put_scaling_policy(name, namespace, resource_id, dimension, body, policy_type)

        def delete() -> None:
            if any(p.policy_name == name for p in backend.describe_scaling_policies(namespace, resource_id, dimension, None, "")[1]):
                backend.delete_scaling_policy(name, namespace, resource_id, dimension)

        # Ref and Fn::GetAtt Arn: the policy's ARN.
        return Deployed(policy.policy_arn, delete, {"Arn": policy.policy_arn}, name=name)

    def update_policy(backend: Any, _deployed: Deployed, props: dict) -> Deployed:
        return put_policy(backend, "", props)

    def create_job_definition(backend: Any, name: str, props: dict) -> Deployed:
        created = backend.create_data_quality_job_definition(
            account_id=backend.account_id,
            job_definition_name=name,
            tags=props.get("Tags") or [],
            role_arn=props.get("RoleArn", ""),
            job_resources=props.get("JobResources"),
            stopping_condition=props.get("StoppingCondition"),
            network_config=props.get("NetworkConfig"),
            data_quality_baseline_config=props.get("DataQualityBaselineConfig"),
            data_quality_app_specification=props.get("DataQualityAppSpecification"),
            data_quality_job_input=props.get("DataQualityJobInput"),
            data_quality_job_output_config=props.get("DataQualityJobOutputConfig"),
        )
        arn = created["JobDefinitionArn"]
        # Ref and Fn::GetAtt JobDefinitionArn: its ARN.
        return Deployed(arn, lambda: backend.data_quality_job_definitions.pop(name, None), {"JobDefinitionArn": arn}, name=name)

    register(
        api_backed("AWS::CloudWatch::Alarm", "AlarmName", put_alarm, backends=cloudwatch_backends, service="cloudwatch",
                   attributes=("Arn",), replaced_by=REPLACED_BY["AWS::CloudWatch::Alarm"],
                   update=lambda backend, deployed, props: put_alarm(backend, deployed.name, props), name_limit=255),
        api_backed("AWS::ApplicationAutoScaling::ScalableTarget", "", register_target, backends=applicationautoscaling_backends,
                   service="applicationautoscaling", attributes=("Id",),
                   replaced_by=REPLACED_BY["AWS::ApplicationAutoScaling::ScalableTarget"],
                   update=lambda backend, _deployed, props: register_target(backend, "", props)),
        api_backed("AWS::ApplicationAutoScaling::ScalingPolicy", "", put_policy, backends=applicationautoscaling_backends,
                   service="applicationautoscaling", attributes=("Arn",),
                   replaced_by=REPLACED_BY["AWS::ApplicationAutoScaling::ScalingPolicy"], update=update_policy),
        api_backed("AWS::SageMaker::DataQualityJobDefinition", "JobDefinitionName", create_job_definition, backends=sagemaker_backends,
                   attributes=("JobDefinitionArn",), replaced_by=REPLACED_BY["AWS::SageMaker::DataQualityJobDefinition"]),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
