"""Foundation: what every environment shares. The data lake (key, buckets, registry group), the
VPC, the execution roles and the notebook instances (runtime: notebook_lifecycle/)."""
