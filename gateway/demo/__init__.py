"""The demo: the shipped models on simulated upstreams (`gateway serve --demo`), and sample traffic.

`config.demo_config` turns a configuration into its demo twin (a pure function); `traffic`
sends a trickle of varied requests so the dashboard fills within a minute.
"""

from gateway.demo.config import DEMO_DB_URL, demo_config, simulated_providers

__all__ = ["DEMO_DB_URL", "demo_config", "simulated_providers"]
