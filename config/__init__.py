"""Per-environment configuration: YAML files validated into typed, frozen objects.

Stacks receive these objects; they never read files or environment variables.
"""

from config.loader import ConfigError, load_environment, load_environments
from config.schema import EnvironmentConfig, NetworkConfig, NotebookConfig

__all__ = [
    "ConfigError",
    "EnvironmentConfig",
    "NetworkConfig",
    "NotebookConfig",
    "load_environment",
    "load_environments",
]
