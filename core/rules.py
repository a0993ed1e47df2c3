"""Keyword and regular-expression rules: a candidate scored like any model.

A rules file (YAML or JSON) names, per label in priority order, keywords (whole words or phrases)
and patterns (Python regular expressions); a label's hits in a text are every occurrence of each.
`match: most` gives the label with most hits (ties by file order), `match: first` the first label
with a hit; multi-label samples get every label with a hit. Nothing fired: the `fallback` label, or
no label (counted wrong). Every match is time-limited (the `regex` module's timeout), so a pattern
that backtracks catastrophically fails its trial with a sentence instead of hanging the worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import regex

from core.errors import InputError

MATCH_MODES = ("most", "first")
#: Seconds one pattern may spend on one text before the trial stops with a sentence naming it.
MATCH_TIMEOUT_S = 0.25


class RulesError(InputError):
    """A rules file that cannot be used as it is."""


@dataclass(frozen=True)
class LabelRule:
    label: str
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """A parsed rules file; `labels` in priority order."""

    name: str
    labels: tuple[LabelRule, ...]
    fallback: str | None = None
    match: str = "most"
    case_sensitive: bool = False

    def to_dict(self) -> dict:
        """The file's layout (what `parse_rules` reads back)."""
        data: dict = {"labels": {rule.label: {"keywords": list(rule.keywords), "patterns": list(rule.patterns)}
                                 for rule in self.labels}}
        if self.fallback is not None:
            data["fallback"] = self.fallback
        data.update(match=self.match, case_sensitive=self.case_sensitive)
        return data


def load_rules(path: str | Path) -> RuleSet:
    """Read a rules file (.yaml, .yml or .json); the rule set is named after the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(f"The rules file {path} could not be read ({error.strerror or error}).",
                         hint="Check the path given to --rules.") from error
    return parse_rules_text(text, name=path.name)


def parse_rules_text(text: str, *, name: str) -> RuleSet:
    """A rules file's text (YAML, of which JSON is a part) as a rule set."""
    import yaml

    if not text.strip():
        raise RulesError(f"The rules file {name} is empty.", hint="Give it a 'labels:' section with one entry per label.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise RulesError(f"The rules file {name} is not valid YAML or JSON{line}: {getattr(error, 'problem', error)}.",
                         hint="Check the indentation and quoting there.") from error
    return parse_rules(data, name=name)


def parse_rules(data, *, name: str) -> RuleSet:
    """Check a rules document and return it typed; every problem is a sentence naming the rule."""
    if not isinstance(data, dict) or not isinstance(data.get("labels"), dict) or not data["labels"]:
        raise RulesError(f"The rules file {name} has no labels.",
                         hint="Write a 'labels:' section mapping each label to its keywords and patterns.")
    unknown = sorted(set(data) - {"labels", "fallback", "match", "case_sensitive"})
    if unknown:
        raise RulesError(f"The rules file {name} has unknown keys: {', '.join(unknown)}.",
                         hint="Use labels, fallback, match and case_sensitive.")
    match = data.get("match", "most")
    if match not in MATCH_MODES:
        raise RulesError(f"The rules file {name} says match: {match!r}.", hint="Use 'most' or 'first'.")
    case_sensitive = data.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise RulesError(f"The rules file {name} says case_sensitive: {case_sensitive!r}.", hint="Use true or false.")
    fallback = data.get("fallback")
    rules = RuleSet(name, tuple(_label_rule(name, str(label), entry) for label, entry in data["labels"].items()),
                    None if fallback is None else str(fallback), match, case_sensitive)
    compile_rules(rules)  # every pattern checked now, not on the first text
    return rules


def _label_rule(name: str, label: str, entry) -> LabelRule:
    entry = entry or {}
    if not isinstance(entry, dict) or set(entry) - {"keywords", "patterns"}:
        raise RulesError(f"In {name}, the rule for label {label!r} must have only 'keywords' and 'patterns' lists.",
                         hint="Write it like  bug: {keywords: [crash, error], patterns: ['fails? to \\w+']}")
    terms = {}
    for part in ("keywords", "patterns"):
        values = entry.get(part) or []
        if isinstance(values, str) or not all(isinstance(v, (str, int, float)) for v in values):
            raise RulesError(f"In {name}, the {part} of label {label!r} must be a list of strings.",
                             hint=f"Write it like {part}: [\"first\", \"second\"].")
        terms[part] = tuple(str(v) for v in values if str(v).strip())
    if not terms["keywords"] and not terms["patterns"]:
        raise RulesError(f"In {name}, the rule for label {label!r} has no keywords and no patterns.",
                         hint="Give it at least one, or remove the label from the file.")
    return LabelRule(label, terms["keywords"], terms["patterns"])


def check_labels(rules: RuleSet, label_set: list[str]) -> None:
    """Every label the rules name (and the fallback) must be one of the sample's."""
    known = set(label_set)
    for label in [rule.label for rule in rules.labels] + ([rules.fallback] if rules.fallback is not None else []):
        if label not in known:
            raise RulesError(f"{rules.name} names the label {label!r}, which the sample does not have.",
                             hint=f"The sample's labels: {', '.join(label_set)}.")


@dataclass(frozen=True)
class CompiledRule:
    label: str
    matchers: tuple[tuple[str, regex.Pattern], ...]  # (what the user wrote, compiled)


def keyword_pattern(keyword: str) -> str:
    """A keyword or phrase as a whole-word match (spaces inside a phrase match any whitespace)."""
    words = [regex.escape(word) for word in keyword.split()]
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"


def compile_rules(rules: RuleSet) -> list[CompiledRule]:
    flags = regex.VERSION0 | (0 if rules.case_sensitive else regex.IGNORECASE)
    compiled = []
    for rule in rules.labels:
        matchers = [(f"keyword {kw!r}", regex.compile(keyword_pattern(kw), flags)) for kw in rule.keywords]
        for pattern in rule.patterns:
            try:
                matchers.append((f"pattern {pattern!r}", regex.compile(pattern, flags)))
            except regex.error as error:
                raise RulesError(f"In {rules.name}, the pattern {pattern!r} of label {rule.label!r} is not a valid "
                                 f"regular expression: {error}.", hint="Fix or remove that pattern.") from error
        compiled.append(CompiledRule(rule.label, tuple(matchers)))
    return compiled


@dataclass
class RuleMatcher:
    """A rule set ready to classify texts."""

    rules: RuleSet
    compiled: list[CompiledRule] = field(default_factory=list)
    timeout_s: float = MATCH_TIMEOUT_S

    def __post_init__(self) -> None:
        self.compiled = self.compiled or compile_rules(self.rules)

    def hits(self, text: str) -> list[int]:
        """Per label (file order): how many keyword and pattern occurrences the text has."""
        return [sum(self._count(rule.label, what, matcher, text) for what, matcher in rule.matchers)
                for rule in self.compiled]

    def _count(self, label: str, what: str, matcher: regex.Pattern, text: str) -> int:
        try:
            return sum(1 for _ in matcher.finditer(text, timeout=self.timeout_s))
        except TimeoutError as error:
            raise RulesError(f"In {self.rules.name}, the {what} of label {label!r} took longer than "
                             f"{self.timeout_s:g} s on one text (catastrophic backtracking).",
                             hint="Simplify it: avoid nested repeats like (a+)+ or (\\w*)*.") from error

    def decide(self, hits: list[int], *, multi_label: bool) -> tuple[str, ...]:
        """The label(s) the hits give; the fallback (or nothing) when no rule fired."""
        labels = [rule.label for rule in self.compiled]
        fired = [label for label, count in zip(labels, hits) if count]
        if not fired:
            return (self.rules.fallback,) if self.rules.fallback is not None else ()
        if multi_label:
            return tuple(fired)
        if self.rules.match == "first":
            return (fired[0],)
        return (labels[max(range(len(labels)), key=lambda j: (hits[j], -j))],)


def rules_from_file_or_dict(value) -> RuleSet:
    """A rule set from a trial's settings (its dict, with the name inside) or a path."""
    if isinstance(value, dict):
        return parse_rules({k: v for k, v in value.items() if k != "name"}, name=value.get("name", "rules"))
    return load_rules(value)


def rules_as_settings(rules: RuleSet) -> dict:
    """What a trial spec carries (JSON): the rules themselves, so a stored run can be run again."""
    return {"name": rules.name, **rules.to_dict()}


def dump_rules(rules: RuleSet, *, as_json: bool = False) -> str:
    """The rules file's text, YAML (or JSON), in the layout `parse_rules_text` reads."""
    if as_json:
        return json.dumps(rules.to_dict(), indent=2, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(rules.to_dict(), sort_keys=False, allow_unicode=True)
