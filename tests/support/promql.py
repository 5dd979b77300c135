"""A small PromQL parser and type checker for the alert rules' offline check
(tests/unit/test_alert_rules.py), where promtool is not installed.

It covers what rule expressions here use, and refuses the rest rather than guess: vector
selectors with label matchers, range selectors and subqueries, numbers, strings, unary minus,
binary operators with PromQL's precedence (`^` right-associative; `bool`; `on`/`ignoring`/
`group_left`/`group_right`), aggregations with `by`/`without` before or after their arguments,
and the functions in FUNCTIONS with their argument types. Types follow Prometheus: a function
that wants a range vector refuses an instant one, `and`/`or`/`unless` want vectors on both
sides, a comparison of two scalars needs `bool`, and the whole expression of an alert must be an
instant vector. Each metric name a selector names is collected, so the caller can check it is
exported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SCALAR, INSTANT, RANGE, STRING = "scalar", "instant vector", "range vector", "string"

FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # name: (argument types, result type)
    "rate": ((RANGE,), INSTANT), "irate": ((RANGE,), INSTANT), "increase": ((RANGE,), INSTANT),
    "delta": ((RANGE,), INSTANT), "idelta": ((RANGE,), INSTANT), "deriv": ((RANGE,), INSTANT),
    "changes": ((RANGE,), INSTANT), "resets": ((RANGE,), INSTANT),
    "avg_over_time": ((RANGE,), INSTANT), "max_over_time": ((RANGE,), INSTANT),
    "min_over_time": ((RANGE,), INSTANT), "sum_over_time": ((RANGE,), INSTANT),
    "count_over_time": ((RANGE,), INSTANT), "last_over_time": ((RANGE,), INSTANT),
    "predict_linear": ((RANGE, SCALAR), INSTANT),
    "histogram_quantile": ((SCALAR, INSTANT), INSTANT),
    "abs": ((INSTANT,), INSTANT), "ceil": ((INSTANT,), INSTANT), "floor": ((INSTANT,), INSTANT),
    "absent": ((INSTANT,), INSTANT), "absent_over_time": ((RANGE,), INSTANT),
    "clamp_min": ((INSTANT, SCALAR), INSTANT), "clamp_max": ((INSTANT, SCALAR), INSTANT),
    "time": ((), SCALAR), "scalar": ((INSTANT,), SCALAR), "vector": ((SCALAR,), INSTANT),
}
AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "group"}
PARAM_AGGREGATIONS = {"topk", "bottomk", "quantile"}  # take a scalar first
SET_OPS = {"and", "or", "unless"}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
# Lowest first, as Prometheus binds them.
PRECEDENCE = [{"or"}, {"and", "unless"}, COMPARISONS, {"+", "-"}, {"*", "/", "%", "atan2"}, {"^"}]
KEYWORDS = SET_OPS | {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}

_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<duration>(?<=[\[:])\s*""" + _DURATION + r""")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+|Inf|NaN)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}\[\],:])
""", re.VERBOSE)


class PromQLError(ValueError):
    pass


@dataclass
class Parsed:
    type: str
    metrics: set[str] = field(default_factory=set)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise PromQLError(f"unexpected character {text[position]!r} at {position}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, match.group(kind).strip()))
        position = match.end()
    return tokens


def parse(text: str) -> Parsed:
    parser = _Parser(tokenize(text))
    result = parser.expression(0)
    if parser.position != len(parser.tokens):
        raise PromQLError(f"unexpected {parser.peek()[1]!r} after a complete expression")
    return Parsed(result, parser.metrics)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0
        self.metrics: set[str] = set()

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token_kind, token = self.peek()
        if (value is not None and token != value) or (kind is not None and token_kind != kind) or token_kind == "end":
            raise PromQLError(f"expected {value or kind}, found {token or 'the end'!r}")
        self.position += 1
        return token

    def _operator_at(self, level: int) -> str | None:
        kind, token = self.peek()
        if level < len(PRECEDENCE) and token in PRECEDENCE[level] and kind in ("op", "ident"):
            return token
        return None

    def expression(self, level: int) -> str:
        if level == len(PRECEDENCE):
            return self.unary()
        left = self.expression(level + 1)
        while (operator := self._operator_at(level)) is not None:
            self.position += 1
            returns_bool = False
            if self.peek()[1] == "bool":
                if operator not in COMPARISONS:
                    raise PromQLError("`bool` follows a comparison only")
                self.position += 1
                returns_bool = True
            self.matching_modifiers()
            # `^` is right-associative: its right side may hold another `^`.
            right = self.expression(level if operator == "^" else level + 1)
            left = self.combine(operator, left, right, returns_bool)
        return left

    def matching_modifiers(self) -> None:
        if self.peek()[1] in ("on", "ignoring"):
            self.position += 1
            self.label_list()
            if self.peek()[1] in ("group_left", "group_right"):
                self.position += 1
                if self.peek()[1] == "(":
                    self.label_list()

    def combine(self, operator: str, left: str, right: str, returns_bool: bool) -> str:
        for side in (left, right):
            if side in (RANGE, STRING):
                raise PromQLError(f"`{operator}` cannot take a {side}")
        if operator in SET_OPS:
            if left != INSTANT or right != INSTANT:
                raise PromQLError(f"`{operator}` is defined between instant vectors only")
            return INSTANT
        if operator in COMPARISONS and left == SCALAR and right == SCALAR and not returns_bool:
            raise PromQLError("a comparison between two scalars needs `bool`")
        return INSTANT if INSTANT in (left, right) else SCALAR

    def unary(self) -> str:
        if self.peek()[1] in ("-", "+"):
            self.position += 1
            operand = self.unary()
            if operand not in (SCALAR, INSTANT):
                raise PromQLError(f"unary minus cannot take a {operand}")
            return operand
        return self.postfix(self.primary())

    def postfix(self, type_: str) -> str:
        while self.peek()[1] == "[":
            # A subquery on an instant expression: `expr[10m:1m]`.
            if type_ != INSTANT:
                raise PromQLError(f"a range or subquery needs an instant vector, not a {type_}")
            self.position += 1
            self.take(kind="duration")
            self.take(":")
            if self.peek()[0] == "duration":
                self.position += 1
            self.take("]")
            type_ = RANGE
        if self.peek()[1] == "offset":
            self.position += 1
            self.take(kind="ident") if self.peek()[0] == "ident" else self._offset_duration()
        return type_

    def _offset_duration(self) -> None:
        kind, token = self.peek()
        if kind == "number" and re.fullmatch(r"\d+", token) and re.fullmatch(r"(?:ms|[smhdwy])", self.peek(1)[1]):
            self.position += 2
            return
        raise PromQLError("offset needs a duration")

    def primary(self) -> str:
        kind, token = self.peek()
        if token == "(":
            self.position += 1
            inner = self.expression(0)
            self.take(")")
            return inner
        if kind == "number":
            self.position += 1
            return SCALAR
        if kind == "string":
            self.position += 1
            return STRING
        if token == "{":
            return self.selector(None)
        if kind != "ident":
            raise PromQLError(f"unexpected {token or 'end of expression'!r}")
        if token in AGGREGATIONS or token in PARAM_AGGREGATIONS:
            return self.aggregation()
        if token in FUNCTIONS and self.peek(1)[1] == "(":
            return self.function()
        if token in KEYWORDS:
            raise PromQLError(f"`{token}` cannot start an expression")
        if self.peek(1)[1] == "(":
            raise PromQLError(f"unknown function {token!r}")
        self.position += 1
        return self.selector(token)

    def selector(self, name: str | None) -> str:
        matchers: list[tuple[str, str, str]] = []
        if self.peek()[1] == "{":
            self.position += 1
            while self.peek()[1] != "}":
                label = self.take(kind="ident")
                operator = self.take(kind="op")
                if operator not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"label matcher operator {operator!r}")
                value = self.take(kind="string")[1:-1]
                if operator in ("=~", "!~"):
                    try:
                        re.compile(value.replace("\\\\", "\\"))
                    except re.error as exc:
                        raise PromQLError(f"bad regular expression {value!r}: {exc}") from None
                matchers.append((label, operator, value))
                if self.peek()[1] == ",":
                    self.position += 1
                elif self.peek()[1] != "}":
                    raise PromQLError("expected , or } in label matchers")
            self.position += 1
        if name is None:
            name = next((v for label, op, v in matchers if label == "__name__" and op == "="), None)
            if name is None:
                raise PromQLError("a selector without a metric name")
        self.metrics.add(name)
        if self.peek()[1] == "[" and self.peek(1)[0] == "duration" and self.peek(2)[1] == "]":
            self.position += 3
            return RANGE
        return INSTANT

    def label_list(self) -> list[str]:
        self.take("(")
        labels: list[str] = []
        while self.peek()[1] != ")":
            labels.append(self.take(kind="ident"))
            if self.peek()[1] == ",":
                self.position += 1
            elif self.peek()[1] != ")":
                raise PromQLError("expected , or ) in a label list")
        self.position += 1
        return labels

    def aggregation(self) -> str:
        operator = self.take(kind="ident")
        if self.peek()[1] in ("by", "without"):
            self.position += 1
            self.label_list()
        self.take("(")
        if operator in PARAM_AGGREGATIONS:
            if self.expression(0) != SCALAR:
                raise PromQLError(f"{operator} takes a scalar first")
            self.take(",")
        argument = self.expression(0)
        self.take(")")
        if self.peek()[1] in ("by", "without"):
            self.position += 1
            self.label_list()
        if argument != INSTANT:
            raise PromQLError(f"{operator} aggregates an instant vector, not a {argument}")
        return INSTANT

    def function(self) -> str:
        name = self.take(kind="ident")
        wanted, result = FUNCTIONS[name]
        self.take("(")
        given: list[str] = []
        while self.peek()[1] != ")":
            given.append(self.expression(0))
            if self.peek()[1] == ",":
                self.position += 1
            elif self.peek()[1] != ")":
                raise PromQLError(f"expected , or ) in {name}()")
        self.position += 1
        if tuple(given) != wanted:
            raise PromQLError(f"{name}() takes ({', '.join(wanted)}), was given ({', '.join(given)})")
        return result
