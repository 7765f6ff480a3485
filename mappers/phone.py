"""Phone numbers to E.164, the form Kanal matches WhatsApp contacts on.

Rule: candidates are tried in order; each is parsed with its own address's
country as the region, then with the store's default country. The first
number that phonenumbers deems *valid* for its country (not merely of a
plausible length) wins; an invalid one falls through to the next candidate.

Accepted spellings: international ("+33 6 12 34 56 78"), national
("06 12 34 56 78" with region FR), any mix of spaces, dashes, dots and
parentheses, the international dialling prefix "00" (read as "+"), and the
region's own exit code ("011" in the US). Letters are accepted as phone-pad
digits (vanity numbers such as "1-800-FLOWERS"), but only when the result is
a valid number: vanity numbers are real, dialable numbers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import phonenumbers

# Anything longer is not a phone number (phonenumbers itself gives up at 250).
MAX_CHARS = 64
_SEPARATORS = re.compile(r"[\s().\-/]")
_REGION = re.compile(r"[A-Za-z]{2}")


def _region(country: object) -> str | None:
    if isinstance(country, str) and _REGION.fullmatch(country.strip()):
        region = country.strip().upper()
        return region if region in phonenumbers.SUPPORTED_REGIONS else None
    return None


def _text(raw: object) -> str | None:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > MAX_CHARS:
        return None
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00"):
        return "+" + compact[2:]
    return text


# One order's webhooks (create, paid, updated…) carry the same numbers within seconds, and
# parsing is the mapper's most expensive step.
@functools.lru_cache(maxsize=4096)
def _parse(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def to_e164(
    candidates: Iterable[tuple[str | None, str | None]], default_country: str | None
) -> str | None:
    """The first valid number among `(raw number, address country)` candidates, as E.164."""
    default = _region(default_country)
    for raw, country in candidates:
        text = _text(raw)
        if text is None:
            continue
        regions = [_region(country), default] if not text.startswith("+") else [None]
        tried: set[str | None] = set()
        for region in regions:
            if region in tried or (region is None and not text.startswith("+")):
                continue
            tried.add(region)
            e164 = _parse(text, region)
            if e164 is not None:
                return e164
    return None


def mask_phone(phone: str | None) -> str:
    """`phone` with its middle hidden, for logs: "+33612345678" → "+3361*****78"."""
    if not phone:
        return ""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:5] + "*" * (len(phone) - 7) + phone[-2:]
