"""The agent service's configuration (`firebreak serve --config FILE`): YAML, validated, with defaults that
suit a real cluster, and any setting overridden by the environment under the prefix `FIREBREAK_`
(`FIREBREAK_DATABASE_URL`, `FIREBREAK_WEBHOOK__PORT`). The harness passes the same model with the sandbox's
endpoints and time scale."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from mcp_servers.settings_sources import LayeredSettings

REPO = Path(__file__).resolve().parent.parent


class McpConnection(BaseModel):
    """How the agent reaches its tools: `firebreak mcp all` over stdio (default) or a streamable-HTTP URL."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["stdio", "http"] = "stdio"
    command: list[str] = Field(default_factory=lambda: ["firebreak", "mcp", "all", "--transport", "stdio"])
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for the stdio server")
    url: str = ""
    token_env: str = "FIREBREAK_MCP_TOKEN"


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8080
    token_env: str = "FIREBREAK_WEBHOOK_TOKEN"  # Alertmanager sends it as a bearer token


class AlertmanagerNotify(BaseModel):
    """Escalations go to Alertmanager as `FirebreakEscalation` alerts, so the team's own routes page people."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="Alertmanager's base URL, e.g. http://alertmanager:9093")
    bearer_token_env: str = Field(default="", description="env var holding a bearer token, when it needs one")
    # Alertmanager resolves an alert that nobody re-sends: an open escalation is sent again this often (as
    # Prometheus re-sends a firing alert every minute) and holds for four of these intervals.
    resend_s: float = Field(default=60.0, gt=0)


class WebhookNotify(BaseModel):
    """Escalations as a JSON POST to any URL, authenticated by a bearer token or an HMAC signature."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    token_env: str = Field(default="", description="env var holding a bearer token")
    hmac_secret_env: str = Field(default="", description="env var holding the secret of an HMAC-SHA256 signature")


class NotifyConfig(BaseModel):
    """Where escalations reach people: either channel, or both. With neither, they reach nobody."""

    model_config = ConfigDict(extra="forbid")

    alertmanager: AlertmanagerNotify | None = None
    webhook: WebhookNotify | None = None
    incident_link: str = Field(default="", description="a link to an incident for people, with {incident} in it, "
                               "e.g. https://firebreak.example.com/incidents/{incident}")


class AgentConfig(LayeredSettings):
    model_config = SettingsConfigDict(extra="forbid")

    database_url: str = "sqlite:///firebreak.db"
    namespace: str = "inference"
    runbooks: Path = REPO / "runbooks"
    policies: Path = REPO / "policies"
    mcp: McpConnection = Field(default_factory=McpConnection)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    time_scale: float = Field(default=1.0, gt=0, description="fleet seconds per wall second (sandbox: 60)")
    watch_interval_s: float = Field(default=5.0, gt=0, description="how often the watcher reads burn rates")
    verify_window_s: float = Field(default=300.0, gt=0, description="fleet seconds the burn must stay below 1")
    verify_timeout_s: float = Field(default=900.0, gt=0, description="fleet seconds to wait for the burn to stop")
    approval_timeout_s: float = Field(default=900.0, gt=0, description="wall seconds before an approval escalates")
    max_actions_per_incident: int = Field(default=3, ge=1)
    min_confidence: float = Field(default=0.5, ge=0, le=1, description="below it a hypothesis is not acted on")
    investigation_rounds: int = Field(default=3, ge=1, description="looks at the evidence before calling an "
                                      "incident unexplained: symptoms often lead their causes' evidence")
    reinvestigate_after_s: float = Field(default=120.0, gt=0, description="fleet seconds between those looks")
    rate_window: str = Field(default="2m", pattern=r"^[0-9]+(ms|s|m|h)$",
                             description="the range of rate()/increase() in runbook queries: three or four of "
                             "Prometheus' scrape intervals (2m suits a 30 s scrape)")

    def wall(self, fleet_seconds: float) -> float:
        """Fleet seconds (runbooks, SLO windows) as wall seconds on this fleet."""
        return fleet_seconds / self.time_scale

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        return cls.from_sources(what="agent configuration", yaml_file=path)
