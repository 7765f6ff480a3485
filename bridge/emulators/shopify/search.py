"""The subset of Shopify's search syntax (the `query:` argument) the bridge uses.

Terms are separated by spaces and must all hold (Shopify's implicit AND). A term is
`field:value`, `field:>value`, `field:>=value`, `field:<value` or `field:<=value`; values may
be quoted with '…' or "…". Dates are ISO 8601 date-times (an offset or Z; none means UTC) or
bare dates (midnight UTC). As at Shopify, a term naming a field the resource cannot be
searched by is ignored, with a warning in `extensions.search`; so are the parts of the syntax
the emulator does not implement (OR, NOT, parentheses, free text), each with a warning saying
so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TERM = re.compile(
    r"""(?P<field>[A-Za-z_]+):(?P<op><=|>=|<|>|=)?(?P<value>'[^']*'|"[^"]*"|\S+)|(?P<bare>\S+)"""
)

Getter = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Term:
    field: str
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class Search:
    """A parsed `query:` string: what filters the records, and the warnings to report."""

    terms: tuple[Term, ...]
    warnings: tuple[dict[str, str], ...]
    query: str

    def matches(self, record: Mapping[str, Any], fields: Mapping[str, Getter]) -> bool:
        return all(_holds(term, fields[term.field](record)) for term in self.terms)

    def report(self, path: str) -> dict[str, Any]:
        """The `extensions.search` entry Shopify adds for a query with warnings."""
        return {
            "path": [path],
            "query": self.query,
            "parsed": {
                "and": [
                    {"field": t.field, "match_all": t.value}
                    if t.op == "="
                    else {"field": t.field, "range_" + _RANGE[t.op]: t.value}
                    for t in self.terms
                ]
            },
            "warnings": list(self.warnings),
        }


_RANGE = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def parse_search(query: str | None, fields: Mapping[str, Getter]) -> Search:
    """Parse `query` for a resource searchable by `fields` (name → value getter)."""
    terms: list[Term] = []
    warnings: list[dict[str, str]] = []
    for match in _TERM.finditer(query or ""):
        if match["bare"] is not None:
            word = match["bare"]
            warnings.append(
                {"field": word, "message": "The emulator only supports field:value terms."}
            )
            continue
        field = match["field"]
        value = match["value"]
        if value[:1] in "'\"" and value[-1:] == value[:1] and len(value) >= 2:
            value = value[1:-1]
        if field not in fields:
            warnings.append({"field": field, "message": "Invalid search field for this query."})
            continue
        terms.append(Term(field, match["op"] or "=", value))
    return Search(tuple(terms), tuple(warnings), query or "")


def instant(value: str) -> datetime | None:
    """An ISO 8601 date or date-time as an aware datetime (UTC when no offset is given)."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _holds(term: Term, actual: Any) -> bool:
    if isinstance(actual, datetime):
        wanted = instant(term.value)
        if wanted is None:
            return False
        return _compare(term.op, actual, wanted)
    if actual is None:
        return False
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            return _compare(term.op, actual, float(term.value))
        except ValueError:
            return False
    text = str(actual).lower()
    return _compare(term.op, text, term.value.lower())


def _compare(op: str, actual: Any, wanted: Any) -> bool:
    if op == "=":
        return bool(actual == wanted)
    if op == ">":
        return bool(actual > wanted)
    if op == ">=":
        return bool(actual >= wanted)
    if op == "<":
        return bool(actual < wanted)
    return bool(actual <= wanted)
