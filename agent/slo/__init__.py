"""SLO specs and what is generated from them: Prometheus rules and the Alertmanager configuration."""

from agent.slo.alertmanager import render_alertmanager_config
from agent.slo.deploy import regenerate, slo_rules_command, stale_generated_files
from agent.slo.rules import render_rules
from agent.slo.spec import SLOInstance, SLOSpec, SpecError, expand, load_spec, load_specs, parse_spec

__all__ = [
    "SLOInstance",
    "SLOSpec",
    "SpecError",
    "expand",
    "load_spec",
    "load_specs",
    "parse_spec",
    "regenerate",
    "render_alertmanager_config",
    "render_rules",
    "slo_rules_command",
    "stale_generated_files",
]
