"""A new build is rolled out whose engine fails a share of requests.

The engine finishes them with finish_reason "error", which vLLM's OpenAI server answers 500 (GenerationError in
vllm/entrypoints/openai/engine/serving.py): they burn the availability SLO, and the pods stay up. (A broken
chat template would not: vLLM answers that 400.) The rollout sets no change-cause, as GitOps does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets
from sandbox.faults.rollout import change_template

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.model(sandbox, target).name
    image = str(params.get("image", "vllm/vllm-openai:v0.33.0"))
    sandbox.world.broken_images[image] = float(params.get("error_share", params.get("error_rate", 0.4)))
    sandbox.registry.push([image])  # a build that exists and pulls: its harm shows only once it serves

    def new_image(container: dict[str, Any]) -> None:
        container["image"] = image
    change_template(sandbox, name, new_image)
    return f"{name} rolled out {image}"
