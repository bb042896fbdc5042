"""What SageMaker offers, looked up offline: container images per region and instance-type facts.

Kept apart from the config schemas that validate against it and the stacks that build
with it: these are facts about the service (from botocore's API model and the SageMaker
SDK's image tables), not the platform's choices.
"""
