"""A Deployment change is judged by what the fleet makes of it, and what the fleet then shows is what the real
kubelet, scheduler, deployment controller and vLLM print (samples in tests/fixtures/real/rollouts/)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.faults.deployment_patch import patched
from sandbox.registry import Registry
from sandbox.vllm_start import unrecognized
from tests.sandbox.fleet_under_test import NS, Fleet

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "rollouts"
SAMPLES = json.loads((REAL / "samples.json").read_text())
Obj = dict[str, Any]


def shape(text: str) -> str:
    """A message with its particulars (quoted names, image references, addresses, numbers) abstracted."""
    text = re.sub(r'"[^"]*"', '"Q"', text)
    text = re.sub(r"\S+: not found", "REF: not found", text)
    text = re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "ADDR", text)
    text = re.sub(r"Container \S+ failed", "Container C failed", text)
    return re.sub(r"\d+", "N", text)


def container(name: str, **fields: Any) -> Obj:
    return {"spec": {"template": {"spec": {"containers": [{"name": name, **fields}]}}}}


NO_SURGE = {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}
PATCHES = {
    "image": {"spec": {**NO_SURGE, **container("vllm", image="vllm/vllm-openai:v0.9.9")["spec"]}},
    "gpus": {"spec": {**NO_SURGE, **container("vllm", resources={"limits": {"nvidia.com/gpu": "16"},
                                                                  "requests": {"nvidia.com/gpu": "16"}})["spec"]}},
    "liveness": {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}, **container("vllm", livenessProbe={
        "httpGet": {"path": "/health", "port": 8000}, "initialDelaySeconds": 15, "periodSeconds": 10,
        "failureThreshold": 3})["spec"]}},
    "args": {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}, **container("vllm", args=[
        "--model", "mistralai/Mistral-7B-Instruct-v0.3", "--served-model-name", "mistral-7b", "--port", "8000",
        "--enable-kv-offload"])["spec"]}},
    "model": {"spec": {**NO_SURGE, **container("vllm", args=[
        "--model", "/models/mistral-7b", "--served-model-name", "mistral-7b", "--port", "8000"])["spec"]}},
    "port": {"spec": {**NO_SURGE, **container("vllm", env=[
        {"name": "VLLM_PORT", "value": "tcp://10.96.112.40:8000"}])["spec"]}},
    "harmless": {"metadata": {"annotations": {"owner": "serving-team"}},
                 **container("vllm", env=[{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}])},
}


class Rollout:
    def __init__(self, fleet: Fleet, deployment: str, before: dict[str, str]) -> None:
        self.fleet, self.deployment, self.before = fleet, deployment, before

    def deployment_obj(self) -> Obj:
        return self.fleet.sandbox.store.get("apps/deployments", NS, self.deployment)

    def pods(self, new: bool) -> list[Obj]:
        current = self.fleet.sandbox.store.get("apps/deployments", NS, self.deployment)
        new_hash = {rs["metadata"]["labels"]["pod-template-hash"] for rs in
                    self.fleet.sandbox.store.objects("apps/replicasets", NS)
                    if rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision")
                    == current["metadata"]["annotations"]["deployment.kubernetes.io/revision"]}
        return [p for p in self.fleet.sandbox.store.objects("pods", NS)
                if p["metadata"]["labels"].get("app") == self.deployment
                and (p["metadata"]["labels"]["pod-template-hash"] in new_hash) == new]

    def events(self, reason: str) -> list[Obj]:
        return [e for e in self.fleet.sandbox.store.objects("events", NS)
                if e["reason"] == reason and e["involvedObject"]["name"].startswith(self.deployment)]


@functools.cache
def rollout(variant: str, deployment: str = "mistral-7b", run_s: float = 25) -> Rollout:
    with Fleet() as fleet:
        fleet.run(5)
        before = {p["metadata"]["name"]: p["metadata"]["labels"]["pod-template-hash"]
                  for p in fleet.sandbox.store.objects("pods", NS) if p["metadata"]["labels"].get("app") == deployment}
        fleet.inject("deployment_patch", {"deployment": deployment}, patch=PATCHES[variant])
        fleet.run(run_s)
    return Rollout(fleet, deployment, before)


def conditions(obj: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in obj["status"].get("conditions", [])}


def assert_shapes(events: list[Obj], samples: list[Obj]) -> None:
    seen = {(e["type"], e["reason"], shape(e["message"])) for e in events}
    wanted = {(s["type"], s["reason"], shape(s["message"])) for s in samples}
    assert wanted <= seen, wanted - seen


# -- the patch itself -----------------------------------------------------------------------------------------
def test_the_patch_merges_containers_and_env_by_name_and_keeps_the_rest() -> None:
    dep: Obj = {"metadata": {"name": "m", "namespace": NS, "uid": "u"}, "spec": {
        "selector": {"matchLabels": {"app": "m"}},
        "template": {"metadata": {"labels": {"app": "m"}}, "spec": {"containers": [
            {"name": "vllm", "image": "a", "args": ["--x"], "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "s"}]}}}}
    new = patched(dep, {"spec": {"template": {"spec": {"containers": [
        {"name": "vllm", "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "3"}]}]}}}})
    vllm, sidecar = new["spec"]["template"]["spec"]["containers"]
    assert vllm == {"name": "vllm", "image": "a", "args": ["--x"], "env": [{"name": "A", "value": "3"},
                                                                           {"name": "B", "value": "2"}]}
    assert sidecar == {"name": "sidecar", "image": "s"} and dep["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}]


def test_a_patch_the_server_would_refuse_is_refused() -> None:
    dep = {"metadata": {"name": "m", "namespace": NS, "uid": "u"},
           "spec": {"selector": {"matchLabels": {"app": "m"}}, "template": {"spec": {"containers": [{"name": "c"}]}}}}
    with pytest.raises(ValueError, match="immutable"):
        patched(dep, {"spec": {"selector": {"matchLabels": {"app": "other"}}}})


def test_the_registry_answers_as_containerd_does() -> None:
    registry = Registry(["ghcr.io/acme/gateway:1.9.3"])
    assert registry.pull_error("vllm/vllm-openai:v0.10.2") is None
    assert registry.pull_error("ghcr.io/acme/gateway:1.9.3") is None
    missing_tag = registry.pull_error("vllm/vllm-openai:v0.9.9")
    assert missing_tag and shape(missing_tag) == shape(SAMPLES["image_not_found"]["waiting"][0]["message"])
    assert "pull access denied, repository does not exist" in (registry.pull_error("acme/nothing:1") or "")


def test_argparse_leaves_over_unknown_options_and_extra_positionals() -> None:
    assert unrecognized(["--model", "m", "--max_model_len", "8192", "--enforce-eager"]) == []
    assert unrecognized(["m", "--enable-kv-offload", "--port=8000", "stray"]) == ["--enable-kv-offload", "stray"]


# -- what the fleet makes of it ---------------------------------------------------------------------------------
def test_an_image_the_registry_lacks_never_pulls() -> None:
    run = rollout("image")
    sample = SAMPLES["image_not_found"]
    assert_shapes(run.events("Pulling") + run.events("Failed") + run.events("BackOff"), sample["events"])
    waiting = [p["status"]["containerStatuses"][0]["state"]["waiting"] for p in run.pods(new=True)]
    assert waiting and {w["reason"] for w in waiting} <= {"ErrImagePull", "ImagePullBackOff"}
    shapes = {s["reason"]: shape(s["message"]) for s in sample["waiting"]}
    assert all(shape(w["message"]) == shapes[w["reason"]] for w in waiting)
    assert all(p["status"]["phase"] == "Pending" for p in run.pods(new=True))


def test_a_stalled_rolling_update_keeps_the_old_pods_and_times_out() -> None:
    run = rollout("image")
    assert len(run.pods(new=False)) == 1 and all(
        p["status"]["containerStatuses"][0]["ready"] for p in run.pods(new=False))  # maxUnavailable 1 of 2
    progressing = conditions(run.deployment_obj())["Progressing"]
    sample = SAMPLES["progress_deadline"]["condition"]
    assert (progressing["status"], progressing["reason"]) == (sample["status"], sample["reason"])
    assert shape(progressing["message"]) == shape(sample["message"])


def test_a_gpu_request_no_node_can_satisfy_stays_pending() -> None:
    run = rollout("gpus")
    assert_shapes(run.events("FailedScheduling"), SAMPLES["failed_scheduling"]["events"])
    assert run.events("FailedScheduling")[0]["message"].startswith("0/4 nodes are available: 4 Insufficient")
    for pod in run.pods(new=True):
        scheduled = conditions(pod)["PodScheduled"]
        assert {k: scheduled[k] for k in ("type", "status", "reason")} == SAMPLES["failed_scheduling"]["condition"]


def test_a_liveness_probe_shorter_than_the_load_kills_the_loading_container() -> None:
    run = rollout("liveness", "qwen-7b")
    assert_shapes(run.events("Unhealthy") + run.events("Killing"), SAMPLES["liveness_kill"]["events"])
    statuses = [p["status"]["containerStatuses"][0] for p in run.pods(new=True)]
    assert statuses and all(s["restartCount"] >= 1 and not s["ready"] for s in statuses)
    last = statuses[0]["lastState"]["terminated"]
    assert {k: last[k] for k in ("reason", "exitCode")} == SAMPLES["liveness_kill"]["last_state"]
    assert run.pods(new=False) == []  # Recreate: every old pod went first


def test_unknown_server_arguments_exit_at_start_with_the_usage_error() -> None:
    pod, exited, log = crashed_new_pod(rollout("args"))
    assert exited == (2, "Error")
    printed = log.splitlines()
    sample = (REAL / "vllm-unrecognized-arguments.txt").read_text().splitlines()
    assert printed[0] == sample[0] and printed[1] == "vllm serve: error: unrecognized arguments: --enable-kv-offload"
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_a_missing_model_fails_at_load_with_vllms_message() -> None:
    _, exited, log = crashed_new_pod(rollout("model"))
    assert exited == (1, "Error")
    sample = (REAL / "vllm-model-not-found.txt").read_text()
    assert sample.replace("'/mnt/models'", "'/models/mistral-7b'") in log


def test_a_vllm_port_holding_a_service_address_fails_at_engine_start_with_vllms_message() -> None:
    _, exited, log = crashed_new_pod(rollout("port"))
    assert exited == (1, "Error")
    sample = (REAL / "vllm-port-uri.txt").read_text().replace("169.169.193.120:6785", "10.96.112.40:8000")
    assert [frame(line) for line in log.splitlines()[-7:]] == [frame(line) for line in sample.splitlines()]


def crashed_new_pod(run: Rollout) -> tuple[Obj, tuple[int, str], str]:
    """The new revision's first pod, how its last container exited (code, reason), and what that container printed."""
    pod = run.pods(new=True)[0]
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    return pod, (last["exitCode"], last["reason"]), run.fleet.logs(pod["metadata"]["name"], "vllm", previous=True)


def frame(line: str) -> str:
    """A traceback line without what varies by install: the site-packages path and the line number."""
    return re.sub(r'^  File ".*/vllm/(\S+)", (?:line \d+, )?in ', r"  File vllm/\1 in ", line)


def test_a_harmless_change_rolls_out_cleanly() -> None:
    run = rollout("harmless", "qwen-7b", run_s=40)
    progressing = conditions(run.deployment_obj())["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert run.pods(new=False) == [] and len(run.pods(new=True)) == 3
    assert all(p["status"]["containerStatuses"][0]["ready"] for p in run.pods(new=True))
    assert not run.events("Unhealthy") and not run.events("BackOff") and not run.events("FailedScheduling")
