"""Loading runbooks: the shipped ones load, a broken one is reported by file name and skipped, the rest load."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.diagnose.runbooks import IncidentContext, ToolCall, load_runbooks

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
LLAMA = IncidentContext(model="llama-70b", slo="availability", alert="ModelAvailabilityBudgetBurn")


def minimal(runbook_id: str = "pod-crash") -> dict[str, Any]:
    return {
        "id": runbook_id,
        "title": "Pods of a model crash",
        "root_cause": "hung_pod",
        "component": "deployment/{model}",
        "evidence_calls": [{"id": "pods", "tool": "list_pods", "args": {"deployment": "{model}"}}],
        "signals": [{
            "id": "restarting",
            "description": "a pod of the model restarts",
            "weight": 1.0,
            "when": {"from": "pods", "path": "pods.items[*]", "where": {"restarts": {"ge": 1}}},
            "bind": {"pod": "$"},
        }],
        "remediation": [{"action": "delete_pod", "target": "pod/{pod.name}"}],
    }


def write(directory: Path, name: str, front: dict[str, Any] | str, body: str = "# For people\n") -> Path:
    text = front if isinstance(front, str) else yaml.safe_dump(front, sort_keys=False)
    path = directory / name
    path.write_text(f"---\n{text}---\n{body}")
    return path


def only_error(directory: Path, front: dict[str, Any] | str) -> str:
    """Loads a directory holding one good runbook and one bad one; returns what was said about the bad one."""
    write(directory, "good.md", minimal("good"))
    write(directory, "bad.md", front)
    loaded = load_runbooks(directory)
    assert [r.id for r in loaded.runbooks] == ["good"]
    assert [e.file for e in loaded.errors] == ["bad.md"]
    return loaded.errors[0].message


def test_the_shipped_runbooks_all_load() -> None:
    loaded = load_runbooks(RUNBOOKS)
    assert loaded.errors == []
    xid = loaded.get("gpu-xid")
    assert xid is not None and xid.root_cause == "gpu_xid" and xid.path.endswith("gpu-xid.md")
    assert xid.doc.startswith("# GPU hardware Xid")


def test_a_runbook_maps_its_call_ids_to_canonical_calls_for_the_incident() -> None:
    xid = load_runbooks(RUNBOOKS).get("gpu-xid")
    assert xid is not None
    calls = xid.calls(LLAMA)
    assert calls["pods"] == ToolCall(tool="list_pods", args={"deployment": "llama-70b", "namespace": "inference"})
    assert calls["pods"].key == 'list_pods(deployment="llama-70b", namespace="inference")'
    assert calls["gpus"].key == "unhealthy_gpus()"


def test_distinct_evidence_calls_across_runbooks(tmp_path: Path) -> None:
    write(tmp_path, "a.md", minimal("a"))
    second = minimal("b")
    second["evidence_calls"].append({"id": "gpus", "tool": "unhealthy_gpus"})
    write(tmp_path, "b.md", second)
    calls = load_runbooks(tmp_path).evidence_calls(IncidentContext(model="qwen-7b"))
    assert [c.key for c in calls] == ['list_pods(deployment="qwen-7b")', "unhealthy_gpus()"]


def test_applies_to_filters_by_slo_and_alert(tmp_path: Path) -> None:
    latency_only = minimal("latency-only")
    latency_only["applies_to"] = {"slos": ["latency"], "alerts": ["ModelLatencyBudgetBurn"]}
    write(tmp_path, "latency.md", latency_only)
    write(tmp_path, "any.md", minimal("any"))
    loaded = load_runbooks(tmp_path)
    assert [r.id for r in loaded.applicable(LLAMA)] == ["any"]
    assert [r.id for r in loaded.applicable(IncidentContext(model="m", slo="latency"))] == ["any", "latency-only"]
    assert len(loaded.applicable(IncidentContext(model="m"))) == 2  # no SLO known: nothing is ruled out


def test_broken_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    message = only_error(tmp_path, "id: bad\ntitle: [unclosed\nroot_cause: gpu_xid\n")
    assert "YAML error at line" in message
    line = int(message.split("line ")[1].split(":")[0])
    assert line in (3, 4)  # the file's own numbering: the opening '---' is line 1


def test_a_misspelt_key_is_an_unknown_key(tmp_path: Path) -> None:
    data = minimal("bad")
    data["signals"][0]["wieght"] = data["signals"][0].pop("weight")
    message = only_error(tmp_path, data)
    assert "signals[0].wieght: unknown key" in message and "signals[0].weight: missing field" in message


def test_missing_fields_and_unknown_vocabulary(tmp_path: Path) -> None:
    data = minimal("bad")
    del data["component"]
    data["root_cause"] = "gpu_on_fire"
    data["remediation"][0]["action"] = "reboot_everything"
    message = only_error(tmp_path, data)
    assert "component: missing field" in message
    assert "root_cause:" in message and "gpu_xid" in message  # the allowed fault kinds are listed
    assert "remediation[0].action:" in message


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["signals"][0]["when"]["where"].update(restarts={"gte": 1}), "unknown operator 'gte'"),
    (lambda d: d["signals"][0]["when"].update(path="pods..items"), "bad path"),
    (lambda d: d["signals"][0]["when"].update({"from": "nodes"}), "`from: nodes` is not an evidence call"),
    (lambda d: d["evidence_calls"][0].update(tool="list_podz"), "unknown read tool 'list_podz'"),
    (lambda d: d["signals"][0].update(weight=0), "weight must be non-zero"),
    (lambda d: d.update(component="pod/{model}"), "component must start with one of"),
])
def test_bad_predicates_and_references_are_reported(tmp_path: Path, change: Any, expected: str) -> None:
    data = copy.deepcopy(minimal("bad"))
    change(data)
    assert expected in only_error(tmp_path, data)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["remediation"][0].update(target="pod/{podd.name}"), "remediation[0] delete_pod: template names podd"),
    (lambda d: d.update(component="deployment/{pod.owner}"), "component (context or required signals)"),
    (lambda d: d["evidence_calls"][0]["args"].update(node="{pod.node}"), "evidence call 'pods' args"),
    (lambda d: d["signals"][0]["when"]["where"].update(node="{gpu.node}"), "signal 'restarting' condition"),
    (lambda d: d["signals"][0].update(evidence="{pod.name} on {nod}"), "signal 'restarting' evidence"),
])
def test_a_template_naming_an_unbound_name_is_reported(tmp_path: Path, change: Any, expected: str) -> None:
    data = copy.deepcopy(minimal("bad"))
    change(data)
    message = only_error(tmp_path, data)
    assert expected in message and "which nothing binds there" in message


def test_a_component_may_use_what_a_required_signal_binds(tmp_path: Path) -> None:
    data = minimal("required-binding")
    data["signals"][0]["required"] = True
    data["component"] = "node/{pod.node}"
    write(tmp_path, "ok.md", data)
    assert load_runbooks(tmp_path).errors == []


def test_files_without_front_matter_duplicates_and_readmes(tmp_path: Path) -> None:
    write(tmp_path, "a.md", minimal("same"))
    write(tmp_path, "b.md", minimal("same"))
    (tmp_path / "c.md").write_text("# Just Markdown\n")
    (tmp_path / "d.md").write_text("---\nid: x\n")
    (tmp_path / "README.md").write_text("# How to write a runbook\n")
    loaded = load_runbooks(tmp_path)
    assert [r.id for r in loaded.runbooks] == ["same"]
    messages = {e.file: e.message for e in loaded.errors}
    assert messages == {
        "b.md": "id 'same' is already used by another runbook",
        "c.md": "no YAML front matter: the file must start with a '---' line",
        "d.md": "front matter is not closed by a '---' line",
    }


def test_a_missing_directory_is_an_error_not_an_exception(tmp_path: Path) -> None:
    loaded = load_runbooks(tmp_path / "nowhere")
    assert loaded.runbooks == [] and "not a directory" in str(loaded.errors[0])


def one_of_signals(*groups: str | None, required: bool = False, weight: float = 0.5) -> dict[str, Any]:
    front = minimal()
    signal = front["signals"][0]
    front["signals"] = [{**signal, "id": f"sign-{i}", "bind": {}, "one_of": group, "required": required,
                         "weight": weight} for i, group in enumerate(groups)]
    front["remediation"] = []
    return front


@pytest.mark.parametrize(("front", "expected"), [
    (one_of_signals("fails"), "one_of group 'fails' has a single signal"),
    (one_of_signals("fails", "fails", required=True), "either required or one of a group"),
    (one_of_signals("fails", "fails", weight=-0.5), "positive on a required signal or one in a `one_of` group"),
])
def test_a_one_of_group_needs_two_positive_signals_that_are_not_required(tmp_path: Path, front: dict[str, Any],
                                                                        expected: str) -> None:
    assert expected in only_error(tmp_path, front)


def test_a_one_of_group_of_two_positive_signals_loads(tmp_path: Path) -> None:
    write(tmp_path, "grouped.md", one_of_signals("fails", "fails", None))

    loaded = load_runbooks(tmp_path)

    assert loaded.errors == [] and [s.one_of for s in loaded.runbooks[0].signals] == ["fails", "fails", None]
