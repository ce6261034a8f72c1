"""The fleet's initial objects: namespaces, nodes and their Leases, deployments with their rollout history,
services, the routes, PDBs and the per-node GPU daemons, written the way a cluster that has been up for months
would hold them."""

from __future__ import annotations

import random
from typing import Any

from sandbox.fleet import FleetSpec, ModelSpec
from sandbox.gateway import GATEWAY_APP, ROUTES_CONFIGMAP, ROUTES_KEY, default_deployments, render_routes
from sandbox.history import write_history
from sandbox.kubetime import ago, now_micro
from sandbox.names import pod_suffix
from sandbox.store import Store

Obj = dict[str, Any]
PLATFORM, GPU_OPERATOR, LEASES = "platform", "gpu-operator", "kube-node-lease"
KUBELET_VERSION = "v1.31.4"


def bootstrap(store: Store, fleet: FleetSpec, rng: random.Random) -> None:
    for ns in ("default", "kube-system", "kube-public", LEASES, fleet.namespace, PLATFORM, GPU_OPERATOR):
        store.create("namespaces", {"metadata": {"name": ns, "creationTimestamp": ago(200),
                                                 "labels": {"kubernetes.io/metadata.name": ns}},
                                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    for index, node in enumerate(fleet.nodes, start=1):
        store.create("nodes", _node(node.name, index, node.gpus, node.memory_gib, node.cpus, node.gpu_model))
        store.create("coordination.k8s.io/leases", {
            "metadata": {"name": node.name, "namespace": LEASES},
            "spec": {"holderIdentity": node.name, "leaseDurationSeconds": 40,
                     "renewTime": now_micro()}})
    for model in fleet.models:
        write_history(store, store.create("apps/deployments", _vllm_deployment(fleet, model)))
        store.create("services", _service(fleet.namespace, model.name, 8000))
        store.create("policy/poddisruptionbudgets", {
            "metadata": {"name": model.name, "namespace": fleet.namespace},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": model.name}}}})
    write_history(store, store.create("apps/deployments", _deployment(
        fleet.namespace, GATEWAY_APP, fleet.gateway_replicas, _container(
            "gateway", "ghcr.io/berriai/litellm:main-v1.74.9-stable", 8080, "2", "4Gi",
            args=["--config=/etc/litellm/config.yaml", "--port=8080"]))))
    store.create("services", _service(fleet.namespace, GATEWAY_APP, 8080))
    store.create("configmaps", {"metadata": {"name": ROUTES_CONFIGMAP, "namespace": fleet.namespace},
                                "data": {ROUTES_KEY: render_routes(default_deployments(fleet))}})
    for dependency in fleet.dependencies:
        write_history(store, store.create("apps/deployments", _deployment(PLATFORM, dependency, 2, _container(
            dependency, f"ghcr.io/firebreak-sim/{dependency}:2.4.1", 8080, "1", "2Gi"))))
        store.create("services", _service(PLATFORM, dependency, 8080))
    for index, node in enumerate(fleet.nodes, start=1):
        for app, image in (("nvidia-device-plugin", "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"),
                           ("nvidia-dcgm-exporter", "nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-ubuntu22.04")):
            store.create("pods", _daemon_pod(app, image, node.name, f"10.0.0.{10 + index}", rng))


def _node(name: str, index: int, gpus: int, memory_gib: int, cpus: int, gpu_model: str) -> Obj:
    resources = {"cpu": str(cpus), "memory": f"{memory_gib}Gi", "nvidia.com/gpu": str(gpus), "pods": "110",
                 "ephemeral-storage": "3748905792Ki"}
    now = ago(0)
    conditions = [
        {"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": now, "lastTransitionTime": ago(3)}
        for t, s, r, m in (("MemoryPressure", "False", "KubeletHasSufficientMemory",
                            "kubelet has sufficient memory available"),
                           ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                           ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                           ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))]
    return {
        "metadata": {"name": name, "creationTimestamp": ago(21), "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "p5.48xlarge", "nvidia.com/gpu.product": gpu_model.replace(" ", "-"),
            "nvidia.com/gpu.count": str(gpus), "nvidia.com/gpu.present": "true"}},
        "spec": {"podCIDR": f"10.244.{index}.0/24", "providerID": f"sandbox:///{name}"},
        "status": {"capacity": dict(resources), "allocatable": dict(resources), "conditions": conditions,
                   "addresses": [{"type": "InternalIP", "address": f"10.0.0.{10 + index}"},
                                 {"type": "Hostname", "address": name}],
                   "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                                "containerRuntimeVersion": "containerd://1.7.24", "kernelVersion": "6.8.0-1021-aws",
                                "osImage": "Ubuntu 22.04.5 LTS", "operatingSystem": "linux", "architecture": "amd64",
                                "machineID": f"{index:032x}",
                                "systemUUID": f"ec2{index:05d}-0000-0000-0000-000000000000",
                                "bootID": f"{index:08x}-b007-4000-8000-000000000000"},
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}},
    }


def _container(name: str, image: str, port: int, cpu: str, memory: str, gpus: int = 0,
               args: list[str] | None = None) -> Obj:
    limits = {"cpu": cpu, "memory": memory, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    probe_path = "/health" if gpus else "/healthz"
    return {"name": name, "image": image, "args": args or [], "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": port, "name": "http", "protocol": "TCP"}],
            "resources": {"limits": limits, "requests": dict(limits)},
            "readinessProbe": {"httpGet": {"path": probe_path, "port": port, "scheme": "HTTP"}, "periodSeconds": 5,
                               "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}


def _vllm_deployment(fleet: FleetSpec, model: ModelSpec) -> Obj:
    memory = "96Gi" if model.gpus_per_replica > 1 else "48Gi"
    served = ["--served-model-name", model.name] if fleet.served_model_names else []
    args = ["--model", model.hf_model, *served, "--tensor-parallel-size", str(model.gpus_per_replica),
            "--gpu-memory-utilization", "0.90", "--max-model-len", "8192",
            "--max-num-seqs", "256", "--port", "8000"]
    container = _container("vllm", fleet.image, 8000, str(8 * model.gpus_per_replica), memory,
                           model.gpus_per_replica, args)
    dep = _deployment(fleet.namespace, model.name, model.replicas, container,
                      extra_labels={"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": model.name})
    dep["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        # Reloading a large model is expensive, so pods wait out short node outages before being evicted.
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 1800},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 1800}]
    return dep


def _deployment(namespace: str, name: str, replicas: int, container: Obj, extra_labels: dict[str, str] | None = None
                ) -> Obj:
    labels = {"app": name, **(extra_labels or {})}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "creationTimestamp": ago(180)},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "revisionHistoryLimit": 10,
                 "progressDeadlineSeconds": 600,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container], "terminationGracePeriodSeconds": 30,
                                       "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                                       "schedulerName": "default-scheduler"}}},
        "status": {},
    }


def _service(namespace: str, name: str, port: int) -> Obj:
    return {"metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {"type": "ClusterIP", "selector": {"app": name},
                     "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}]}}


def _daemon_pod(app: str, image: str, node: str, host_ip: str, rng: random.Random) -> Obj:
    """A node daemon (DaemonSet pod) runs on the host network, so it has the node's IP."""
    return {
        "metadata": {"name": f"{app}-{pod_suffix(rng)}", "namespace": GPU_OPERATOR,
                     "labels": {"app": app, "app.kubernetes.io/part-of": "gpu-operator"}},
        "spec": {"nodeName": node, "containers": [_container(app, image, 9400, "100m", "512Mi")],
                 "tolerations": [{"operator": "Exists"}], "terminationGracePeriodSeconds": 30,
                 "restartPolicy": "Always", "priorityClassName": "system-node-critical"},
        "status": {"phase": "Pending", "qosClass": "Guaranteed",
                   "hostIP": host_ip, "podIP": host_ip},
    }
