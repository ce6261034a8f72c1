"""The container registries the fleet pulls from, answering a pull the way containerd reports it to the kubelet.

They hold the fleet's own images (whatever its pods run at boot) and vLLM's published release tags of
`vllm/vllm-openai`; any other reference fails. The error text is containerd's, wrapped by the CRI's gRPC status:
a missing tag of a known repository is `NotFound ... : not found`; an unknown Docker Hub repository is refused
as Docker Hub refuses anonymous pulls of what does not exist (containerd `remotes/docker/resolver.go`,
`core/remotes/docker/errors`; the kubelet prints it after `Failed to pull image %q: `, pkg/kubelet/images).
"""

from __future__ import annotations

from collections.abc import Iterable

DOCKER_HUB = "docker.io"
# Release tags of vllm/vllm-openai on Docker Hub (release images only; vLLM publishes no rc tags there).
# Source: the vLLM GitHub releases and the tags mirrored from Docker Hub (e.g. v0.9.0.1, v0.10.1.1, v0.11.0);
# v0.29.0-v0.33.0 as public deployments pin them (2026). Releases between v0.11.0 and v0.29.0 are left out
# because they were not checked one by one: a patch to one of them fails to pull here.
VLLM_RELEASES = (
    "v0.6.0", "v0.6.1", "v0.6.2", "v0.6.3", "v0.6.4", "v0.6.5", "v0.6.6", "v0.6.6.post1",
    "v0.7.0", "v0.7.1", "v0.7.2", "v0.7.3", "v0.8.0", "v0.8.1", "v0.8.2", "v0.8.3", "v0.8.4", "v0.8.5",
    "v0.8.5.post1", "v0.9.0", "v0.9.0.1", "v0.9.1", "v0.9.2", "v0.10.0", "v0.10.1", "v0.10.1.1", "v0.10.2",
    "v0.11.0", "v0.29.0", "v0.30.0", "v0.31.0", "v0.32.0", "v0.33.0", "latest",
)


def normalise(image: str) -> str:
    """A reference as containerd resolves it: `vllm/vllm-openai:v0.8.5` is `docker.io/vllm/vllm-openai:v0.8.5`,
    `busybox` is `docker.io/library/busybox:latest` (docker/distribution reference.ParseNormalizedNamed)."""
    name, tag = _split(image)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"{DOCKER_HUB}/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"{DOCKER_HUB}/{name}"
    return f"{name}:{tag}"


def _split(image: str) -> tuple[str, str]:
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, "latest"


class Registry:
    def __init__(self, images: Iterable[str] = ()) -> None:
        self._tags: dict[str, set[str]] = {}
        self.push(f"vllm/vllm-openai:{tag}" for tag in VLLM_RELEASES)
        self.push(images)

    def push(self, images: Iterable[str]) -> None:
        for image in images:
            name, tag = normalise(image).rsplit(":", 1)
            self._tags.setdefault(name, set()).add(tag)

    def pull_error(self, image: str) -> str | None:
        """None when the image pulls; otherwise the CRI error the kubelet reports, as containerd words it."""
        ref = normalise(image)
        name, tag = ref.rsplit(":", 1)
        if tag in self._tags.get(name, set()):
            return None
        head = f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}"'
        if name not in self._tags and name.startswith(f"{DOCKER_HUB}/"):
            return (f"rpc error: code = Unknown desc = {head}: pull access denied, repository does not exist or "
                    "may require authorization: server message: insufficient_scope: authorization failed")
        return f"rpc error: code = NotFound desc = {head}: {ref}: not found"
