"""The small language runbooks use to read tool results: paths, conditions, count thresholds and templates.

Nothing here evaluates Python: a runbook can only select values, compare them with constants and count.

Paths select values from a tool's JSON result::

    items[*].pods[*].name      # [*] flattens a list (or a dict's values); a missing key selects nothing
    items[0].xid   $           # [N] indexes (negative from the end); `$` is the value itself
    labels["vllm:model"]       # bracketed quotes for keys that are not plain names

Conditions hold for one element; a mapping of `path: test` requires every entry::

    {xid: {in: [48, 79]}, node: gpu-node-2}                 # a bare scalar means eq
    {any: [{phase: Failed}, {"restarts": {ge: 3}}]}         # all / any / none combine conditions
    {none: [{"pods[*].phase": {ne: Running}}]}              # "every pod is Running"

Operators: eq ne gt ge lt le in contains matches exists. A test holds when any selected value passes
(so `pods[*].phase: {ne: Running}` reads "some pod is not Running"); nothing selected never passes,
except `exists: false`. Ordering compares numbers with numbers (numeric strings, as Prometheus returns
them, count as numbers) and strings with strings (ISO timestamps order correctly); mixed types never pass.

Templates fill `{name}` placeholders whose content is a path rooted at a name of the scope: `{model}`,
`{gpu.node}`, `{$.pods[*].name}` (lists join with ", "). Placeholders that are not a name (`{2,3}` in a
regular expression) are left alone. Operands of conditions are templates too, so a signal can refer to
what an earlier one bound: `{node: "{gpu.node}"}`; inside `matches`, filled-in values are regex-escaped.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

STAR = object()  # the [*] step
ROOT = "$"
COMBINATORS = ("all", "any", "none")
OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "contains", "matches", "exists")
_COUNT_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
_STEP = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_-]*)|\[\*\]|\[(-?\d+)\]|\["([^"]*)"\]|\['([^']*)'\]""")
_PLACEHOLDER = re.compile(r"\{(\$|[A-Za-z_][A-Za-z0-9_]*)([^{}\s]*)\}")
_COUNT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+)\s*$")


class ExpressionError(ValueError):
    """A path, condition, count or template that cannot be parsed; the message says where."""


class Unbound(LookupError):
    """A template names something the scope does not hold (yet)."""


# ---- paths -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    text: str
    steps: tuple[Any, ...]  # str key | int index | STAR

    def resolve(self, value: Any) -> list[Any]:
        """Every value the path selects; an empty list when any step finds nothing."""
        current = [value]
        for step in self.steps:
            current = [found for item in current for found in _step(item, step)]
        return current


def _step(item: Any, step: Any) -> list[Any]:
    if step is STAR:
        if isinstance(item, list):
            return item
        return list(item.values()) if isinstance(item, dict) else []
    if isinstance(step, int):
        return [item[step]] if isinstance(item, list) and -len(item) <= step < len(item) else []
    return [item[step]] if isinstance(item, dict) and step in item else []


@lru_cache(maxsize=1024)
def parse_path(text: str) -> Path:
    rooted = text.strip().startswith(ROOT)
    rest = text.strip()[1:] if rooted else text.strip()
    steps: list[Any] = []
    position = 0
    while position < len(rest):
        found = _STEP.match(rest, position)
        # A name needs its dot except as the very first step of an unrooted path ("items", not "$items").
        if found is None or (found.group(1) and not found.group(0).startswith(".") and (rooted or position)):
            raise ExpressionError(f"bad path {text!r} at {rest[position:]!r}")
        key, index, double, single = found.groups()
        if key is not None:
            steps.append(key)
        elif index is not None:
            steps.append(int(index))
        elif double is not None or single is not None:
            steps.append(double if double is not None else single)
        else:
            steps.append(STAR)
        position = found.end()
    return Path(text, tuple(steps))


# ---- templates ---------------------------------------------------------------------------------------------


def template_names(template: str) -> set[str]:
    """The scope names a template needs; raises ExpressionError for a placeholder with a bad path."""
    names = set()
    for root, rest in _PLACEHOLDER.findall(template):
        parse_path(rest)
        names.add(root)
    return names


def value_names(value: Any) -> set[str]:
    """The scope names needed by every string inside a JSON-like value (tool arguments, params)."""
    if isinstance(value, str):
        return template_names(value)
    if isinstance(value, dict):
        return set().union(*(value_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(value_names(v) for v in value))
    return set()


def lookup(root: str, rest: str, scope: Mapping[str, Any]) -> list[Any]:
    if root not in scope or scope[root] is None:
        raise Unbound(root)
    found = [v for v in parse_path(rest).resolve(scope[root]) if v is not None]
    if not found:
        raise Unbound(f"{root}{rest}")
    return found


def render(template: str, scope: Mapping[str, Any], *, missing: str | None = None,
           escape: Callable[[str], str] | None = None) -> str:
    """Fills every placeholder; an unbound one raises Unbound, or becomes `missing` when that is given."""

    def fill(placeholder: re.Match[str]) -> str:
        try:
            text = format_value(lookup(placeholder.group(1), placeholder.group(2), scope))
        except Unbound:
            if missing is None:
                raise
            return missing
        return escape(text) if escape else text

    return _PLACEHOLDER.sub(fill, template)


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Renders the strings inside a JSON-like value; a string that is one whole placeholder keeps its type."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            found = lookup(whole.group(1), whole.group(2), scope)
            return found[0] if len(found) == 1 else found
        return render(value, scope)
    if isinstance(value, dict):
        return {k: render_value(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, scope) for v in value]
    return value


def format_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


# ---- conditions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    path: Path
    op: str
    operand: Any


@dataclass(frozen=True)
class Combine:
    kind: str  # all | any | none
    parts: tuple[Test | Combine, ...]


Condition = Test | Combine


def parse_condition(raw: Any, where: str = "") -> Condition:
    """`where` says where in the condition we are, for error messages."""
    if not isinstance(raw, dict) or not raw:
        raise ExpressionError(f"{where or 'where'}: a condition is a non-empty mapping of path: test, or all/any/none")
    parts: list[Condition] = []
    for key, value in raw.items():
        inner = f"{where}.{key}" if where else str(key)
        if key in COMBINATORS:
            if not isinstance(value, list) or not value:
                raise ExpressionError(f"{inner}: needs a non-empty list of conditions")
            parts.append(Combine(key, tuple(parse_condition(v, f"{inner}[{i}]") for i, v in enumerate(value))))
        else:
            parts.extend(_parse_tests(str(key), value, inner))
    return parts[0] if len(parts) == 1 else Combine("all", tuple(parts))


def _parse_tests(path_text: str, value: Any, where: str) -> list[Test]:
    path = parse_path(path_text)
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ExpressionError(f"{where}: a list needs an operator, e.g. {{in: [...]}}")
        return [Test(path, "eq", value)]
    if not value:
        raise ExpressionError(f"{where}: empty test")
    tests = []
    for op, operand in value.items():
        if op not in OPERATORS:
            raise ExpressionError(f"{where}: unknown operator {op!r} (use one of {', '.join(OPERATORS)})")
        _check_operand(op, operand, f"{where}.{op}")
        tests.append(Test(path, op, operand))
    return tests


def _check_operand(op: str, operand: Any, where: str) -> None:
    if op == "in" and not isinstance(operand, list):
        raise ExpressionError(f"{where}: needs a list")
    if op == "exists" and not isinstance(operand, bool):
        raise ExpressionError(f"{where}: needs true or false")
    if op in ("gt", "ge", "lt", "le") and (isinstance(operand, bool) or not isinstance(operand, int | float | str)):
        raise ExpressionError(f"{where}: needs a number or a string")
    if op == "matches":
        if not isinstance(operand, str):
            raise ExpressionError(f"{where}: needs a regular expression")
        try:
            re.compile(_PLACEHOLDER.sub("x", operand))
        except re.error as error:
            raise ExpressionError(f"{where}: bad regular expression {operand!r}: {error}") from None
    if isinstance(operand, dict | list) and op != "in":
        raise ExpressionError(f"{where}: needs a scalar")
    if isinstance(operand, list) and any(isinstance(o, dict | list) for o in operand):
        raise ExpressionError(f"{where}: needs a list of scalars")


def condition_names(condition: Condition) -> set[str]:
    if isinstance(condition, Combine):
        return set().union(*(condition_names(part) for part in condition.parts))
    return value_names(condition.operand)


def holds(condition: Condition, element: Any, scope: Mapping[str, Any]) -> bool:
    """Whether an element passes; an operand naming something unbound makes its test fail."""
    if isinstance(condition, Combine):
        results = (holds(part, element, scope) for part in condition.parts)
        if condition.kind == "all":
            return all(results)
        return any(results) if condition.kind == "any" else not any(results)
    values = condition.path.resolve(element)
    if condition.op == "exists":
        return any(v is not None for v in values) == condition.operand
    try:
        operand = _fill_operand(condition, scope)
    except Unbound:
        return False
    return any(_compare(condition.op, value, operand) for value in values)


def _fill_operand(test: Test, scope: Mapping[str, Any]) -> Any:
    if test.op == "matches":
        return re.compile(render(test.operand, scope, escape=re.escape))
    if isinstance(test.operand, list):
        return [render(o, scope) if isinstance(o, str) else o for o in test.operand]
    return render(test.operand, scope) if isinstance(test.operand, str) else test.operand


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(value: Any, operand: Any) -> bool:
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        number = _number(value)
        return number is not None and number == operand
    return type(value) is type(operand) and value == operand


def _ordered(value: Any, operand: Any) -> tuple[Any, Any] | None:
    if isinstance(operand, str) and isinstance(value, str):
        return value, operand
    number = _number(value)
    return (number, float(operand)) if number is not None and not isinstance(operand, str) else None


_ORDER = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "eq":
        return _equal(value, operand)
    if op == "ne":
        return value is not None and not _equal(value, operand)
    if op == "in":
        return any(_equal(value, o) for o in operand)
    if op == "matches":
        return isinstance(value, str | int | float) and operand.search(format_value(value)) is not None
    if op == "contains":
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        if isinstance(value, list):
            return any(_equal(v, operand) for v in value)
        return isinstance(value, dict) and operand in value
    pair = _ordered(value, operand)
    return pair is not None and _ORDER[op](*pair)


# ---- counts and the predicate ------------------------------------------------------------------------------


def parse_count(text: str) -> tuple[str, int]:
    found = _COUNT.match(text)
    if not found:
        raise ExpressionError(f"bad count {text!r}: write e.g. '>= 1' or '== 0'")
    return found.group(1), int(found.group(2))


@dataclass(frozen=True)
class Match:
    ok: bool
    elements: list[Any]  # the elements that passed `where`, in the result's order


class Predicate(BaseModel):
    """Select elements of a tool result with `path`, keep those passing `where`, and compare how many
    are left with `count` (default: at least one)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str = ROOT
    where: dict[str, Any] | None = None
    count: str = ">= 1"

    @field_validator("path")
    @classmethod
    def _valid_path(cls, path: str) -> str:
        parse_path(path)
        return path

    @field_validator("where")
    @classmethod
    def _valid_where(cls, where: dict[str, Any] | None) -> dict[str, Any] | None:
        if where is not None:
            parse_condition(where)
        return where

    @field_validator("count")
    @classmethod
    def _valid_count(cls, count: str) -> str:
        parse_count(count)
        return count

    def names(self) -> set[str]:
        """Scope names the operands refer to."""
        return condition_names(parse_condition(self.where)) if self.where else set()

    def evaluate(self, result: Any, scope: Mapping[str, Any]) -> Match:
        condition = parse_condition(self.where) if self.where else None
        elements = [
            element for element in parse_path(self.path).resolve(result)
            if condition is None or holds(condition, element, {**scope, ROOT: element})
        ]
        op, threshold = parse_count(self.count)
        return Match(_COUNT_OPS[op](len(elements), threshold), elements)
