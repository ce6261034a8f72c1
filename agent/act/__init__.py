"""Acting on a decision: the registry of action kinds (the write tool that carries each out, its arguments,
its undoing, the facts the policy reads first) and the idempotency keys that keep every decision to one
execution."""
