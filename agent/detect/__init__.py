"""Detection: how the agent learns that an SLO burns. Alertmanager's webhook payload, the agent's own
burn-rate watch over the `slo_status` tool, the reading of that tool's answer, and the heartbeat that tells
people when the agent itself stops seeing."""
