"""The incident graph's nodes, one module each: intake -> investigate -> diagnose -> plan -> policy ->
(approval) -> act -> verify -> resolve | escalate. Each takes the state and the run's `AgentContext` and
returns the state's changes."""
