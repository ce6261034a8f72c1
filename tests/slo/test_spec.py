"""Spec loading, validation errors that name the file and the field, and fan-out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.slo.spec import SpecError, expand, expand_all, load_spec, load_specs, parse_spec

from .promtool import INFERENCE_SPEC


def base_spec() -> dict[str, Any]:
    return yaml.safe_load(INFERENCE_SPEC.read_text())


def write(tmp_path: Path, data: Any, name: str = "slo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_of(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


def test_default_fleet_spec_fans_out_to_nine_slos() -> None:
    instances = expand(load_spec(INFERENCE_SPEC))
    assert sorted((i.slo, i.identity["model"]) for i in instances) == sorted(
        (slo, model)
        for slo in ("availability", "latency", "overhead")
        for model in ("llama-70b", "qwen-7b", "mistral-7b")
    )
    qwen = next(i for i in instances if i.slo == "latency" and i.identity["model"] == "qwen-7b")
    assert qwen.objective == 99 and qwen.error_budget == 0.01
    assert (
        qwen.good_query is not None and 'model="qwen-7b"' in qwen.good_query and 'le="1.0"' in qwen.good_query
    )
    assert "{{window}}" in qwen.total_query  # left for the rule generator
    assert qwen.annotations["summary"].startswith("qwen-7b latency SLO")
    assert "{{ printf" in qwen.annotations["summary"]  # Prometheus' own template is kept
    assert qwen.labels == {"service": "inference-gateway", "slo": "latency", "model": "qwen-7b"}


def test_objective_out_of_range_names_the_field(tmp_path: Path) -> None:
    data = base_spec()
    data["slos"][1]["objective"] = 100
    message = error_of(tmp_path, data)
    assert "slos[1].objective" in message and "less than 100" in message


def test_missing_sli_query_names_the_field(tmp_path: Path) -> None:
    data = base_spec()
    del data["slos"][0]["sli"]["total"]
    assert "slos[0].sli.total: Field required" in error_of(tmp_path, data)


def test_good_and_errors_together_are_rejected(tmp_path: Path) -> None:
    data = base_spec()
    data["slos"][0]["sli"]["good"] = data["slos"][0]["sli"]["total"]
    assert "slos[0].sli: " in error_of(tmp_path, data)


def test_query_without_window_placeholder(tmp_path: Path) -> None:
    data = base_spec()
    data["slos"][0]["sli"]["errors"] = 'rate(gateway_requests_total{code=~"5.."}[5m])'
    message = error_of(tmp_path, data)
    assert "slos[0].sli.errors" in message and "{{window}}" in message


def test_unknown_placeholder_in_query(tmp_path: Path) -> None:
    data = base_spec()
    data["slos"][0]["sli"]["total"] = 'rate(gateway_requests_total{model="{{modle}}"}[{{window}}])'
    message = error_of(tmp_path, data)
    assert "slos[0].sli.total: unknown placeholder {{modle}}" in message


def test_unknown_field_and_reserved_label(tmp_path: Path) -> None:
    data = base_spec()
    data["slos"][0]["objectiv"] = 99
    data["slos"][0]["alerting"]["page"] = {"labels": {"severity": "critical"}}
    message = error_of(tmp_path, data)
    assert "slos[0].objectiv: Extra inputs are not permitted" in message
    assert "slos[0].alerting.page.labels" in message and "severity" in message


def test_bad_for_duration_names_the_field(tmp_path: Path) -> None:
    data = base_spec()
    data["slos"][0]["alerting"]["ticket"] = {"for": "ten minutes"}
    assert "slos[0].alerting.ticket.for" in error_of(tmp_path, data)


def test_only_30d_period(tmp_path: Path) -> None:
    data = base_spec()
    data["period"] = "28d"
    assert "period" in error_of(tmp_path, data)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    assert "invalid YAML" in error_of(tmp_path, "service: [unclosed\n")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in error_of(tmp_path, "- just\n- a list\n")


def test_per_slo_for_each_replaces_the_spec_one() -> None:
    data = base_spec()
    data["slos"].append(
        {
            "name": "gateway-availability",
            "objective": 99.95,
            "for_each": {},
            "sli": {
                "errors": 'rate(gateway_requests_total{code=~"5.."}[{{window}}])',
                "total": "rate(gateway_requests_total[{{window}}])",
            },
        }
    )
    instances = expand(parse_spec(data))
    whole = [i for i in instances if i.slo == "gateway-availability"]
    assert len(instances) == 10 and len(whole) == 1
    assert whole[0].identity == {"service": "inference-gateway", "slo": "gateway-availability"}
    assert whole[0].error_budget == 0.0005
    assert whole[0].alert_name == "GatewayAvailabilityErrorBudgetBurn"


def test_duplicate_slos_across_specs_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, base_spec(), "a.yaml")
    write(tmp_path, base_spec(), "b.yaml")
    specs = load_specs([tmp_path])
    assert len(specs) == 2
    with pytest.raises(SpecError, match="same labels"):
        expand_all(specs)
