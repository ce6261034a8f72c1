"""The routing table as every part of the gateway server sees it: weights per model and backend, the store's
version, and the recent changes with their idempotency keys."""

from __future__ import annotations

from pydantic import BaseModel, Field

Weights = dict[str, int]  # backend -> whole percent of a model's traffic



class RouteChange(BaseModel):
    """A write that was applied: found again by its idempotency key, shown as the routes' recent history."""

    idempotency_key: str
    at: str = Field(description="when it was applied, ISO 8601 UTC")
    reason: str
    changed: dict[str, Weights] = Field(description="the models it changed, with their weights after it")


class RoutingTable(BaseModel):
    models: dict[str, Weights]
    version: str | None = Field(default=None, description="the store's version this was read at")
    changes: list[RouteChange] = Field(default_factory=list, description="recent writes, oldest first")

    def change(self, idempotency_key: str) -> RouteChange | None:
        return next((c for c in self.changes if c.idempotency_key == idempotency_key), None)
