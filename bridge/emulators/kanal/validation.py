"""Kanal's request validation, as pure functions: a body in, Laravel-shaped errors out.

`validate(resource, body)` checks a POST body, `validate_patch(resource, body)` a PATCH
body; both return `{dot.path: [message, ...]}`, empty when Kanal would accept the body.
Messages follow Laravel's English wording ("The customer.phone field is required.", with
underscores shown as spaces as Laravel displays attribute names).

Choices where Kanal's documentation is silent, each on the strict side:
- One message per attribute (as with Laravel's `bail`): the first rule that fails.
- Optional fields are nullable: null, "" and whitespace-only strings count as absent
  (Laravel's TrimStrings + ConvertEmptyStringsToNull middleware), so they clear the field.
  A required field that is null, blank, or an empty array/object is missing.
- A required object (`customer`) that is missing or not an object also reports its own
  required children (`customer.phone`), as Laravel does.
- Numbers must be JSON numbers (int, Decimal or float; never bool, never a numeric
  string, never NaN/Infinity); integers must be ints.
- Dates must be ISO 8601 date-times with a time and an explicit offset or `Z`.
- Phones must be E.164 (`+` then 7 to 15 digits, no leading zero), ASCII digits only.
- Currencies must be exactly three upper-case ASCII letters.
- `tags` must be a JSON array of strings, `line_items` an array of objects, `metadata`
  an object (Laravel's `array` rule would take either; Kanal's documented types are used).
- POST: unknown keys are ignored, as Laravel ignores keys without rules (`clean` drops
  them from what Kanal stores), unless `reject_unknown=True`.
- PATCH: keys other than the PATCH-able fields are refused ("The total price field is
  prohibited."), because a silently ignored field is data the caller believes it sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

Errors = dict[str, list[str]]
Check = Callable[[str, Any, Errors], None]

RESOURCES = ("orders", "checkouts", "customers", "shipments")
PATCHABLE = ("orders", "checkouts")
CHECKOUT_STATUSES = ("active", "abandoned", "recovered", "completed", "expired")
SHIPMENT_STATUSES = ("pending", "in_transit", "delivered", "failed", "returned")

_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?"
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)"
)
# RFC 5322 addr-spec as egulias/EmailValidator's RFCValidation (Laravel's `email`) reads it:
# dot-atom or quoted local part; dot-atom domain (no TLD needed) or domain literal.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_LETDIG = r"[A-Za-z0-9\u0080-\U0010ffff]"
_LABEL = rf"{_LETDIG}(?:[A-Za-z0-9\-\u0080-\U0010ffff]*{_LETDIG})?"
_EMAIL = re.compile(
    rf'(?:{_ATEXT}+(?:\.{_ATEXT}+)*|"(?:[^"\\\r\n]|\\.)*")'
    rf"@(?:{_LABEL}(?:\.{_LABEL})*|\[[^\[\]\\\s]+\])"
)
_URL = re.compile(r"https?://[^\s/?#@]+(?:@[^\s/?#@]+)?(?::[0-9]{1,5})?(?:[/?#]\S*)?", re.I)


def attribute(path: str) -> str:
    """How Laravel shows an attribute in a message: underscores become spaces."""
    return path.replace("_", " ")


def _error(errors: Errors, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message.replace(":attr", attribute(path)))


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, Decimal):
        return value.is_finite()
    if isinstance(value, float):
        return math.isfinite(value)
    return False


def string(max_len: int = 255) -> Check:
    def check(path: str, value: Any, errors: Errors) -> None:
        if not isinstance(value, str):
            _error(errors, path, "The :attr field must be a string.")
        elif len(value) > max_len:
            _error(errors, path, f"The :attr field must not be greater than {max_len} characters.")

    return check


def email(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, str):
        _error(errors, path, "The :attr field must be a string.")
    elif len(value) > 255:
        _error(errors, path, "The :attr field must not be greater than 255 characters.")
    elif not _EMAIL.fullmatch(value):
        _error(errors, path, "The :attr field must be a valid email address.")


def phone(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, str):
        _error(errors, path, "The :attr field must be a string.")
    elif not _PHONE.fullmatch(value):
        _error(errors, path, "The :attr field must be a valid phone number in E.164 format.")


def currency(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, str):
        _error(errors, path, "The :attr field must be a string.")
    elif len(value) != 3:
        _error(errors, path, "The :attr field must be 3 characters.")
    elif not _CURRENCY.fullmatch(value):
        _error(errors, path, "The :attr field must be a valid ISO 4217 currency code.")


def date_time(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, str):
        _error(errors, path, "The :attr field must be a string.")
        return
    if _DATETIME.fullmatch(value):
        try:
            datetime.fromisoformat(value.replace(",", ".").replace("z", "Z"))
            return
        except ValueError:
            pass
    _error(errors, path, "The :attr field must be a valid ISO 8601 date with a time zone offset.")


def price(path: str, value: Any, errors: Errors) -> None:
    if not _is_number(value):
        _error(errors, path, "The :attr field must be a number.")
    elif value < 0:
        _error(errors, path, "The :attr field must be at least 0.")


def count(path: str, value: Any, errors: Errors) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _error(errors, path, "The :attr field must be an integer.")
    elif value < 0:
        _error(errors, path, "The :attr field must be at least 0.")


def url(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, str):
        _error(errors, path, "The :attr field must be a string.")
    elif len(value) > 1024:
        _error(errors, path, "The :attr field must not be greater than 1024 characters.")
    elif not _URL.fullmatch(value):
        _error(errors, path, "The :attr field must be a valid URL.")


def one_of(values: tuple[str, ...]) -> Check:
    def check(path: str, value: Any, errors: Errors) -> None:
        if not isinstance(value, str) or value not in values:
            _error(errors, path, "The selected :attr is invalid.")

    return check


def obj(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, dict):
        _error(errors, path, "The :attr field must be an object.")


def string_list(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, list):
        _error(errors, path, "The :attr field must be an array.")
        return
    for i, item in enumerate(value):
        if not isinstance(item, str):
            _error(errors, f"{path}.{i}", "The :attr field must be a string.")


def object_list(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, list):
        _error(errors, path, "The :attr field must be an array.")
        return
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            _error(errors, f"{path}.{i}", "The :attr field must be an object.")


@dataclass(frozen=True, slots=True)
class Field:
    check: Check
    required: bool = False
    nullable: bool = True
    children: Mapping[str, Field] | None = None


Schema = Mapping[str, Field]

CUSTOMER: Schema = {
    "external_id": Field(string(255)),
    "phone": Field(phone, required=True),
    "first_name": Field(string(255)),
    "last_name": Field(string(255)),
    "email": Field(email),
    "locale": Field(string(10)),
    "tags": Field(string_list),
    "lifetime_value": Field(count),
    "orders_count": Field(count),
}
_CUSTOMER_FIELD = Field(obj, required=True, children=CUSTOMER)

SCHEMAS: dict[str, Schema] = {
    "orders": {
        "external_id": Field(string(255), required=True),
        "placed_at": Field(date_time, required=True),
        "total_price": Field(price, required=True),
        "currency": Field(currency),
        "financial_status": Field(string(64)),
        "fulfillment_status": Field(string(64)),
        "customer": _CUSTOMER_FIELD,
        "line_items": Field(object_list),
        "tags": Field(string_list),
        "metadata": Field(obj),
    },
    "checkouts": {
        "external_id": Field(string(255), required=True),
        "abandoned_at": Field(date_time, required=True),
        "total_price": Field(price, required=True),
        "currency": Field(currency),
        "recovery_url": Field(url),
        "customer": _CUSTOMER_FIELD,
        "line_items": Field(object_list),
        "tags": Field(string_list),
        "metadata": Field(obj),
    },
    "customers": CUSTOMER,
    "shipments": {
        "external_id": Field(string(255), required=True),
        "order_external_id": Field(string(255), required=True),
        "tracking_number": Field(string(255)),
        "tracking_url": Field(url),
        "carrier": Field(string(255)),
        "status": Field(one_of(SHIPMENT_STATUSES)),
        "metadata": Field(obj),
    },
}

PATCH_SCHEMAS: dict[str, Schema] = {
    "orders": {
        "financial_status": Field(string(64)),
        "fulfillment_status": Field(string(64)),
        "tags": Field(string_list),
        "metadata": Field(obj),
    },
    "checkouts": {
        "status": Field(one_of(CHECKOUT_STATUSES), nullable=False),
        "recovery_url": Field(url),
        "tags": Field(string_list),
        "metadata": Field(obj),
    },
}


def _missing_required(value: object) -> bool:
    return _is_blank(value) or (isinstance(value, list | dict) and not value)


def _check(schema: Schema, body: Mapping[str, Any], prefix: str, errors: Errors) -> None:
    for name, field in schema.items():
        path = prefix + name
        value = body.get(name)
        if field.required and _missing_required(value):
            _error(errors, path, "The :attr field is required.")
        elif _is_blank(value) and (field.nullable or name not in body):
            continue
        else:
            field.check(path, value, errors)
        if field.children is not None:
            _check(field.children, value if isinstance(value, dict) else {}, path + ".", errors)


def _prohibit_unknown(schema: Schema, body: Mapping[str, Any], errors: Errors) -> None:
    for name in body:
        if name not in schema:
            _error(errors, str(name), "The :attr field is prohibited.")


def validate(resource: str, body: object, *, reject_unknown: bool = False) -> Errors:
    """Errors Kanal answers with 422 for this POST body; {} when it is accepted."""
    schema = SCHEMAS[resource]
    if not isinstance(body, dict):
        return {"body": ["The request body must be a JSON object."]}
    errors: Errors = {}
    _check(schema, body, "", errors)
    if reject_unknown:
        _prohibit_unknown(schema, body, errors)
    return errors


def validate_patch(resource: str, body: object) -> Errors:
    """Errors Kanal answers with 422 for this PATCH body (orders, checkouts); {} if accepted."""
    schema = PATCH_SCHEMAS[resource]
    if not isinstance(body, dict):
        return {"body": ["The request body must be a JSON object."]}
    errors: Errors = {}
    _check(schema, body, "", errors)
    _prohibit_unknown(schema, body, errors)
    return errors


def summary(errors: Errors) -> str:
    """Laravel's ValidationException message: the first error and how many more."""
    messages = [message for group in errors.values() for message in group]
    if not messages:
        return "The given data was invalid."
    more = len(messages) - 1
    if more == 0:
        return messages[0]
    return f"{messages[0]} (and {more} more error{'s' if more > 1 else ''})"


def _stored(value: Any) -> Any:
    return None if _is_blank(value) else value


def money(value: Any) -> str:
    """A price as Kanal returns it: a string with two decimals (decimal(12,2) column)."""
    amount = Decimal(str(value))
    with localcontext(prec=max(28, amount.adjusted() + 4)):
        return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def clean(resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """What Kanal stores from a valid POST body: the known fields only, every one of them
    (a field left out is cleared: null), blanks as null, prices as two-decimal strings."""
    record = _clean(SCHEMAS[resource], body)
    if record.get("total_price") is not None:
        record["total_price"] = money(record["total_price"])
    return record


def _clean(schema: Schema, body: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, field in schema.items():
        value = _stored(body.get(name))
        if field.children is not None and isinstance(value, dict):
            value = _clean(field.children, value)
        record[name] = value
    return record


def clean_patch(resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a valid PATCH body changes (present keys only; blanks as null)."""
    return {name: _stored(body[name]) for name in PATCH_SCHEMAS[resource] if name in body}
