"""Kanal's request validation, as pure functions: a body in, Laravel-shaped errors out.

`validate(resource, body)` checks a POST body, `validate_patch(resource, body)` a PATCH
body, `validate_path_id(external_id)` the id in a PATCH or DELETE path; each returns
`{dot.path: [message, ...]}`, empty when Kanal would accept the request. Messages follow
Laravel's English wording ("The customer.phone field is required.", with underscores shown
as spaces as Laravel displays attribute names).

Choices where Kanal's documentation is silent, each on the strict side:
- One message per attribute (as with Laravel's `bail`): the first rule that fails.
- Optional fields are nullable: null, "" and whitespace-only strings count as absent
  (Laravel's TrimStrings + ConvertEmptyStringsToNull middleware), so they clear the field.
  A required field that is null, blank, or an empty array/object is missing.
- A required object (`customer`) that is missing or not an object also reports its own
  required children (`customer.phone`), as Laravel does.
- Unknown keys are refused ("The customer.fist name field is prohibited."), at the top level
  and inside `customer` and each line item; only `metadata` is free-form. Kanal's Laravel
  validation most likely drops a key it has no rule for, so a misspelled field would lose
  data silently in production: the emulator makes it a 422 instead (`allow_unknown=True`
  gives Kanal's probable behaviour, for demo mode, which warns).
- Line items are documented as free-form objects with `title`, `quantity` and `price` in
  Kanal's example. The keys known here are those three and the ones the bridge's mappers
  send besides (`sku`, `product_id`, `variant_id`, `variant_title`): strings of at most
  255 characters, `quantity` an integer >= 0, `price` a number >= 0 (stored as JSON, so
  no column precision applies). None is required.
- Numbers must be JSON numbers (int, Decimal or float; never bool, never a numeric
  string, never NaN/Infinity); integers must be ints within PHP's 64-bit range (a larger
  JSON integer decodes to a float in PHP and fails Laravel's `integer`).
- `total_price` must fit Kanal's decimal(12,2) column (prices come back as "49.90"):
  at most 10 integer digits and 2 decimals. Laravel's `numeric` rule takes any number;
  MySQL in strict mode (Laravel's default) rounds extra decimals with only a note, and
  refuses more than 10 integer digits with error 1264, which Laravel answers with a 500.
  Both are refused here with a 422: a value Kanal would change or cannot store is a bug
  on the sender's side, and a 500 would be retried for two days.
- Dates must be ISO 8601 date-times with a time and an explicit offset or `Z`.
- Phones must be E.164 (`+` then 7 to 15 digits, no leading zero), ASCII digits only.
- Currencies must be current ISO 4217 codes (the `iso4217` package pins the ISO 4217
  maintenance agency's List One; its version names the list's publication date), not any
  three letters.
- `tags` must be a JSON array of strings, `line_items` an array of objects, `metadata`
  an object (Laravel's `array` rule would take either; Kanal's documented types are used).
- Size limits where Kanal documents none: every string 255 characters unless documented
  otherwise (Laravel's `string|max:255`, a varchar(255) column: what every other free string
  of Kanal's API has); `tags` at most 250 entries (Shopify's own cap on a resource's tags,
  shopify.dev changelog 2019-03-04); `line_items` at most 500 (Shopify caps a draft order
  at 499 line items and a cart at about as many, shopify.dev changelog 2025-07); `metadata`
  at most 64 KiB encoded (what a MySQL TEXT column holds, the smallest place a Laravel app
  keeps a free-form object; the bridge's own metadata stays under 12 KiB).
- PATCH: keys other than the PATCH-able fields are refused ("The total price field is
  prohibited."), because a silently ignored field is data the caller believes it sent.
- PATCH and DELETE paths: a blank external id, or one over 255 characters, is refused
  with a 422 on `external_id` rather than answered 404/204 (which would hide the bug).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import iso4217
import orjson

Errors = dict[str, list[str]]
Check = Callable[[str, Any, Errors], None]

RESOURCES = ("orders", "checkouts", "customers", "shipments")
PATCHABLE = ("orders", "checkouts")
CHECKOUT_STATUSES = ("active", "abandoned", "recovered", "completed", "expired")
SHIPMENT_STATUSES = ("pending", "in_transit", "delivered", "failed", "returned")

# Current ISO 4217 alphabetic codes (List One), from the pinned `iso4217` package.
CURRENCIES = frozenset(code for code in iso4217.raw_table if code)

STRING_MAX = 255
TAGS_MAX = 250
LINE_ITEMS_MAX = 500
METADATA_MAX_BYTES = 64 * 1024
INTEGER_MAX = 2**63 - 1  # PHP_INT_MAX
PRICE_INTEGER_DIGITS = 10  # decimal(12,2)
PRICE_DECIMALS = 2

_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
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


def string(max_len: int = STRING_MAX) -> Check:
    def check(path: str, value: Any, errors: Errors) -> None:
        if not isinstance(value, str):
            _error(errors, path, "The :attr field must be a string.")
        elif len(value) > max_len:
            _error(errors, path, f"The :attr field must not be greater than {max_len} characters.")

    return check


def email(path: str, value: Any, errors: Errors) -> None:
    if not isinstance(value, str):
        _error(errors, path, "The :attr field must be a string.")
    elif len(value) > STRING_MAX:
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
    elif value not in CURRENCIES:
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


def amount(path: str, value: Any, errors: Errors) -> None:
    """A number >= 0 (line-item prices: stored as JSON, no column precision)."""
    if not _is_number(value):
        _error(errors, path, "The :attr field must be a number.")
    elif value < 0:
        _error(errors, path, "The :attr field must be at least 0.")


def price(path: str, value: Any, errors: Errors) -> None:
    """A number >= 0 that a decimal(12,2) column holds exactly."""
    amount(path, value, errors)
    if path in errors:
        return
    exact = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    exponent = exact.normalize().as_tuple().exponent
    if exact >= 10**PRICE_INTEGER_DIGITS:
        limit = "9" * PRICE_INTEGER_DIGITS + "." + "9" * PRICE_DECIMALS
        _error(errors, path, f"The :attr field must not be greater than {limit}.")
    elif isinstance(exponent, int) and exponent < -PRICE_DECIMALS:
        _error(errors, path, "The :attr field must have 0-2 decimal places.")


def count(path: str, value: Any, errors: Errors) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value > INTEGER_MAX:
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


def free_object(path: str, value: Any, errors: Errors) -> None:
    """Any JSON object (metadata), up to METADATA_MAX_BYTES encoded."""
    if not isinstance(value, dict):
        _error(errors, path, "The :attr field must be an object.")
        return
    try:
        size = len(orjson.dumps(value, default=str))
    except TypeError:  # pragma: no cover - parsed JSON always encodes
        size = METADATA_MAX_BYTES + 1
    if size > METADATA_MAX_BYTES:
        kib = METADATA_MAX_BYTES // 1024
        _error(errors, path, f"The :attr field must not be greater than {kib} kilobytes.")


def _array(path: str, value: Any, errors: Errors, max_items: int) -> bool:
    if not isinstance(value, list):
        _error(errors, path, "The :attr field must be an array.")
        return False
    if len(value) > max_items:
        _error(errors, path, f"The :attr field must not have more than {max_items} items.")
        return False
    return True


def string_list(path: str, value: Any, errors: Errors) -> None:
    """`tags`: at most TAGS_MAX strings of at most STRING_MAX characters."""
    if not _array(path, value, errors, TAGS_MAX):
        return
    check = string(STRING_MAX)
    for i, item in enumerate(value):
        check(f"{path}.{i}", item, errors)


def object_list(max_items: int) -> Check:
    def check(path: str, value: Any, errors: Errors) -> None:
        if not _array(path, value, errors, max_items):
            return
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                _error(errors, f"{path}.{i}", "The :attr field must be an object.")

    return check


@dataclass(frozen=True, slots=True)
class Field:
    """One attribute's rule. `children`: the schema of an object value (`customer`);
    `items`: the schema of each object in an array value (`line_items`)."""

    check: Check
    required: bool = False
    nullable: bool = True
    children: Mapping[str, Field] | None = None
    items: Mapping[str, Field] | None = None


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

LINE_ITEM: Schema = {
    "title": Field(string(STRING_MAX)),
    "quantity": Field(count),
    "price": Field(amount),
    "sku": Field(string(STRING_MAX)),
    "product_id": Field(string(STRING_MAX)),
    "variant_id": Field(string(STRING_MAX)),
    "variant_title": Field(string(STRING_MAX)),
}
_LINE_ITEMS_FIELD = Field(object_list(LINE_ITEMS_MAX), items=LINE_ITEM)

SCHEMAS: dict[str, Schema] = {
    "orders": {
        "external_id": Field(string(255), required=True),
        "placed_at": Field(date_time, required=True),
        "total_price": Field(price, required=True),
        "currency": Field(currency),
        "financial_status": Field(string(64)),
        "fulfillment_status": Field(string(64)),
        "customer": _CUSTOMER_FIELD,
        "line_items": _LINE_ITEMS_FIELD,
        "tags": Field(string_list),
        "metadata": Field(free_object),
    },
    "checkouts": {
        "external_id": Field(string(255), required=True),
        "abandoned_at": Field(date_time, required=True),
        "total_price": Field(price, required=True),
        "currency": Field(currency),
        "recovery_url": Field(url),
        "customer": _CUSTOMER_FIELD,
        "line_items": _LINE_ITEMS_FIELD,
        "tags": Field(string_list),
        "metadata": Field(free_object),
    },
    "customers": CUSTOMER,
    "shipments": {
        "external_id": Field(string(255), required=True),
        "order_external_id": Field(string(255), required=True),
        "tracking_number": Field(string(255)),
        "tracking_url": Field(url),
        "carrier": Field(string(255)),
        "status": Field(one_of(SHIPMENT_STATUSES)),
        "metadata": Field(free_object),
    },
}

PATCH_SCHEMAS: dict[str, Schema] = {
    "orders": {
        "financial_status": Field(string(64)),
        "fulfillment_status": Field(string(64)),
        "tags": Field(string_list),
        "metadata": Field(free_object),
    },
    "checkouts": {
        "status": Field(one_of(CHECKOUT_STATUSES), nullable=False),
        "recovery_url": Field(url),
        "tags": Field(string_list),
        "metadata": Field(free_object),
    },
}


def _missing_required(value: object) -> bool:
    return _is_blank(value) or (isinstance(value, list | dict) and not value)


def _check(
    schema: Schema, body: Mapping[str, Any], prefix: str, errors: Errors, unknown: list[str]
) -> None:
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
            _check(
                field.children,
                value if isinstance(value, dict) else {},
                path + ".",
                errors,
                unknown,
            )
        if field.items is not None and isinstance(value, list) and path not in errors:
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _check(field.items, item, f"{path}.{i}.", errors, unknown)
    for name in body:
        if name not in schema:
            unknown.append(f"{prefix}{name}")


def _prohibit(unknown: list[str], errors: Errors) -> None:
    for path in unknown:
        _error(errors, path, "The :attr field is prohibited.")


def unknown_keys(resource: str, body: object) -> list[str]:
    """Dot paths of the keys of a POST body that Kanal has no rule for (metadata aside)."""
    if not isinstance(body, dict):
        return []
    unknown: list[str] = []
    _check(SCHEMAS[resource], body, "", {}, unknown)
    return unknown


def validate(resource: str, body: object, *, allow_unknown: bool = False) -> Errors:
    """Errors Kanal answers with 422 for this POST body; {} when it is accepted.

    Unknown keys (top level, `customer`, line items) are errors unless `allow_unknown`."""
    schema = SCHEMAS[resource]
    if not isinstance(body, dict):
        return {"body": ["The request body must be a JSON object."]}
    errors: Errors = {}
    unknown: list[str] = []
    _check(schema, body, "", errors, unknown)
    if not allow_unknown:
        _prohibit(unknown, errors)
    return errors


def validate_patch(resource: str, body: object) -> Errors:
    """Errors Kanal answers with 422 for this PATCH body (orders, checkouts); {} if accepted."""
    schema = PATCH_SCHEMAS[resource]
    if not isinstance(body, dict):
        return {"body": ["The request body must be a JSON object."]}
    errors: Errors = {}
    unknown: list[str] = []
    _check(schema, body, "", errors, unknown)
    _prohibit(unknown, errors)
    return errors


def validate_path_id(external_id: str) -> Errors:
    """Errors for the external id in a PATCH or DELETE path; {} when it is usable."""
    errors: Errors = {}
    if not external_id.strip():
        _error(errors, "external_id", "The :attr field is required.")
    else:
        string(255)("external_id", external_id, errors)
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
    (a field left out is cleared: null), blanks as null, prices as two-decimal strings.
    Line items are kept as sent (Kanal stores them free-form)."""
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
