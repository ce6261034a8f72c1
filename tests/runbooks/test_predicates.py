"""The runbook expression language: paths, operators, combinators, counts and templates."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agent.diagnose.predicates import (
    ExpressionError,
    Predicate,
    Unbound,
    parse_path,
    render,
    render_value,
    template_names,
)

GPUS: dict[str, Any] = {
    "total": 3,
    "gpus": {"items": [
        {"node": "gpu-node-1", "gpu": 4, "xid": 13, "temp_c": 71.5, "pods": []},
        {"node": "gpu-node-2", "gpu": 1, "xid": 79, "temp_c": 90, "pods": [{"name": "llama-70b-abc12"}],
         "labels": {"vllm:model": "llama-70b"}},
        {"node": "gpu-node-3", "gpu": 2, "xid": "48", "temp_c": "85.0", "pods": [{"name": "qwen-7b-x1"}],
         "reasons": ["ecc", "xid"]},
    ]},
}


def nodes_where(where: dict[str, Any], scope: dict[str, Any] | None = None, count: str = ">= 1") -> list[str]:
    match = Predicate(path="gpus.items[*]", where=where, count=count).evaluate(GPUS, scope or {})
    return [element["node"] for element in match.elements] if match.ok else []


# ---- paths -------------------------------------------------------------------------------------------------


def test_star_flattens_nested_lists_and_missing_keys_select_nothing() -> None:
    assert parse_path("gpus.items[*].pods[*].name").resolve(GPUS) == ["llama-70b-abc12", "qwen-7b-x1"]
    assert parse_path("gpus.items[*].reasons[*]").resolve(GPUS) == ["ecc", "xid"]
    assert parse_path("gpus.items[*].no_such_key").resolve(GPUS) == []
    assert parse_path("total.deeper[*]").resolve(GPUS) == []  # stepping into a number finds nothing


def test_indexes_quoted_keys_dict_values_and_the_root() -> None:
    assert parse_path("gpus.items[-1].gpu").resolve(GPUS) == [2]
    assert parse_path("gpus.items[7]").resolve(GPUS) == []
    assert parse_path('gpus.items[1].labels["vllm:model"]').resolve(GPUS) == ["llama-70b"]
    assert parse_path("$.gpus.items[1].labels[*]").resolve(GPUS) == ["llama-70b"]
    assert parse_path("$").resolve(5) == [5]


@pytest.mark.parametrize("bad", ["gpus..items", "gpus.items[x]", "$gpus", "gpus items", "gpus.items[*"])
def test_malformed_paths_are_rejected(bad: str) -> None:
    with pytest.raises(ExpressionError):
        parse_path(bad)


# ---- operators ---------------------------------------------------------------------------------------------


def test_eq_and_its_scalar_shorthand_compare_numbers_across_numeric_strings() -> None:
    assert nodes_where({"xid": 79}) == ["gpu-node-2"]
    assert nodes_where({"xid": {"eq": 48}}) == ["gpu-node-3"]  # "48" as Prometheus would return it
    assert nodes_where({"node": "gpu-node-1"}) == ["gpu-node-1"]
    assert nodes_where({"gpu": "1"}) == []  # a string operand is compared as a string


def test_ne_needs_the_value_to_be_there() -> None:
    assert nodes_where({"xid": {"ne": 79}}) == ["gpu-node-1", "gpu-node-3"]
    assert nodes_where({"missing": {"ne": 1}}) == []


def test_ordering_operators_on_numbers_and_strings_never_across_types() -> None:
    assert nodes_where({"temp_c": {"gt": 85}}) == ["gpu-node-2"]
    assert nodes_where({"temp_c": {"ge": 85}}) == ["gpu-node-2", "gpu-node-3"]
    assert nodes_where({"temp_c": {"lt": 85}}) == ["gpu-node-1"]
    assert nodes_where({"temp_c": {"le": 71.5}}) == ["gpu-node-1"]
    assert nodes_where({"node": {"gt": "gpu-node-2"}}) == ["gpu-node-3"]
    assert nodes_where({"node": {"gt": 1}}) == []  # a name is not a number: no match, no crash


def test_in_contains_matches_and_exists() -> None:
    assert nodes_where({"xid": {"in": [48, 79]}}) == ["gpu-node-2", "gpu-node-3"]
    assert nodes_where({"reasons": {"contains": "ecc"}}) == ["gpu-node-3"]  # a list holding the value
    assert nodes_where({"node": {"contains": "-3"}}) == ["gpu-node-3"]  # a substring
    assert nodes_where({"labels": {"contains": "vllm:model"}}) == ["gpu-node-2"]  # a dict's key
    assert nodes_where({"pods[*].name": {"matches": "^qwen-"}}) == ["gpu-node-3"]
    assert nodes_where({"xid": {"matches": "^7"}}) == ["gpu-node-2"]  # numbers match as their text
    assert nodes_where({"labels": {"exists": True}}) == ["gpu-node-2"]
    assert nodes_where({"labels": {"exists": False}}) == ["gpu-node-1", "gpu-node-3"]


def test_several_operators_on_one_path_must_all_hold() -> None:
    assert nodes_where({"temp_c": {"gt": 70, "lt": 86}}) == ["gpu-node-1", "gpu-node-3"]


def test_a_test_over_a_flattened_path_holds_when_any_value_passes() -> None:
    assert nodes_where({"pods[*].name": {"ne": "nothing"}}) == ["gpu-node-2", "gpu-node-3"]
    assert nodes_where({"pods[*].name": {"exists": False}}) == ["gpu-node-1"]  # an empty list selects nothing


# ---- combinators and counts --------------------------------------------------------------------------------


def test_all_any_none_and_the_implicit_all_of_a_mapping() -> None:
    assert nodes_where({"xid": {"in": [48, 79]}, "temp_c": {"lt": 88}}) == ["gpu-node-3"]
    assert nodes_where({"all": [{"xid": {"in": [48, 79]}}, {"temp_c": {"lt": 88}}]}) == ["gpu-node-3"]
    assert nodes_where({"any": [{"xid": 13}, {"gpu": 2}]}) == ["gpu-node-1", "gpu-node-3"]
    assert nodes_where({"none": [{"xid": 13}, {"gpu": 2}]}) == ["gpu-node-2"]
    assert nodes_where({"any": [{"none": [{"xid": {"ne": 13}}]}]}) == ["gpu-node-1"]


def test_count_thresholds() -> None:
    assert nodes_where({"xid": {"in": [48, 79]}}, count=">= 2") == ["gpu-node-2", "gpu-node-3"]
    assert nodes_where({"xid": {"in": [48, 79]}}, count="> 2") == []
    assert Predicate(path="gpus.items[*]", where={"xid": 95}, count="== 0").evaluate(GPUS, {}).ok
    assert not Predicate(path="gpus.items[*]", where={"xid": 79}, count="== 0").evaluate(GPUS, {}).ok


def test_a_missing_path_or_a_result_of_another_shape_is_no_match_not_a_crash() -> None:
    predicate = Predicate(path="gpus.items[*]", where={"xid": {"gt": 0}})
    for result in ({}, {"gpus": None}, {"gpus": {"items": "oops"}}, [], "text", None, {"gpus": {"items": [1, None]}}):
        match = predicate.evaluate(result, {})
        assert not match.ok and match.elements == []
    assert Predicate(path="total").evaluate(GPUS, {}).elements == [3]  # no `where`: every selected element


def test_operands_are_templates_over_the_scope_and_unbound_ones_fail_the_test() -> None:
    gpu = {"node": "gpu-node-2"}
    assert nodes_where({"node": "{gpu.node}"}, {"gpu": gpu}) == ["gpu-node-2"]
    assert nodes_where({"node": {"ne": "{gpu.node}"}}, {"gpu": gpu}) == ["gpu-node-1", "gpu-node-3"]
    assert nodes_where({"node": "{gpu.node}"}, {}) == []
    assert nodes_where({"pods[*].name": {"matches": "^{model}-[a-z0-9]{5}$"}}, {"model": "llama-70b"}) == ["gpu-node-2"]


def test_values_filled_into_a_regex_are_escaped() -> None:
    assert nodes_where({"node": {"matches": "^{prefix}"}}, {"prefix": "gpu.node"}) == []
    assert nodes_where({"node": {"matches": "^{prefix}"}}, {"prefix": "gpu-node-1"}) == ["gpu-node-1"]


@pytest.mark.parametrize(("where", "message"), [
    ({"xid": {"gte": 1}}, "unknown operator 'gte'"),
    ({"xid": [48, 79]}, "needs an operator"),
    ({"xid": {"in": 48}}, "needs a list"),
    ({"node": {"matches": "(unclosed"}}, "bad regular expression"),
    ({"labels": {"exists": "yes"}}, "true or false"),
    ({"any": []}, "non-empty list"),
    ({"temp_c": {"gt": [1]}}, "number or a string"),
    ({}, "non-empty mapping"),
])
def test_bad_conditions_are_rejected_when_the_predicate_is_built(where: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Predicate(path="gpus.items[*]", where=where)


def test_bad_counts_and_paths_are_rejected_when_the_predicate_is_built() -> None:
    with pytest.raises(ValidationError, match="bad count"):
        Predicate(count="at least 1")
    with pytest.raises(ValidationError, match="bad path"):
        Predicate(path="gpus..items")
    with pytest.raises(ValidationError, match="Extra inputs"):
        Predicate.model_validate({"paht": "gpus"})


# ---- templates ---------------------------------------------------------------------------------------------


def test_templates_fill_paths_join_lists_and_leave_regex_quantifiers_alone() -> None:
    scope = {"gpu": GPUS["gpus"]["items"][1], "model": "llama-70b", "$": {"temp": 71.5, "ok": True}}
    text = "{gpu.node} GPU {gpu.gpu} Xid {gpu.xid} under {gpu.pods[*].name}; {$.temp} C {$.ok} [0-9]{2,3}"
    assert render(text, scope) == "gpu-node-2 GPU 1 Xid 79 under llama-70b-abc12; 71.5 C true [0-9]{2,3}"
    assert template_names(text) == {"gpu", "$"}
    assert template_names("^{model}-[a-z]{5}$") == {"model"}


def test_a_template_naming_what_is_not_there_raises_unless_a_stand_in_is_given() -> None:
    with pytest.raises(Unbound):
        render("{gpu.node}", {})
    with pytest.raises(Unbound):
        render("{gpu.nope}", {"gpu": {"node": "n"}})
    assert render("{gpu.nope} on {model}", {"model": "m"}, missing="?") == "? on m"


def test_render_value_keeps_the_type_of_a_whole_placeholder() -> None:
    scope = {"want": {"replicas": 6, "nodes": ["a", "b"]}, "model": "qwen-7b"}
    rendered = render_value({"replicas": "{want.replicas}", "nodes": "{want.nodes}", "name": "d/{model}"}, scope)
    assert rendered == {"replicas": 6, "nodes": ["a", "b"], "name": "d/qwen-7b"}
    with pytest.raises(ExpressionError):
        template_names("{gpu..node}")
