"""Fleet profiles: what the sandbox simulates. `default` is the fleet scenarios name; `large` is for benchmarks."""

from __future__ import annotations

from pydantic import BaseModel, Field

PROVIDERS = ("anthropic", "openai", "google")
SELF_HOSTED = "self-hosted"


class ModelSpec(BaseModel):
    """A vLLM deployment and the traffic it serves (rates in requests per wall second)."""

    name: str
    hf_model: str
    replicas: int = Field(ge=0)
    gpus_per_replica: int = Field(ge=1)
    load_s: float = Field(description="model load time, in fleet seconds (divided by the time scale)")
    capacity_rps: float = Field(gt=0, description="requests per second one replica completes at full batch")
    base_rps: float = Field(ge=0, description="mean arrival rate at the gateway")
    ttft_s: float = Field(gt=0, description="time to first token of an unloaded replica")
    itl_s: float = Field(gt=0, description="inter-token latency")
    prompt_tokens: int = 900
    output_tokens: int = 220
    weights_gib: float
    standby: str = Field(description="the hosted provider kept warm with the standby share")


class NodeSpec(BaseModel):
    name: str
    gpus: int = 8
    gpu_model: str = "NVIDIA H100 80GB HBM3"
    memory_gib: int = 2048
    cpus: int = 224


class FleetSpec(BaseModel):
    namespace: str = "inference"
    nodes: list[NodeSpec]
    models: list[ModelSpec]
    gateway_replicas: int = 2
    dependencies: tuple[str, ...] = ("tokenizer-service", "auth-service")
    standby_share: int = Field(default=5, ge=0, le=100,
                               description="percent of each model's traffic kept on its standby")
    # A vLLM release whose metric names the sandbox exports (vllm:kv_cache_usage_perc, no
    # time_per_output_token_seconds) and whose log lines logtext writes
    image: str = "vllm/vllm-openai:v0.32.0"
    served_model_names: bool = Field(default=True, description="pass --served-model-name <deployment>; false "
                                     "leaves vLLM's default, the --model value (the Hugging Face id), which "
                                     "then labels the pods' metrics")
    dcgm_extra_counters: bool = Field(default=False, description="dcgm-exporter also exports the counters its "
                                      "default-counters.csv ships commented out: power and thermal violation (ns), "
                                      "volatile ECC totals, clock events per reason")


def _models(scale: int = 1) -> list[ModelSpec]:
    return [
        ModelSpec(name="llama-70b", hf_model="meta-llama/Llama-3.3-70B-Instruct", replicas=4 * scale,
                  gpus_per_replica=2, load_s=240, capacity_rps=5.0, base_rps=15.0 * scale, ttft_s=0.28,
                  itl_s=0.035, weights_gib=131.4, standby="anthropic"),
        ModelSpec(name="qwen-7b", hf_model="Qwen/Qwen2.5-7B-Instruct", replicas=3 * scale, gpus_per_replica=1,
                  load_s=75, capacity_rps=8.5, base_rps=19.0 * scale, ttft_s=0.09, itl_s=0.012,
                  weights_gib=14.2, standby="openai"),
        ModelSpec(name="mistral-7b", hf_model="mistralai/Mistral-7B-Instruct-v0.3", replicas=2 * scale,
                  gpus_per_replica=1, load_s=70, capacity_rps=8.0, base_rps=12.0 * scale, ttft_s=0.10,
                  itl_s=0.013, weights_gib=13.5, standby="google"),
    ]


def default_fleet() -> FleetSpec:
    return FleetSpec(nodes=[NodeSpec(name=f"gpu-node-{i}") for i in range(1, 5)], models=_models())


def large_fleet() -> FleetSpec:
    """50 nodes, 400 GPUs, with twelve times the default's models (benchmarks only)."""
    return FleetSpec(nodes=[NodeSpec(name=f"gpu-node-{i}") for i in range(1, 51)], models=_models(scale=12),
                     gateway_replicas=6)


def hf_names_fleet() -> FleetSpec:
    """The default fleet started without --served-model-name, as many are: vLLM labels each model's metrics with
    its --model value, the Hugging Face id, so the tools must be told which deployment serves which."""
    return default_fleet().model_copy(update={"served_model_names": False})


PROFILES = {"default": default_fleet, "large": large_fleet, "hf-model-names": hf_names_fleet}


def load_profile(name: str) -> FleetSpec:
    if name not in PROFILES:
        raise ValueError(f"unknown fleet profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]()
