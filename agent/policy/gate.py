"""The remediation policy gate: policies/*.rego and policies/data.yaml, evaluated in-process by regopy.

Every action the agent proposes goes through `PolicyGate.decide`, which answers allow, require_approval or
deny with reasons. The gate fails closed: a policy that does not load, a query that errors and a result of
the wrong shape all become a deny for every action, with a reason that names the file and the error, and
nothing here raises into the caller.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import regopy
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from regopy.rego_shared import rego_node_value

from agent.policy.data import PolicyConfig, merge
from agent.policy.input import IncidentFacts, PolicyInput, ProposedAction
from agent.vocabulary import Verdict

DATA_FILE = "data.yaml"
QUERY = "data.firebreak.remediation.result"


class PolicyRuling(BaseModel):
    """The gate's answer on one proposed action; `policy_version` goes to the audit log with it."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    reasons: list[str] = Field(min_length=1)
    policy_version: str
    dry_run: bool = False  # record the action instead of carrying it out


class _RegoResult(BaseModel):
    """The shape the Rego result must have (its `decision` is the verdict); anything else is a policy bug and
    a deny."""

    model_config = ConfigDict(extra="forbid")

    decision: Verdict
    reasons: list[str] = Field(min_length=1)
    dry_run: bool


class PolicyError(Exception):
    """Why a policy could not be loaded or evaluated, worded for the reason of a deny."""


class PolicyGate:
    def __init__(
        self, version: str, interpreter: regopy.Interpreter | None, error: str | None = None, modules: str = ""
    ) -> None:
        self.policy_version = version
        self.error = error  # None when the policy loaded; otherwise every decision is a deny with it
        self._interpreter = interpreter
        self._modules = modules  # rego-cpp locates no query-time error, so such reasons name every module
        self._lock = threading.Lock()  # the interpreter holds the input between set_input and query

    @classmethod
    def load(cls, policy_dir: Path, overrides: Mapping[str, Any] | None = None) -> PolicyGate:
        """Load every *.rego in policy_dir and its data.yaml (deep-merged with overrides); never raises."""
        policy_dir = Path(policy_dir)
        version = policy_version(policy_dir, overrides)
        try:
            interpreter, modules = _compile(policy_dir, overrides or {})
            gate = cls(version, interpreter, modules=modules)
            gate._evaluate(_PROBE)  # rego-cpp compiles lazily: the first query finds what add_module let pass
        except PolicyError as exc:
            return cls(version, None, str(exc))
        except Exception as exc:  # the gate must come up (closed) whatever the engine throws
            return cls(version, None, f"{dir_label(policy_dir)}: {type(exc).__name__}: {exc}")
        return gate

    def decide(self, request: PolicyInput) -> PolicyRuling:
        if self.error is not None:
            return self._deny(f"policy failed to load: {self.error}")
        try:
            result = self._evaluate(request)
        except PolicyError as exc:
            return self._deny(f"policy evaluation failed: {exc}")
        except Exception as exc:  # an engine failure must deny, not escape into the agent
            return self._deny(f"policy evaluation failed: {type(exc).__name__}: {exc}")
        return PolicyRuling(verdict=result.decision, reasons=result.reasons, dry_run=result.dry_run,
                            policy_version=self.policy_version)

    def _deny(self, reason: str) -> PolicyRuling:
        return PolicyRuling(verdict="deny", reasons=[reason], policy_version=self.policy_version)

    def _evaluate(self, request: PolicyInput) -> _RegoResult:
        assert self._interpreter is not None
        with self._lock:
            self._interpreter.set_input(regopy.Input(request.as_input()))
            try:
                output = self._interpreter.query(QUERY)
            except json.JSONDecodeError as exc:  # regopy parses the engine's JSON text as it returns
                raise PolicyError(f"{self._modules}: {QUERY}: the engine returned unreadable output ({exc})") from exc
        if not output.ok():
            raise PolicyError(f"{self._modules}: {QUERY}: {_query_errors(output)}")
        text = str(output)
        if text == "undefined":
            raise PolicyError(f"{self._modules}: {QUERY} is undefined: no module defines it")
        expressions = json.loads(text).get("expressions", [])
        if len(expressions) != 1:
            raise PolicyError(f"{self._modules}: {QUERY} gave {len(expressions)} values, not one")
        try:
            return _RegoResult.model_validate(expressions[0])
        except ValidationError as exc:
            raise PolicyError(f"{self._modules}: {QUERY} is malformed: {_problems(exc)}") from exc


_PROBE = PolicyInput(action=ProposedAction(kind="escalate", target="incident/probe"),
                     incident=IncidentFacts(id="probe"), now=0)


def policy_version(policy_dir: Path, overrides: Mapping[str, Any] | None = None) -> str:
    """A digest of the policy files' bytes (and of any overrides): equal policies give equal versions."""
    digest = hashlib.sha256()
    files = (sorted(policy_dir.glob("*.rego")) + [policy_dir / DATA_FILE]) if policy_dir.is_dir() else []
    for path in files:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + _bytes(path) + b"\0")
    if overrides:
        digest.update(json.dumps(overrides, sort_keys=True, default=str).encode())
    return f"sha256:{digest.hexdigest()}"


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # loading reports the file; the version only has to be stable
        return b"<unreadable>"


def _compile(policy_dir: Path, overrides: Mapping[str, Any]) -> tuple[regopy.Interpreter, str]:
    """The interpreter with every module and the data added, and the modules' names for reasons."""
    if not policy_dir.is_dir():
        raise PolicyError(f"{dir_label(policy_dir)}: not a directory")
    modules = sorted(policy_dir.glob("*.rego"))
    if not modules:
        raise PolicyError(f"{dir_label(policy_dir)}: no *.rego policy files")
    config = _load_config(policy_dir / DATA_FILE, overrides)
    interpreter = regopy.Interpreter()
    interpreter.log_level = regopy.LogLevel.NONE  # errors come back as exceptions; don't print them too
    interpreter.strict_built_in_errors = True  # a failing builtin errors the query (deny), never drops a rule
    for path in modules:
        name, source = _label(path), _read(path)
        try:
            interpreter.add_module(name, source)
        except regopy.RegoError as exc:
            raise PolicyError(_compile_errors(str(exc.args[0]) if exc.args else "", name, source)) from exc
    interpreter.add_data({"firebreak": {"config": config.as_data()}})
    return interpreter, ", ".join(_label(path) for path in modules)


def _load_config(path: Path, overrides: Mapping[str, Any]) -> PolicyConfig:
    if not path.is_file():
        raise PolicyError(f"{_label(path)}: not found")
    try:
        raw = yaml.safe_load(_read(path))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{_label(path)}: {_one_line(str(exc))}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"{_label(path)}: expected a mapping at the top")
    try:
        return PolicyConfig.model_validate(merge(raw, overrides))
    except ValidationError as exc:
        raise PolicyError(f"{_label(path)}: {_problems(exc)}") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{_label(path)}: cannot read: {exc}") from exc


def _label(path: Path) -> str:
    """How reasons name a file: its directory and name, e.g. policies/remediation.rego."""
    path = path.resolve()
    return f"{path.parent.name}/{path.name}"


def dir_label(path: Path) -> str:
    """How reasons name a directory: its name and a slash, e.g. policies/."""
    return f"{path.resolve().name}/"


# rego-cpp reports compile errors as an S-expression with length-prefixed strings:
#   (error 25:policies/remediation.rego|6982|21 (errormsg 18:Invalid collection) ...)
_ERROR = re.compile(r"\(error (\d+):")
_LOCATION = re.compile(r"\|(\d+)\|\d+")
_MESSAGE = re.compile(r"\(errormsg (\d+):")


def _compile_errors(text: str, name: str, source: str) -> str:
    """`file:line:col: message` for each error rego-cpp reports, or its raw text if that cannot be read."""
    found = []
    for match in _ERROR.finditer(text):
        file = _take(text, match.end(), int(match.group(1)))
        rest = text[match.end() + len(file) :]
        location, message = _LOCATION.match(rest), _MESSAGE.search(rest)
        if message is None:
            continue
        where = _line_col(source, int(location.group(1))) if location and file == name else ""
        found.append(f"{file or name}{where}: {_take(rest, message.end(), int(message.group(1)))}")
    return "; ".join(dict.fromkeys(found)) or f"{name}: {_one_line(text)}"


def _take(text: str, start: int, length: int) -> str:
    return text[start : start + length]


def _line_col(source: str, offset: int) -> str:
    before = source.encode()[:offset].decode(errors="replace")
    return f":{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


def _query_errors(output: regopy.Output) -> str:
    """The messages of a failed query's error nodes (error sequence > error > message, ast, code)."""
    errors = output.node()
    messages = []
    for i in range(len(errors)):
        error = errors.at(i)
        # Node.value refuses error nodes; the C API's node value reads their text.
        message, code = (rego_node_value(error.at(j)._impl) for j in (0, 2))
        messages.append(f"{code}: {message}" if code else message)
    return "; ".join(messages) or "the query failed without a message"


def _problems(exc: ValidationError) -> str:
    return "; ".join(": ".join(filter(None, (".".join(map(str, e["loc"])), e["msg"]))) for e in exc.errors())


def _one_line(text: str) -> str:
    return " ".join(text.split())

