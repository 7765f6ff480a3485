"""Logging: one JSON object per line (or a console line), with personal data and secrets masked.

Every record reaching the root handler, the bridge's own and those of uvicorn, RQ and httpx,
goes through `Masking` first: phone numbers, e-mail addresses, bearer tokens, `key=value`
credentials, URL passwords and the configured secrets are masked in the message, in every
extra field and in the exception text. `dict_config` is also what uvicorn gets as its
`log_config`, so each web worker process configures itself the same way.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import phonenumbers

from bridge.errors import ConfigError
from mappers.phone import mask_phone

FORMATS = ("json", "console")

# Libraries whose INFO lines repeat what the bridge logs itself (httpx logs every request).
_QUIET = {"httpx": "WARNING", "httpcore": "WARNING"}

# Attributes every LogRecord has; anything else on a record is an `extra` field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}

_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE)
_BEARER = re.compile(r"\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE)
_CREDENTIAL = re.compile(
    r"""(\b[\w-]*(?:api[_-]?key|secret|password|passwd|token|authorization)[\w-]*)"""
    r"""(["']?\s*[:=]\s*["']?)([^\s"',;&}]{8,})""",
    re.IGNORECASE,
)
_EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)
# International numbers: "+33 6 12 34 56 78", "+1 (613) 555-0135", "+33612345678".
_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d(?:[\s.()-]{0,2}\d){6,14}(?!\d)")
# National numbers written with separators: "(415) 555-0132", "06 12 34 56 78", "415.555.0132".
_NATIONAL = re.compile(r"(?<![\w.+-])\(?\d{2,5}\)?(?:[ .-]\(?\d{2,5}\)?){1,5}(?![\w-])")
# National numbers written as one run of digits starting with a trunk 0: "0612345678".
_TRUNK = re.compile(r"(?<![\w.+-])0\d{9,13}(?![\w-])")
# Numbers written as one bare run of digits, without "+" or separators, as Kanal's error
# bodies echo them: "33612345678" (E.164 without its "+"), "2015550123" (a North American
# number without its country code). Masked only when they parse as a valid number, so that ids,
# unix timestamps and amounts stay readable (`_bare`).
_BARE = re.compile(r"(?<![\w.+-])[1-9]\d{9,14}(?![\w-]|\.\d)")
# What every rule above needs to match (with the rule's own lookbehind), and a configured
# secret: text without any of it comes out of the rules unchanged. "@": e-mail addresses and
# URL passwords; "+" and a digit: international numbers; ten digits: trunk and bare numbers;
# digits, one separator and two digits: national numbers; the words of _BEARER and
# _CREDENTIAL. Ids (a UUID, a hex request id) pass it without a rule run.
_NUMBER_MARK = r"(?<![\w.+-])(?:\d{10}|\(?\d{2,5}\)?[ .-]\(?\d\d)"
_WORDS = r"bearer|basic|token|api[_-]?key|secret|passw|authorization"
_SCREEN = rf"@|(?<![\w+])\+\d|{_NUMBER_MARK}|{_WORDS}"
# The same screen for ASCII text (nearly all log text), in two searches Python's regex engine
# makes three times faster than the one case-insensitive alternation with lookbehinds, which
# tries every rule at every character: the secrets, "@", any "+" and the words in the lowered
# text (`Masker`), and the numbers on their own.
_ASCII_MARKS = rf"[@+]|{_WORDS}"
_NUMBER_MARKS = re.compile(_NUMBER_MARK)
_NOT_A_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,3}(?:\.\d{1,3}){3}$")


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def _international(match: re.Match[str]) -> str:
    return mask_phone("+" + _digits(match.group()))


def _national(match: re.Match[str]) -> str:
    text = match.group()
    digits = _digits(text)
    if not 9 <= len(digits) <= 15 or _NOT_A_PHONE.match(text):
        return text
    return mask_phone(digits)


@functools.lru_cache(maxsize=4096)
def _is_phone(digits: str) -> bool:
    """Whether a bare digit run is a valid number: international (as if it began with "+"),
    or a ten-digit North American one. Other countries write national numbers with their
    trunk 0 (`_TRUNK`); NANP numbers have none, so they are the one bare national form. A
    unix timestamp in seconds (ten digits starting with 1) is neither: NANP area codes never
    start with 1, and "+1" needs ten more digits."""
    candidates: list[tuple[str, str | None]] = [("+" + digits, None)]
    if len(digits) == 10:
        candidates.append((digits, "US"))
    for text, region in candidates:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _bare(match: re.Match[str]) -> str:
    digits = match.group()
    return mask_phone(digits) if _is_phone(digits) else digits


def _trunk(match: re.Match[str]) -> str:
    return mask_phone(match.group())


def every_rule(text: str) -> str:
    """`text` through every masking rule but the configured secrets."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _BEARER.sub(r"\1\2***", text)
    text = _CREDENTIAL.sub(r"\1\2***", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    text = _INTERNATIONAL.sub(_international, text)
    text = _NATIONAL.sub(_national, text)
    text = _TRUNK.sub(_trunk, text)
    return _BARE.sub(_bare, text)


# Values with no text in them: a log record's numbers and flags pass as they are.
_SCALARS = frozenset({int, float, bool})


class Masker:
    """Mask personal data and secrets in text; `secrets` are masked wherever they appear."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        kept = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        lowered = [re.escape(secret.lower()) for secret in kept]
        self._ascii_screen = re.compile("|".join([*lowered, _ASCII_MARKS]))
        self._secrets = re.compile("|".join(map(re.escape, kept))) if kept else None
        self._screen = re.compile("|".join([*map(re.escape, kept), _SCREEN]), re.IGNORECASE)

    def __call__(self, text: str) -> str:
        # Most log text (names, ids, answers) holds nothing to mask: the screen says so.
        if not self.may_change(text):
            return text
        return self.mask_all(text)

    def may_change(self, text: str) -> bool:
        """Whether any rule could change `text` (False: it certainly comes out unchanged)."""
        if not text.isascii():
            return self._screen.search(text) is not None
        return (
            self._ascii_screen.search(text.lower()) is not None
            or _NUMBER_MARKS.search(text) is not None
        )

    def mask_all(self, text: str) -> str:
        """`text` through every rule, without the screen (which only saves time)."""
        if self._secrets is not None:
            text = self._secrets.sub("***", text)
        if text.isdigit() and text.isascii():
            # Digits alone (an id, say): the rules that need a letter, "@", "+" or a separator
            # cannot change them, only the two for numbers written as one run of digits.
            return _BARE.sub(_bare, _TRUNK.sub(_trunk, text))
        return every_rule(text)

    def value(self, value: object) -> object:
        """`value` with every string inside it masked (dicts, lists and tuples walked)."""
        if value is None or type(value) in _SCALARS:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


class Masking(logging.Filter):
    """Rewrite each record with its message, extra fields and exception text masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.mask = Masker(secrets)
        # Neither formatter writes a record's thread or process: the logging module need not
        # look them up for each record (a system call among them; its documented optimisation).
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            _access_fields(record)
        record.msg = self.mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                record.__dict__[key] = self.mask.value(value)
        return True


def _access_fields(record: logging.LogRecord) -> None:
    """uvicorn's access line as fields: client, method, path, status_code."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 5:
        client, method, path, _, status = args
        record.__dict__.update(
            {"client": client, "method": method, "path": path, "status_code": status}
        )


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """A readable line: time, level, logger, message, then the extra fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={value}" for key, value in _extras(record).items())
        if not fields:
            return line
        head, newline, rest = line.partition("\n")
        return f"{head}  {fields}{newline}{rest}"


def dict_config(level: str, fmt: str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The `logging.config.dictConfig` schema of `configure` (also uvicorn's `log_config`)."""
    if fmt not in FORMATS:
        raise ConfigError(f"LOG_FORMAT: must be one of {', '.join(FORMATS)}")
    if level.upper() not in logging.getLevelNamesMapping():
        raise ConfigError("LOG_LEVEL: must be a level (DEBUG, INFO, WARNING, ERROR)")
    formatter = JsonFormatter if fmt == "json" else ConsoleFormatter
    propagate = {"handlers": [], "propagate": True, "level": "NOTSET"}  # as the root says
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"masking": {"()": Masking, "secrets": list(secrets)}},
        "formatters": {"bridge": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "bridge",
                "filters": ["masking"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            **{name: {**propagate, "level": lvl} for name, lvl in _QUIET.items()},
            **{name: propagate for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
            **{name: propagate for name in ("rq.worker", "rq.job", "rq.scheduler")},
        },
    }


def configure(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """Send every log record to stderr, masked, as JSON lines (`json`) or readable lines."""
    logging.config.dictConfig(dict_config(level, fmt, secrets))
