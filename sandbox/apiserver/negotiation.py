"""What representation a client asked for in `Accept`: the object itself, a server-side `Table`, or metadata only.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io,...,application/json`; metadata-only
clients (client-go's metadata informers) ask for `as=PartialObjectMetadata(List)`. Everything is JSON: a
client asking for protobuf first also lists JSON, and decodes by the response's content type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class As(Enum):
    OBJECT = "object"
    TABLE = "table"
    METADATA = "metadata"


@dataclass(frozen=True)
class MediaRange:
    type: str
    params: dict[str, str]


def parse_accept(header: str | None) -> list[MediaRange]:
    ranges = []
    for part in (header or "").split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip()
        ranges.append(MediaRange(pieces[0].lower(), params))
    return ranges


def representation(header: str | None) -> As:
    """The first range we can serve wins, as in the real server's negotiation."""
    for media in parse_accept(header):
        if media.type not in ("application/json", "application/*", "*/*", "application/yaml"):
            continue
        shape = media.params.get("as")
        if shape is None:
            return As.OBJECT
        if shape == "Table" and media.params.get("g") == "meta.k8s.io":
            return As.TABLE
        if shape in ("PartialObjectMetadata", "PartialObjectMetadataList") and media.params.get("g") == "meta.k8s.io":
            return As.METADATA
    return As.OBJECT
