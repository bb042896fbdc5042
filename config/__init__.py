"""Per-environment configuration: YAML files validated into typed, frozen objects.

Stacks receive these objects; they never read files or environment variables.
"""

from config.delivery import DeliveryConfig, DeliveryStage
from config.environment import EnvironmentConfig, NetworkConfig, NotebookConfig
from config.loader import ConfigError, environment_files, load_delivery, load_environment, load_environments

__all__ = [
    "ConfigError",
    "DeliveryConfig",
    "DeliveryStage",
    "EnvironmentConfig",
    "environment_files",
    "NetworkConfig",
    "NotebookConfig",
    "load_delivery",
    "load_environment",
    "load_environments",
]
