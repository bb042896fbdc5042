"""CDK stacks of the SageMaker platform, one module per stack; L3 constructs in components/."""
