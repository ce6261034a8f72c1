"""The kubernetes server's answers: rows and summaries shaped as kubectl shows them, abnormal things first."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped


class Condition(BaseModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class EventRow(BaseModel):
    type: str
    reason: str
    object: str = Field(description="Kind/name of the object the event is about")
    message: str
    source: str | None = Field(default=None, description="the component that recorded it: kubelet, "
                               "node-controller, kernel-monitor (node-problem-detector)...")
    count: int
    last_seen: str = Field(description="age of the newest occurrence, e.g. 3m")


class Termination(BaseModel):
    reason: str
    exit_code: int
    finished: str = Field(description="age, e.g. 2m")
    message: str | None = None


class PodRow(BaseModel):
    name: str
    namespace: str
    status: str = Field(description="as kubectl's STATUS column: Running, CrashLoopBackOff, Pending, Terminating...")
    ready: str = Field(description="ready containers/containers, as kubectl's READY column")
    reason: str | None = Field(default=None, description="status.reason of a pod the kubelet ended, e.g. "
                               "Evicted (kubectl's STATUS then shows its container's reason, e.g. Error)")
    conditions: list[str] = Field(default_factory=list, description="the pod's conditions that say something is "
                                  "wrong, as TYPE=STATUS: those not True (Ready=False while its node is NotReady) "
                                  "and DisruptionTarget=True")
    restarts: int
    last_termination: Termination | None = None
    node: str | None = None
    gpus: int
    age: str
    replicaset: str | None = Field(default=None, description="the ReplicaSet that owns the pod, i.e. its revision")


class Restarter(BaseModel):
    name: str
    restarts: int
    last_reason: str | None = None


class PodList(BaseModel):
    total: int
    unhealthy: int
    by_status: dict[str, int]
    top_restarters: list[Restarter]
    pods: Capped[PodRow] = Field(description="unhealthy pods first, then by restarts")


class ContainerInfo(BaseModel):
    name: str
    image: str
    state: str
    ready: bool
    restarts: int
    last_termination: Termination | None = None


class PodDetail(BaseModel):
    name: str
    namespace: str
    status: str
    ready: str
    problems: list[str] = Field(description="what is wrong, in plain words; empty when the pod is healthy")
    owner: str | None = None
    node: str | None = None
    node_state: str | None = None
    gpus: int
    age: str
    containers: list[ContainerInfo]
    conditions: list[Condition] = Field(description="the conditions that are not True (all with detail)")
    events: Capped[EventRow]
    previous_log_tail: list[str] = Field(description="last lines of the container that terminated last")
    spec: dict[str, Any] | None = Field(default=None, description="containers' args and resources (detail only)")


class DeploymentRow(BaseModel):
    name: str
    namespace: str
    state: str = Field(description="Healthy, Degraded (fewer available than desired), RollingOut or ScaledToZero")
    desired: int
    ready: int
    available: int
    updated: int
    revision: int | None = None
    image: str


class DeploymentList(BaseModel):
    total: int
    not_healthy: list[str]
    deployments: Capped[DeploymentRow]


class DeploymentDetail(BaseModel):
    deployment: DeploymentRow
    change_cause: str | None = None
    strategy: str
    max_unavailable: int | None = Field(description="pods a rollout may take down at once (Recreate: all); "
                                        "resolved from percentages as Kubernetes rounds them")
    conditions: list[Condition]
    pods_by_status: dict[str, int]
    unhealthy_pods: list[PodRow]
    events: Capped[EventRow]


class NodeRow(BaseModel):
    name: str
    ready: bool
    cordoned: bool
    status: str = Field(description="as kubectl: Ready, NotReady, Ready,SchedulingDisabled...")
    problems: list[str] = Field(description="pressure conditions and NoExecute/NoSchedule taints")
    gpu_capacity: int
    gpu_allocatable: int
    gpus_unhealthy: int = Field(description="GPUs the device plugin withdrew as unhealthy (an Xid, a GPU off the "
                                "bus): capacity minus allocatable nvidia.com/gpu, since the kubelet's allocatable "
                                "counts only the devices the plugin reports healthy")
    gpu_allocated: int = Field(description="GPUs requested by the node's running and pending pods")
    pods: int


class NodeList(BaseModel):
    total: int
    ready: int
    not_ready: list[str]
    cordoned: list[str]
    gpus: dict[str, int] = Field(description="capacity, allocatable, allocated and free over all nodes")
    nodes: list[NodeRow] = Field(description="abnormal nodes first")


class NodePod(BaseModel):
    name: str
    namespace: str
    status: str
    ready: str
    restarts: int
    gpus: int


class NodeDetail(BaseModel):
    node: NodeRow
    conditions: list[Condition]
    taints: list[str]
    info: dict[str, str]
    pods: Capped[NodePod]
    events: Capped[EventRow]


class EventList(BaseModel):
    total: int = Field(description="distinct events after folding repeats")
    warnings: int
    events: Capped[EventRow] = Field(description="warnings first, newest first")


class Revision(BaseModel):
    revision: int
    replicaset: str
    images: list[str]
    change_cause: str | None = None
    created: str
    age_s: int | None = Field(description="seconds since this revision's ReplicaSet was created (its rollout "
                              "began); null when the API gave no creation time")
    replicas: int
    ready: int
    failing: int = Field(description="this revision's pods that cannot serve: crashed or restarted, cannot pull "
                         "their image or start their container, or cannot be scheduled because they ask for more "
                         "GPUs than any node has (not those waiting for GPUs a full cluster has in use)")
    current: bool
    completed: bool | None = Field(default=None, description="the current revision's rollout completed (the "
                                   "Deployment's Progressing condition says NewReplicaSetAvailable, and keeps "
                                   "saying it until the next rollout); null for earlier revisions")


class RolloutHistory(BaseModel):
    deployment: str
    namespace: str
    current_revision: int | None
    revisions: list[Revision] = Field(description="newest first")


class PodLogs(BaseModel):
    pod: str
    namespace: str
    container: str | None
    previous: bool
    lines: int
    text: str
    truncated: bool

