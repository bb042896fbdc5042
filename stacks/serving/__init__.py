"""Serving: the real-time endpoint of a registered model version with autoscaling, safe rollout,
alarms, dashboard and data-quality monitoring. Runtime: training_scripts/inference.py."""
