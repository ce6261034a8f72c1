"""The agent service: Alertmanager's webhook, the burn-rate watcher and the approval clock, all feeding the
incident runner, plus the delivery of pages and the heartbeat at /metrics. `firebreak serve` runs it against a
real cluster; the harness runs it on the sandbox.

It stays at the top of `agent/` as the composition root: it joins detection (`agent.detect`) to the runner
and the scheduler. Its webhook handler stays here too: a few lines that join the payload model
(`agent.detect.alerts`) to the store and the runner, with no logic of its own to move."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.detect.alerts import WebhookPayload
from agent.detect.heartbeat import AgentMetrics
from agent.detect.watcher import BurnWatcher
from agent.runner import IncidentRunner
from agent.store import StoreError

log = logging.getLogger("firebreak.service")


class AgentService:
    def __init__(self, runner: IncidentRunner, webhook_token: str) -> None:
        if not webhook_token:
            raise ValueError("the webhook needs a bearer token: Alertmanager must authenticate")
        self.runner = runner
        self.store = runner.context.store
        self.config = runner.context.config
        self.notifier = runner.context.notifier
        self.watcher = BurnWatcher(runner.context.tools, self.store, self.notifier)
        self.metrics = AgentMetrics()
        self._token = webhook_token

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/webhook/alertmanager", self._webhook, methods=["POST"]),
                                 Route("/healthz", self._health), Route("/metrics", self._metrics)])

    async def _health(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "blind": self.watcher.blind})

    async def _metrics(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=self.metrics.content_type)

    async def _webhook(self, request: Request) -> JSONResponse:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(supplied.encode(), self._token.encode()):
            return JSONResponse({"error": "a valid bearer token is required"}, status_code=401)
        try:
            payload = WebhookPayload.model_validate_json(await request.body())
            outcomes = await self.store.ingest_alerts(payload.alerts)
        except ValidationError as error:
            detail = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:10]]
            return JSONResponse({"error": "not an Alertmanager v4 webhook payload", "detail": detail},
                                status_code=400)
        except StoreError as error:
            return JSONResponse({"error": str(error)}, status_code=409)
        for incident_id in {o.incident_id for o in outcomes if o.outcome in ("opened", "joined") and o.incident_id}:
            self.runner.start((await self.store.get_incident(incident_id)).incident)
        return JSONResponse({"stored": [o.model_dump(mode="json") for o in outcomes]})

    async def watch(self) -> None:
        for incident in await self.watcher.check():
            self.runner.start(incident)
        if not self.watcher.blind:  # alive and able to see: an agent that cannot read the burn is down too
            self.metrics.beat()

    async def deliver(self) -> None:
        await self.notifier.deliver_due(self.store)

    async def resend(self) -> None:
        await self.notifier.resend_open(self.store)

    async def tick_approvals(self) -> None:
        """Resumes graphs whose approval was decided, and expires the ones nobody decided in time."""
        waited_out = datetime.now(UTC) - timedelta(seconds=self.config.approval_timeout_s)
        for incident in await self.store.list_incidents(status="awaiting_approval", limit=500):
            for action in await self.store.pending_approvals(incident.id):
                if action.decided_at <= waited_out:
                    await self.store.expire_approval(action.id)
            if not await self.store.pending_approvals(incident.id):
                self.runner.start(incident)

    async def run(self, stop: asyncio.Event) -> None:
        jobs = _PeriodicJobs()
        jobs.every(self.config.watch_interval_s, self.watch, first_now=True)
        jobs.every(2, self.tick_approvals)
        jobs.every(2, self.deliver)
        if self.notifier.resend_s:
            jobs.every(self.notifier.resend_s, self.resend)
        server = _Server(uvicorn.Config(self.app(), host=self.config.webhook.host, port=self.config.webhook.port,
                                        log_level="warning"))
        await self.runner.recover()
        jobs.start()
        serving = asyncio.create_task(server.serve())
        log.info("agent service up: webhook http://%s:%d/webhook/alertmanager, watching burn rates every %gs",
                 self.config.webhook.host, self.config.webhook.port, self.config.watch_interval_s)
        try:
            await stop.wait()
        finally:
            await jobs.stop()
            server.should_exit = True
            await serving
            for task in list(self.runner.tasks):
                task.cancel()
            await asyncio.gather(*self.runner.tasks, return_exceptions=True)


class _PeriodicJobs:
    """The service's periodic jobs on apscheduler. Stopping lets the runs in flight finish (for a few seconds at
    most) rather than cancel them: a cancelled run would cut a store write short and be logged as a failure."""

    STOP_GRACE_S = 5.0

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler()
        self._running: set[asyncio.Task[Any]] = set()

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], *, first_now: bool = False) -> None:
        async def tracked() -> None:
            task = asyncio.current_task()
            assert task is not None  # apscheduler runs coroutine jobs as tasks
            self._running.add(task)
            try:
                await job()
            finally:
                self._running.discard(task)

        first = {"next_run_time": datetime.now(UTC)} if first_now else {}
        self._scheduler.add_job(tracked, "interval", seconds=seconds, max_instances=1, coalesce=True,
                                name=job.__qualname__, **first)

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self) -> None:
        self._scheduler.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=self.STOP_GRACE_S)
        self._scheduler.shutdown(wait=False)


class _Server(uvicorn.Server):
    """The webhook's server shares the process with the agent, whose own handlers stop it: it takes no signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
