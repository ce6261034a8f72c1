"""The running sandbox: one object holding the fleet's state, stepped by one loop.

Each tick: node health, the controllers (deployments, replicasets, scheduler), the kubelets, host physics,
the traffic through the gateway, and any faults that are due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from sandbox.bootstrap import bootstrap
from sandbox.clock import Clock
from sandbox.controllers.deployments import DeploymentController
from sandbox.controllers.eviction import EvictionManagers
from sandbox.controllers.kubelet import Kubelets
from sandbox.controllers.nodes import NodeHealth
from sandbox.controllers.replicasets import ReplicaSetController
from sandbox.controllers.scheduler import Scheduler
from sandbox.events import EventRecorder
from sandbox.faults import FaultSchedule
from sandbox.fleet import FleetSpec
from sandbox.gateway import Gateway
from sandbox.logs import LogStore
from sandbox.physics import Physics
from sandbox.registry import Registry
from sandbox.store import Store
from sandbox.world import build_world

TICK_S = 0.5
log = logging.getLogger("firebreak.sandbox")


class Sandbox:
    def __init__(self, fleet: FleetSpec, time_scale: float = 60.0, seed: int = 1, clock: Clock | None = None) -> None:
        self.fleet = fleet
        self.clock = clock or Clock(time_scale)
        self.rng = random.Random(seed)
        self.store = Store()
        self.logs = LogStore()
        self.events = EventRecorder(self.store)
        self.world = build_world(fleet, self.rng)
        self.deployments = DeploymentController(self.store, self.events, self.clock)
        self.replicasets = ReplicaSetController(self.store, self.events, self.rng)
        self.scheduler = Scheduler(self.store, self.world, self.events)
        self.registry = Registry()
        self.kubelets = Kubelets(self.store, self.world, fleet, self.clock, self.logs, self.events, self.rng,
                                 self.registry)
        self.evictions = EvictionManagers(self.store, self.world, self.clock, self.events, self.kubelets)
        self.nodes = NodeHealth(self.store, self.world, self.clock, self.events, self.evictions.memory_pressure)
        self.physics = Physics(self.store, self.world, self.clock, self.logs)
        self.gateway = Gateway(self.store, self.world, fleet, self.clock, self.logs, self.rng)
        self.faults = FaultSchedule(self)
        self.ticks = 0

    def boot(self) -> None:
        """Create the fleet and bring it to its steady state at once: every pod Running and Ready."""
        bootstrap(self.store, self.fleet, self.rng)
        self.registry.push(self._images())
        self.reconcile()
        self.kubelets.start_warm()
        self.reconcile()
        self.reconcile()

    def _images(self) -> list[str]:
        """The fleet's own images, every one its workloads run at boot: they are in its registries."""
        templates = [d["spec"]["template"] for d in self.store.objects("apps/deployments")]
        specs = [t["spec"] for t in templates] + [p["spec"] for p in self.store.objects("pods")]
        return [c["image"] for spec in specs for c in spec.get("containers", [])]

    def reconcile(self) -> None:
        self.deployments.reconcile()
        self.replicasets.reconcile()
        self.scheduler.schedule()

    def tick(self, dt: float) -> None:
        self.faults.fire_due()
        self.nodes.sync()
        self.reconcile()
        self.kubelets.sync()
        self.evictions.sync()
        self.physics.tick(dt)
        self.gateway.tick(dt)
        self.ticks += 1

    async def run(self, stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_S)
            now = time.monotonic()
            try:
                self.tick(now - last)
            except Exception:  # one bad tick must not take the fleet down; it is logged and the next one runs
                log.exception("sandbox tick failed")
            last = now
