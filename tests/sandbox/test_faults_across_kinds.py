"""Behaviour specifications across every fault kind: a fault burns its model's error budget fast enough to page
(the red herring burns none), and nothing the fleet exposes names the fault."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.errors import ApiError
from sandbox.faults import KINDS
from sandbox.store import RESOURCES
from tests.sandbox.fleet_under_test import MODELS, TICK_S, WARMUP_S, Fleet, Slis

SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {  # kind: target, params, the model it hurts
    "gpu_xid": ({"node": "gpu-node-2", "gpu": 1}, {"xid": 79}, "llama-70b"),
    "gpu_thermal_throttle": ({"node": "gpu-node-3", "gpu": 2}, {}, "qwen-7b"),
    "cuda_oom": ({"deployment": "qwen-7b"}, {}, "qwen-7b"),
    "host_oom": ({"node": "gpu-node-3"}, {"fill_s": 10}, "llama-70b"),
    "memory_leak": ({"deployment": "mistral-7b"}, {"to_limit_s": 20}, "mistral-7b"),
    "hung_pod": ({"deployment": "qwen-7b", "replica": 1}, {}, "qwen-7b"),
    "bad_rollout": ({"deployment": "mistral-7b"}, {}, "mistral-7b"),
    "traffic_surge": ({"deployment": "qwen-7b"}, {"factor": 2}, "qwen-7b"),
    "node_not_ready": ({"node": "gpu-node-4"}, {}, "mistral-7b"),
    "provider_outage": ({"provider": "anthropic"}, {}, "llama-70b"),
    "primary_outage": ({"deployment": "mistral-7b"}, {}, "mistral-7b"),
    "provider_rate_limit": ({"provider": "openai"}, {}, "qwen-7b"),
    "dependency_latency": ({"dependency": "auth-service"}, {}, "llama-70b"),
    "noisy_neighbor_metric": ({"node": "gpu-node-2", "gpu": 5}, {}, "llama-70b"),
    "deployment_patch": ({"deployment": "mistral-7b"}, {"patch": {"spec": {
        "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
        "template": {"spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.9.9"}]}}}}},
        "mistral-7b"),
}
FAULT_WINDOW_S = 30.0


@dataclass
class FaultRun:
    result: str  # the injector's own description of what it did
    before: dict[str, Slis]  # per model, over the warm-up
    after: dict[str, Slis]  # per model, from the injection on
    surfaces: list[tuple[str, str]]  # (where, text) of everything the fleet exposes, a few seconds in and at the end


@functools.cache
def outcome(kind: str) -> FaultRun:
    """One run per kind, shared by the specs below (they only read it)."""
    target, params, _ = SCENARIOS[kind]
    with Fleet() as fleet:
        start = {m: fleet.slis(m) for m in MODELS}
        fleet.run(WARMUP_S)
        injected = {m: fleet.slis(m) for m in MODELS}
        result = fleet.inject(kind, target, **params)
        fleet.run(5)
        surfaces = everything_exposed(fleet)
        fleet.run(FAULT_WINDOW_S - 5 - TICK_S)
        surfaces += everything_exposed(fleet)
        end = {m: fleet.slis(m) for m in MODELS}
    return FaultRun(result, {m: injected[m].since(start[m]) for m in MODELS},
                   {m: end[m].since(injected[m]) for m in MODELS}, surfaces)


def everything_exposed(fleet: Fleet) -> list[tuple[str, str]]:
    """Every object of every kind (events, annotations and labels included), every container's current and
    previous log, every metrics page Prometheus would scrape, and the gateway's admin view."""
    surfaces = []
    for res in RESOURCES:
        for obj in fleet.sandbox.store.objects(res.key):
            surfaces.append((f"{res.key}/{obj['metadata']['name']}", json.dumps(obj)))
    for pod in fleet.sandbox.store.objects("pods"):
        meta = pod["metadata"]
        for spec in pod["spec"]["containers"]:
            for previous in (False, True):
                try:
                    text = fleet.logs(meta["name"], spec["name"], previous=previous, namespace=meta["namespace"])
                except ApiError:
                    continue  # no previous incarnation
                surfaces.append((f"logs {meta['name']}/{spec['name']} previous={previous}", text))
    targets = fleet.targets()
    surfaces.append(("/sd", json.dumps(targets)))
    for target in targets:
        path = target["labels"]["__metrics_path__"]
        surfaces.append((path, fleet.http.get(path).text))
    surfaces.append(("gateway admin", json.dumps(fleet.sandbox.gateway.snapshot())))
    return surfaces


def names_of(kind: str) -> set[str]:
    words = kind.split("_")
    names = {kind, " ".join(words), "-".join(words), "".join(w.title() for w in words)}
    return names - {"NodeNotReady"}  # Kubernetes' own word for that node event: real evidence, not a label


# Obvious paraphrases of the kinds. ("surge" alone is not one: every Deployment has a maxSurge.)
PARAPHRASES = {"xid fault", "gpu fault", "thermal_throttle", "thermal throttle", "overheat", "memory_leak",
               "memory leak", "leaking", "hung pod", "deadlock", "red herring", "noisy neighbor", "noisy neighbour",
               "inject", "fault kind", "outage", "rate_limit", "bad build", "broken build", "runaway"}


# Upstream texts that hold such a word in every run, fault or not: LiteLLM's own help for litellm_deployment_state.
UPSTREAM_TEXTS = ("0 = healthy, 1 = partial outage, 2 = complete outage",)


def without_upstream_texts(text: str) -> str:
    for upstream in UPSTREAM_TEXTS:
        text = text.replace(upstream, "")
    return text.lower()


def test_every_fault_kind_is_specified_here() -> None:
    assert set(SCENARIOS) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_no_evidence_names_the_fault(kind: str) -> None:
    run = outcome(kind)
    looked_at = {where.rsplit("/", 1)[0] if where.startswith("/") else where.split("/")[0].split(" ")[0]
                 for where, _ in run.surfaces}
    assert {"pods", "events", "nodes", "apps", "configmaps", "logs", "/metrics/pods/inference"} <= looked_at
    assert {f"/metrics/nodes/gpu-node-{i}" for i in range(1, 5)} <= looked_at, looked_at
    forbidden = {n.lower() for k in KINDS for n in names_of(k)} | PARAPHRASES | {run.result.lower()}
    leaks = [(where, word) for where, text in run.surfaces for word in forbidden
             if word in without_upstream_texts(text)]
    assert not leaks, leaks[:10]


PAGING = sorted(set(SCENARIOS) - {"noisy_neighbor_metric"})


@pytest.mark.parametrize("kind", PAGING)
def test_the_fault_burns_its_models_error_budget_fast_enough_to_page(kind: str) -> None:
    run, model = outcome(kind), SCENARIOS[kind][2]
    assert not run.before[model].pages, run.before[model]
    assert run.after[model].pages, run.after[model]


def test_the_red_herring_burns_no_budget() -> None:
    run = outcome("noisy_neighbor_metric")
    for model in MODELS:
        assert not run.after[model].pages, (model, run.after[model])
        assert run.after[model].errors == 0


def test_a_steady_fleet_burns_no_budget() -> None:
    """Over two wall minutes (two fleet hours) every model stays inside all three objectives, not just under a page."""
    with Fleet() as fleet:
        start = {m: fleet.slis(m) for m in MODELS}
        fleet.run(120)
        end = {m: fleet.slis(m) for m in MODELS}
    for model in MODELS:
        window = end[model].since(start[model])
        assert window.requests > 1000
        assert window.error_ratio < 0.001 and window.slow_share < 0.01 and window.overhead_share < 0.01, \
            (model, window)
