"""A new build is rolled out that fails a share of requests (a broken chat template)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets
from sandbox.faults.rollout import change_template

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.model(sandbox, target).name
    image = str(params.get("image", "vllm/vllm-openai:v0.9.0rc1"))
    sandbox.world.broken_images[image] = float(params.get("error_share", 0.4))
    sandbox.registry.push([image])  # a build that exists and pulls: its harm shows only once it serves

    def new_image(container: dict[str, Any]) -> None:
        container["image"] = image
    change_template(sandbox, name, new_image, f"bump vLLM to {image.rsplit(':', 1)[-1]}")
    return f"{name} rolled out {image}"
