"""The SLO spec format: pydantic models, loading with errors that name the file and the field, and fan-out.

A spec file (in the spirit of Sloth and OpenSLO) holds one service's SLOs::

    version: firebreak/v1
    service: inference-gateway
    period: 30d
    labels: {team: ml-platform}
    for_each: {model: [llama-70b, qwen-7b, mistral-7b]}   # one SLO instance per value
    slos:
      - name: availability
        objective: 99.9
        sli:
          errors: rate(litellm_proxy_failed_requests_metric_total{requested_model="{{model}}"}[{{window}}])
          total: rate(litellm_proxy_total_requests_metric_total{requested_model="{{model}}"}[{{window}}])
        alerting:
          annotations: {summary: "...", runbook_url: "..."}

`{{window}}` in an SLI query becomes each alerting window's range; every `for_each` key (`{{model}}`)
is replaced in queries, descriptions, labels and annotations, and becomes a label of every rule, so the
nine SLOs of the default fleet are one short file. Go-template expressions that Prometheus expands at
alert time (`{{ $value }}`, `{{ $labels.model }}`) are left alone.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mcp_servers.prometheus.durations import parse_duration

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALERT_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SLO_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
WINDOW_PLACEHOLDER = "window"
# Labels the generator sets itself; a spec that set them would make rules ambiguous.
RESERVED_LABELS = frozenset({"service", "slo", "window", "time_scale", "severity", "alertname"})


class SpecError(ValueError):
    """A spec that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for name in labels:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"invalid label name {name!r}")
        if name in RESERVED_LABELS:
            raise ValueError(f"label {name!r} is set by the generator and cannot be overridden")
    return labels


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_for_each(value: dict[str, list[str]]) -> dict[str, list[str]]:
    _check_labels(dict.fromkeys(value, ""))
    for key, values in value.items():
        if not values:
            raise ValueError(f"for_each.{key} needs at least one value")
        if len(set(values)) != len(values):
            raise ValueError(f"for_each.{key} has duplicate values")
    return value


Labels = Annotated[dict[str, str], AfterValidator(_check_labels)]
Duration = Annotated[str, AfterValidator(_check_duration)]
ForEach = Annotated[dict[str, list[str]], AfterValidator(_check_for_each)]


class SLI(_Strict):
    """The SLI as two PromQL queries, each with a `{{window}}` placeholder for the range."""

    good: str | None = Field(default=None, description="rate of good events, e.g. requests answered in time")
    errors: str | None = Field(default=None, description="rate of bad events, e.g. 5xx responses")
    total: str = Field(description="rate of all events")

    @model_validator(mode="after")
    def _one_of_good_or_errors(self) -> SLI:
        if (self.good is None) == (self.errors is None):
            raise ValueError("give exactly one of `good` or `errors` (with `total`)")
        return self

    @field_validator("good", "errors", "total")
    @classmethod
    def _has_window(cls, query: str | None) -> str | None:
        if query is not None and WINDOW_PLACEHOLDER not in _placeholders(query):
            raise ValueError("query must contain the {{window}} placeholder for the range, e.g. [{{window}}]")
        return query


class Annotations(_Strict):
    summary: str | None = None
    description: str | None = None
    runbook_url: str | None = None


class Severity(_Strict):
    """One of the two alerts (page or ticket) of an SLO."""

    disable: bool = False
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    # `for` before firing, in SLO time (scaled like the windows). The multi-window design already
    # resists flapping; this only swallows a single noisy evaluation.
    for_: Duration = Field(default="2m", alias="for")


class TicketSeverity(Severity):
    # A ticket is about a slow burn over days; waiting a little longer costs nothing.
    for_: Duration = Field(default="15m", alias="for")


class Alerting(_Strict):
    name: str | None = Field(default=None, description="alert name; default <Slo>ErrorBudgetBurn")
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=Annotations)
    page: Severity = Field(default_factory=Severity)
    ticket: TicketSeverity = Field(default_factory=TicketSeverity)

    @field_validator("name")
    @classmethod
    def _valid_alert_name(cls, name: str | None) -> str | None:
        if name is not None and not _ALERT_NAME.match(name):
            raise ValueError(f"invalid alert name {name!r} (letters, digits, _ and :; no leading digit)")
        return name


class SLO(_Strict):
    name: str = Field(description="the `slo` label, e.g. availability")
    description: str = ""
    objective: float = Field(gt=0, lt=100, description="target percentage of good events, e.g. 99.9")
    sli: SLI
    labels: Labels = Field(default_factory=dict)
    alerting: Alerting = Field(default_factory=Alerting)
    for_each: ForEach | None = Field(default=None, description="replaces the spec's for_each")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _SLO_NAME.match(name):
            raise ValueError(f"invalid SLO name {name!r} (lower-case letters, digits, '.', '_' and '-')")
        return name


class SLOSpec(_Strict):
    version: Literal["firebreak/v1"] = "firebreak/v1"
    service: str = Field(min_length=1)
    # The burn-rate table (14.4x/6x/3x/1x) is derived for a 30-day budget, so only 30d is offered.
    period: Literal["30d"] = "30d"
    labels: Labels = Field(default_factory=dict)
    for_each: ForEach = Field(default_factory=dict)
    slos: list[SLO] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> SLOSpec:
        names = [slo.name for slo in self.slos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"SLO names must be unique within a spec: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True)
class SLOInstance:
    """One concrete SLO after fan-out: what the rule generator works on."""

    service: str
    slo: str
    description: str
    objective: float  # percent
    errors_query: str | None  # still holding {{window}}
    good_query: str | None
    total_query: str
    identity: dict[str, str]  # service, slo and the for_each values: selects this SLO's series
    labels: dict[str, str]  # identity plus the spec's extra labels
    alert_name: str
    alert_labels: dict[str, str]
    annotations: dict[str, str]
    page: Severity
    ticket: Severity

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, e.g. 0.001 for 99.9 (rounded so that 1 - 0.999 prints as 0.001)."""
        return round(1 - self.objective / 100, 12)

    @property
    def key(self) -> str:
        return "-".join([self.service, self.slo, *self.identity_values()])

    def identity_values(self) -> list[str]:
        return [v for k, v in self.identity.items() if k not in ("service", "slo")]


def _placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace `{{name}}` for the given names only; other `{{ ... }}` (Go templates) stay as they are."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format_validation_error(source: str, err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        # pydantic reports an alias-less internal name for `for`; show what the user writes.
        loc = ["for" if part == "for_" else part for part in item["loc"]]
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {_format_loc(loc)}: {message}")
    return "\n".join(lines)


def parse_spec(data: Any, source: str = "<spec>") -> SLOSpec:
    """Validate a spec already loaded from YAML; errors name `source` and the field."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        spec = SLOSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_validation_error(source, err)) from None
    _check_query_placeholders(spec, source)
    return spec


def load_spec(path: str | Path) -> SLOSpec:
    """Read and validate one spec file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(f"{path}: cannot read: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: invalid YAML: {err}") from None
    return parse_spec(data, str(path))


def load_specs(paths: Iterable[str | Path]) -> list[SLOSpec]:
    """Load several files, or every `*.yaml`/`*.yml` in a directory given as one of the paths."""
    specs: list[SLOSpec] = []
    for raw in paths:
        path = Path(raw)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        specs.extend(load_spec(f) for f in files)
    return specs


def _for_each_of(spec: SLOSpec, slo: SLO) -> dict[str, list[str]]:
    return spec.for_each if slo.for_each is None else slo.for_each


def _check_query_placeholders(spec: SLOSpec, source: str) -> None:
    """An unknown `{{name}}` in a query would reach Prometheus as a syntax error: report it here."""
    for index, slo in enumerate(spec.slos):
        known = {WINDOW_PLACEHOLDER, *_for_each_of(spec, slo)}
        for field in ("good", "errors", "total"):
            query = getattr(slo.sli, field)
            unknown = _placeholders(query or "") - known
            if unknown:
                names = ", ".join("{{" + n + "}}" for n in sorted(unknown))
                raise SpecError(
                    f"{source}: slos[{index}].sli.{field}: unknown placeholder {names} "
                    f"(known: {', '.join(sorted(known))})"
                )


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _instance(spec: SLOSpec, slo: SLO, values: dict[str, str]) -> SLOInstance:
    def sub(text: str) -> str:
        return substitute(text, values)

    def sub_map(mapping: Mapping[str, str]) -> dict[str, str]:
        return {k: sub(v) for k, v in mapping.items()}

    identity = {"service": spec.service, "slo": slo.name, **values}
    annotations = {k: sub(v) for k, v in slo.alerting.annotations.model_dump().items() if v is not None}
    return SLOInstance(
        service=spec.service,
        slo=slo.name,
        description=sub(slo.description),
        objective=slo.objective,
        errors_query=sub(slo.sli.errors) if slo.sli.errors else None,
        good_query=sub(slo.sli.good) if slo.sli.good else None,
        total_query=sub(slo.sli.total),
        identity=identity,
        labels={**sub_map(spec.labels), **sub_map(slo.labels), **identity},
        alert_name=slo.alerting.name or f"{_camel(slo.name)}ErrorBudgetBurn",
        alert_labels=sub_map(slo.alerting.labels),
        annotations=annotations,
        page=slo.alerting.page.model_copy(update={"labels": sub_map(slo.alerting.page.labels)}),
        ticket=slo.alerting.ticket.model_copy(update={"labels": sub_map(slo.alerting.ticket.labels)}),
    )


def expand(spec: SLOSpec) -> list[SLOInstance]:
    """Fan a spec out into concrete SLOs: the cartesian product of its `for_each` lists, per SLO."""
    instances = []
    for slo in spec.slos:
        for_each = _for_each_of(spec, slo)
        keys = list(for_each)
        for combo in itertools.product(*(for_each[k] for k in keys)):
            instances.append(_instance(spec, slo, dict(zip(keys, combo, strict=True))))
    return instances


def expand_all(specs: Iterable[SLOSpec]) -> list[SLOInstance]:
    """All instances of several specs; two SLOs with the same labels would record the same series."""
    instances = [inst for spec in specs for inst in expand(spec)]
    seen: dict[tuple[tuple[str, str], ...], SLOInstance] = {}
    for inst in instances:
        ident = tuple(sorted(inst.identity.items()))
        if ident in seen:
            raise SpecError(f"two SLOs have the same labels {dict(ident)}: rename one")
        seen[ident] = inst
    return instances
