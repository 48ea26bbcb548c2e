"""Configuration: gateway.yaml + environment -> one frozen, typed `GatewayConfig`.

`load.py` is the only code that reads files or the environment; the sections live in their own
modules (providers and models, routing, reliability, experiments, the small ones) and are
re-exported here, so the rest of the tree imports from `gateway.config`.
"""

from gateway.config.experiments import Arm, ExperimentConfig, ExperimentMatch
from gateway.config.load import ConfigError, expand_env, load_config, parse_config
from gateway.config.providers import (
    CAPABILITIES,
    Deployment,
    ModelConfig,
    ProviderConfig,
    SimulatedSettings,
)
from gateway.config.reliability import (
    Backoff,
    BreakerConfig,
    ReliabilityConfig,
    Timeouts,
    TimeoutsOverride,
)
from gateway.config.root import GatewayConfig, undated
from gateway.config.routing import (
    CONSENSUS_PROFILE,
    DEFAULT_PROFILES,
    LOCAL_PROFILE,
    STRATEGIES,
    TASKS,
    LearnConfig,
    ParallelConfig,
    ProfileWeights,
    RoutingConfig,
)
from gateway.config.sections import (
    ROLES,
    STATE_SCHEMES,
    ApiKey,
    AuthConfig,
    BudgetConfig,
    DatabaseConfig,
    ServerConfig,
    StateConfig,
    TelemetryConfig,
)

__all__ = [
    "CAPABILITIES", "CONSENSUS_PROFILE", "DEFAULT_PROFILES", "LOCAL_PROFILE", "ROLES",
    "STATE_SCHEMES", "STRATEGIES", "TASKS", "ApiKey", "Arm", "AuthConfig", "Backoff", "BreakerConfig",
    "BudgetConfig", "ConfigError", "DatabaseConfig", "Deployment", "ExperimentConfig",
    "ExperimentMatch", "GatewayConfig", "LearnConfig", "ModelConfig", "ParallelConfig",
    "ProfileWeights", "ProviderConfig", "ReliabilityConfig", "RoutingConfig", "ServerConfig",
    "SimulatedSettings", "StateConfig", "TelemetryConfig", "Timeouts", "TimeoutsOverride",
    "expand_env", "load_config", "parse_config", "undated",
]
