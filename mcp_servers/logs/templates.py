"""Log template mining: many lines that differ only in their variables become one template with a count.

The approach is Drain's (He et al., ICWS 2017, as in drain3) with a masking pass in front:
1. mask the tokens that are variables by their shape (timestamps, UUIDs, IPs, hex ids, pod names, durations,
   quoted strings, numbers) so that lines of one log statement become identical;
2. look the masked line up in a fixed-depth tree: its token count, then its first few tokens;
3. in that leaf, join the most similar cluster if enough of its literal tokens agree, turning the tokens that
   differ into `<*>`; otherwise start a new cluster.

Everything here is deterministic: the same lines in the same order give the same templates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

WILDCARD = "<*>"
HTTP_METHODS = "GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS"

# Order matters: a timestamp must go before its numbers are masked, a UUID before its hex runs.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    # ISO 8601 / RFC 3339 timestamps, and the `MM-DD HH:MM:SS` header of vLLM lines
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<TS>"),
    (re.compile(r"\b\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<TS>"),
    # klog/glog headers (I1123 23:11:05.112063), keeping the severity letter
    (re.compile(r"\b([IWEF])\d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)?"), r"\1<TS>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<TS>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<UUID>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<IP>"),
    # Kubernetes pod names: <owner>-<replicaset hash>-<5 chars>; the hash has a digit, unlike ordinary words
    (re.compile(r"\b[a-z][a-z0-9.]*(?:-[a-z0-9.]+)*-(?=[a-z0-9]*\d)[a-z0-9]{5,10}-[a-z0-9]{4,5}\b"), "<POD>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<HEX>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<HEX>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)\b"), "<DUR>"),
    # Quoted strings with a digit in them (ids, versions, paths), but not JSON keys nor an HTTP request line,
    # whose method and path say which endpoint failed; words in quotes are usually the message itself
    (re.compile(rf"\"(?!(?:{HTTP_METHODS}) )(?=[^\"]*\d)[^\"]*\"(?!\s*:)|(?<!\w)'(?=[^']*\d)[^']*'"), "<STR>"),
    # Standalone numbers, not parts of versions (v0.8.5 names a build); kept as they are: source line numbers
    # (core.py:400, health.go:183), Xid codes and HTTP status codes
    (re.compile(r"(?<![A-Za-z0-9.])(?<!\.py:)(?<!\.go:)(?<!\.cc:)(?<!\.cpp:)(?<!Xid=)(?<!Xid )(?<!\" )"
                r"[-+]?\d+(?:[.,]\d+)*%?(?![A-Za-z0-9])"), "<NUM>"),
)
_PLACEHOLDER = re.compile(r"^[IWEF]?<[A-Z]+>$|^<\*>$")


def mask(line: str) -> str:
    """The line with its variable parts replaced by typed placeholders such as <NUM>, <IP> and <TS>."""
    for pattern, replacement in _MASKS:
        line = pattern.sub(replacement, line)
    return line


def tokens_of(line: str) -> list[str]:
    return mask(line).split()


def is_placeholder(token: str) -> bool:
    return bool(_PLACEHOLDER.match(token))


def similarity(template: list[str], tokens: list[str]) -> float:
    """The share of the template's literal tokens that the line repeats at the same position.

    Placeholders are left out on both sides: two lines both having a timestamp says nothing about whether
    they come from the same log statement, so a header of placeholders cannot make unrelated messages similar.
    """
    literal = [(a, b) for a, b in zip(template, tokens, strict=True) if not is_placeholder(a)]
    if not literal:
        return 1.0
    return sum(a == b for a, b in literal) / len(literal)


def merge(template: list[str], tokens: list[str]) -> list[str]:
    return [a if a == b else WILDCARD for a, b in zip(template, tokens, strict=True)]


@dataclass
class Template:
    """One cluster of lines: its template, how often it was seen, when, where, and one line as it was."""

    id: int
    tokens: list[str]
    example: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    count: int = 0
    pods: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def observe(self, at: datetime | None, pod: str | None) -> None:
        self.count += 1
        if at is not None:
            self.first_seen = at if self.first_seen is None else min(self.first_seen, at)
            self.last_seen = at if self.last_seen is None else max(self.last_seen, at)
        if pod:
            self.pods[pod] = self.pods.get(pod, 0) + 1


class TemplateMiner:
    """Drain's parse tree: clusters are looked up by token count and leading tokens, then by similarity."""

    def __init__(self, similarity_threshold: float = 0.6, prefix_tokens: int = 2) -> None:
        self.similarity_threshold = similarity_threshold
        self.prefix_tokens = prefix_tokens
        self._leaves: dict[tuple[str, ...], list[Template]] = {}
        self._templates: list[Template] = []

    def add(self, line: str, at: datetime | None = None, pod: str | None = None) -> Template:
        """Files one line under its template (made or widened as needed) and returns that template."""
        tokens = tokens_of(line)
        leaf = self._leaves.setdefault(self._key(tokens), [])
        best = self._closest(leaf, tokens)
        if best is None:
            best = Template(id=len(self._templates) + 1, tokens=tokens, example=line)
            leaf.append(best)
            self._templates.append(best)
        else:
            best.tokens = merge(best.tokens, tokens)
        best.observe(at, pod)
        return best

    def templates(self) -> list[Template]:
        """Most frequent first; ties in the order the templates first appeared."""
        return sorted(self._templates, key=lambda t: (-t.count, t.id))

    def _key(self, tokens: list[str]) -> tuple[str, ...]:
        # As in Drain, a leading token with digits is probably a variable and must not split the tree.
        prefix = [WILDCARD if any(c.isdigit() for c in t) else t for t in tokens[: self.prefix_tokens]]
        return (str(len(tokens)), *prefix)

    def _closest(self, leaf: list[Template], tokens: list[str]) -> Template | None:
        best, best_score = None, -1.0
        for template in leaf:
            score = similarity(template.tokens, tokens)
            if score > best_score:
                best, best_score = template, score
        return best if best is not None and best_score >= self.similarity_threshold else None


def mine(lines: Iterable[tuple[str, datetime | None, str | None]], similarity_threshold: float = 0.6) -> list[Template]:
    """Templates of (line, timestamp, pod) triples, most frequent first."""
    miner = TemplateMiner(similarity_threshold)
    for line, at, pod in lines:
        miner.add(line, at, pod)
    return miner.templates()
