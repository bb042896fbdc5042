"""The CDK side of the platform, one folder per capability; stage.py composes them per environment.

    foundation/  data lake, network, execution roles, notebooks
    training/    the training pipeline
    serving/     the endpoint
    delivery/    the delivery pipeline
    shared/      constructs and rules the capabilities share
    contracts.py what one stack hands another

Importing this package costs nothing: the modules below import aws_cdk themselves.
"""
