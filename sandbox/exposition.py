"""A small Prometheus registry: counters, gauges and histograms rendered in the text exposition format."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field


def format_value(value: float) -> str:
    """Go's float formatting, as prometheus_client renders it (so `le="1.0"`, `+Inf`)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return f"{value:.1f}"
    return repr(float(value))


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    escaped = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(pairs, escaped, strict=True)) + "}"


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1


@dataclass
class Family:
    name: str
    kind: str  # counter | gauge | histogram
    help: str
    buckets: tuple[float, ...] = ()
    total_suffix: bool = True  # False for exporters that name raw hardware counters without `_total`
    series: dict[tuple[tuple[str, str], ...], float | Histogram] = field(default_factory=dict)

    def _key(self, labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
        return tuple(labels.items())

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        self.series[key] = float(self.series.get(key, 0.0)) + amount  # type: ignore[arg-type]

    def set(self, value: float, **labels: str) -> None:
        self.series[self._key(labels)] = value

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        histogram = self.series.get(key)
        if not isinstance(histogram, Histogram):
            histogram = self.series[key] = Histogram(self.buckets)
        histogram.observe(value)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for key, value in self.series.items():
            if isinstance(value, Histogram):
                lines += self._render_histogram(key, value)
            else:
                name = f"{self.name}_total" if self.kind == "counter" and self.total_suffix else self.name
                lines.append(f"{name}{_labels(key)} {format_value(value)}")
        return lines

    def _render_histogram(self, key: tuple[tuple[str, str], ...], h: Histogram) -> list[str]:
        lines, running = [], 0
        for bound, count in zip(h.buckets, h.counts, strict=True):
            running += count
            lines.append(f"{self.name}_bucket{_labels((*key, ('le', format_value(bound))))} {format_value(running)}")
        lines.append(f"{self.name}_bucket{_labels((*key, ('le', '+Inf')))} {format_value(h.count)}")
        lines.append(f"{self.name}_sum{_labels(key)} {format_value(h.total)}")
        lines.append(f"{self.name}_count{_labels(key)} {format_value(h.count)}")
        return lines


@dataclass
class Registry:
    families: dict[str, Family] = field(default_factory=dict)

    def counter(self, name: str, help: str, total_suffix: bool = True) -> Family:
        """`name` without the `_total` suffix, which rendering adds unless told not to."""
        return self.families.setdefault(name, Family(name, "counter", help, total_suffix=total_suffix))

    def gauge(self, name: str, help: str) -> Family:
        return self.families.setdefault(name, Family(name, "gauge", help))

    def histogram(self, name: str, help: str, buckets: tuple[float, ...]) -> Family:
        return self.families.setdefault(name, Family(name, "histogram", help, buckets))

    def render(self) -> str:
        return "\n".join(line for f in self.families.values() for line in f.render()) + "\n"
