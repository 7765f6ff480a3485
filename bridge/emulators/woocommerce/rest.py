"""WordPress REST conventions the WooCommerce API inherits: error bodies and argument checks.

Every error is `{"code": …, "message": …, "data": {"status": N, …}}`. Arguments are checked
before the permission callback runs (`WP_REST_Server::dispatch`, then `respond_to_request`),
and every invalid one is reported at once, worded as `rest_validate_value_from_schema` words
it (WordPress `wp-includes/rest-api.php`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

# `rest_parse_date`: RFC 3339, `T` or a space between date and time, optional fraction and offset.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
_INTEGER = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_TRUE = ("true", "1")
_FALSE = ("false", "0", "")


class RestError(Exception):
    """A WordPress/WooCommerce error answer."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "data": {"status": self.status, **self.data},
        }


def no_route() -> RestError:
    return RestError(
        404, "rest_no_route", "No route was found matching the URL and request method."
    )


def invalid_json(reason: str) -> RestError:
    return RestError(
        400,
        "rest_invalid_json",
        "Invalid JSON body passed.",
        json_error_code=4,
        json_error_message=reason,
    )


def missing(names: Sequence[str]) -> RestError:
    return RestError(
        400,
        "rest_missing_callback_param",
        f"Missing parameter(s): {', '.join(names)}",
        params=list(names),
    )


def english_list(items: Sequence[str]) -> str:
    """`wp_sprintf('%l', …)`: "a", "a and b", "a, b, and c"."""
    if len(items) < 3:
        return " and ".join(items)
    return f"{', '.join(items[:-1])}, and {items[-1]}"


class Args:
    """The request's arguments (query string, then body), checked the WordPress way.

    Each reader returns the value (or the default) and remembers what was invalid;
    `check()` raises one `rest_invalid_param` naming them all.
    """

    def __init__(self, query: Mapping[str, list[str]], body: Mapping[str, Any] | None = None):
        self._values: dict[str, Any] = {name: values[-1] for name, values in query.items()}
        self._lists = {name.removesuffix("[]"): values for name, values in query.items()}
        if body:
            self._values.update(body)
        self._errors: dict[str, tuple[str, str]] = {}

    def has(self, name: str) -> bool:
        return name in self._values or name in self._lists

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def _fail(self, name: str, code: str, message: str) -> None:
        self._errors.setdefault(name, (code, message))

    def integer(
        self, name: str, default: int | None, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _INTEGER.match(value))
        ):
            self._fail(name, "rest_invalid_type", f"{name} is not of type integer.")
            return default
        number = int(float(value)) if isinstance(value, str) else value
        if minimum is not None and maximum is not None and not minimum <= number <= maximum:
            message = f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)"
            self._fail(name, "rest_out_of_bounds", message)
        elif minimum is not None and number < minimum:
            self._fail(
                name, "rest_out_of_bounds", f"{name} must be greater than or equal to {minimum}"
            )
        return number

    def enum(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self._values.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self._fail(name, "rest_invalid_type", f"{name} is not of type string.")
            return default
        if value not in choices:
            self._fail(name, "rest_not_in_enum", f"{name} is not one of {english_list(choices)}.")
            return default
        return value

    def enum_list(self, name: str, default: list[str], choices: Sequence[str]) -> list[str]:
        """An array argument: `a,b`, `name[]=a&name[]=b` or a JSON list (`wp_parse_list`)."""
        values = self._list(name)
        if values is None:
            return default
        for index, value in enumerate(values):
            if value not in choices:
                message = f"{name}[{index}] is not one of {english_list(choices)}."
                self._fail(name, "rest_not_in_enum", message)
                return default
        return values

    def id_list(self, name: str) -> list[int]:
        """`wp_parse_id_list`: the non-negative integers among the items (others count as 0)."""
        values = self._list(name) or []
        ids = []
        for value in values:
            try:
                number = abs(int(value))
            except ValueError:
                number = 0
            if number and number not in ids:
                ids.append(number)
        return ids

    def _list(self, name: str) -> list[str] | None:
        if name in self._lists and len(self._lists[name]) > 1:
            return [str(v) for v in self._lists[name]]
        value = self._values.get(name, self._values.get(f"{name}[]"))
        if value is None:
            return None
        if isinstance(value, list):
            return [str(v) for v in value]
        return [part for part in re.split(r"[\s,]+", str(value)) if part]

    def boolean(self, name: str, default: bool) -> bool:
        value = self._values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self._fail(name, "rest_invalid_type", f"{name} is not of type boolean.")
        return default

    def date_time(self, name: str) -> datetime | None:
        value = self._values.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not _DATE_TIME.match(value):
            self._fail(name, "rest_invalid_date", "Invalid date.")
            return None
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self._fail(name, "rest_invalid_type", f"{name} is not of type string.")
            return default
        return value

    def require(self, names: Iterable[str]) -> None:
        absent = [name for name in names if self._values.get(name) is None]
        if absent:
            raise missing(absent)

    def check(self) -> None:
        if self._errors:
            names = list(self._errors)
            raise RestError(
                400,
                "rest_invalid_param",
                f"Invalid parameter(s): {', '.join(names)}",
                params={name: message for name, (_, message) in self._errors.items()},
                details={
                    name: {"code": code, "message": message, "data": None}
                    for name, (code, message) in self._errors.items()
                },
            )
