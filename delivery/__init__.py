"""Delivery tools: promote a registered model version into an environment's config, and the
post-deploy smoke test the delivery pipeline runs. `python -m delivery --help`.

The runtime side of stacks/delivery/ (the pipeline that runs these); the command lines the
platform prints for them come from naming.py.
"""
