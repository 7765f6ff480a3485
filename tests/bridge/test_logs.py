"""Structured logs: JSON lines, console lines, and masking of personal data and secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import logs
from bridge.errors import ConfigError, KanalError
from bridge.logs import JsonFormatter, Masker, Masking, every_rule

SECRET = "test-webhook-secret-0123456789abcdef"


@pytest.fixture
def mask() -> Masker:
    return Masker([SECRET])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("phone +33 6 12 34 56 78 ok", "phone +3361*****78 ok"),
        ("+33612345678", "+3361*****78"),
        ("+1 613-555-0135", "+1613*****35"),
        ('{"phone":"+16135550135"}', '{"phone":"+1613*****35"}'),
        ("call (415) 555-0132", "call 41555***32"),
        ("tel 06 12 34 56 78", "tel 06123***78"),
        ("0612345678", "06123***78"),
        ("john.doe+shop@example.com", "j***@example.com"),
        ("mail: Jane@Mail.Example.co.uk.", "mail: J***@Mail.Example.co.uk."),
        ("Authorization: Bearer e2eKanalKey0123", "Authorization: Bearer ***"),
        ("Basic dXNlcjpwYXNzd29yZA==", "Basic ***"),
        (
            "redis://:p4ssw0rd@ec2.compute.amazonaws.com:6379",
            "redis://:***@ec2.compute.amazonaws.com:6379",
        ),
        ("api_key=abcdefgh12345", "api_key=***"),
        ('"webhook_secret": "abcdefgh12345"', '"webhook_secret": "***"'),
        (f"signed with {SECRET}!", "signed with ***!"),
        # Bare digit runs that are valid numbers, as Kanal's error bodies echo them.
        (
            '{"customer.phone":["2015550123 is not reachable"]}',
            '{"customer.phone":["20155***23 is not reachable"]}',
        ),
        ("phone 33612345678 refused", "phone 33612****78 refused"),
        ('{"phone":16135550135}', '{"phone":16135****35}'),
        ("number 447911123456.", "number 44791*****56."),
    ],
)
def test_personal_data_and_secrets_are_masked(mask: Masker, text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order 450789469 of store 7",
        "id 820982911946154508",
        "at 2026-01-01 12:34:56,789",
        "2026-01-01T12:34:56+02:00",
        "version 1780000000123456",
        "client 192.168.100.200:5123",
        "took 12.34 ms",
        "job 3f2a9c1e0b4d4e5f9a8b7c6d5e4f3a2b",
        "kb:rec:shop:orders:1001",
        "stores.x.webhook_secrets: a secret is empty",
        "paced to 1780000000.123",
        "placed at 1780000000 (unix seconds), 1796000000123 ms",
        "Shopify order 820982911946154508, customer 115310627314, line 466157049",
        "WooCommerce order 727 of customer 26, total 1234567.89, amount 40994",
        "kb:rec:shop:orders:5123456789012",
        "version 1780000000123456",
    ],
)
def test_ids_dates_and_addresses_are_left_alone(mask: Masker, text: str) -> None:
    assert mask(text) == text


def test_masking_is_idempotent(mask: Masker) -> None:
    text = "+33 6 12 34 56 78 jo@example.com Bearer abcdefgh"
    assert mask(mask(text)) == mask(text)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Masking([SECRET]))
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_a_record_is_one_json_line_with_its_extra_fields(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("webhook %s -> %d", "shopify/main", 200, extra={"store": "main", "answer": "ok"})
    [entry] = lines(stream)
    assert entry["message"] == "webhook shopify/main -> 200"
    assert entry["level"] == "info"
    assert entry["logger"] == "test.logs"
    assert (entry["store"], entry["answer"]) == ("main", "ok")
    assert str(entry["time"]).endswith("+00:00")


def test_extra_fields_and_arguments_are_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.warning(
        "customer %s",
        "jane@example.com",
        extra={"customer": {"phone": "+33612345678", "emails": ["bob@example.org"]}, "k": SECRET},
    )
    text = stream.getvalue()
    assert "jane@example.com" not in text
    assert "+33612345678" not in text
    assert "bob@example.org" not in text
    assert SECRET not in text
    [entry] = lines(stream)
    assert entry["customer"] == {"phone": "+3361*****78", "emails": ["b***@example.org"]}


def test_exception_text_is_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError(f"Kanal refused +33612345678 with key {SECRET}")
    except ValueError:
        logger.exception("push failed")
    [entry] = lines(stream)
    assert "ValueError: Kanal refused +3361*****78 with key ***" in str(entry["exception"])
    assert "+33612345678" not in stream.getvalue()


def test_uvicorn_access_lines_get_fields(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    record = logger.makeRecord(
        "uvicorn.access",
        logging.INFO,
        "h11_impl.py",
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.1.2.3:4567", "POST", "/webhooks/shopify/main", "1.1", 200),
        None,
    )
    logger.handle(record)
    [entry] = lines(stream)
    assert entry["message"] == '10.1.2.3:4567 - "POST /webhooks/shopify/main HTTP/1.1" 200'
    assert (entry["method"], entry["path"], entry["status_code"]) == (
        "POST",
        "/webhooks/shopify/main",
        200,
    )


def test_configure_masks_every_library_logger(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("INFO", "json", [SECRET])
        for name in ("rq.worker", "uvicorn.error", "uvicorn.access", "bridge.delivery.push"):
            logging.getLogger(name).info("sent %s to +33612345678", SECRET)
        logging.getLogger("httpx").info("HTTP Request: POST https://kanal/ 200")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    entries = [json.loads(line) for line in err.splitlines()]
    assert [e["logger"] for e in entries] == [
        "rq.worker",
        "uvicorn.error",
        "uvicorn.access",
        "bridge.delivery.push",
    ]
    assert SECRET not in err
    assert "+33612345678" not in err


def test_console_format_is_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("DEBUG", "console")
        logging.getLogger("bridge.test").debug("hello", extra={"store": "main"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = capsys.readouterr().err.strip()
    assert "DEBUG" in line
    assert line.endswith("bridge.test hello  store=main")


@pytest.mark.parametrize(("level", "fmt"), [("INFO", "xml"), ("LOUD", "json")])
def test_bad_settings_are_named(level: str, fmt: str) -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT" if fmt == "xml" else "LOG_LEVEL"):
        logs.dict_config(level, fmt)


def test_a_kanal_answer_logged_by_the_worker_has_its_bare_numbers_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    request = httpx.Request("POST", "https://api.getkanal.com/v1/stores/7/orders")
    body = {"message": "invalid", "errors": {"customer.phone": ["2015550123", "33612345678"]}}
    error = KanalError.from_response(httpx.Response(422, json=body, request=request))
    logger, stream = captured
    logger.warning("push failed: %s", error, extra={"error": str(error), "body": error.body})
    text = stream.getvalue()
    assert "2015550123" not in text and "33612345678" not in text
    assert "Kanal answered 422 to POST /v1/stores/7/orders" in text


# Text made of what the masking rules look for: digits, separators, "+", "@", words.
_PIECES = st.sampled_from(
    [
        *"0123456789",
        *" .-()+@:=/_\n",
        "0",
        "06",
        "+33",
        "415",
        "555",
        "0132",
        "a",
        "x.com",
        "Bearer ",
        "TOKEN",
        "api_key",
        "Secret",
        "passwd",
        "https://",
        "user:pw@",
        "e\u0301",
        "\u0661\u0662",
        "2026-11-30",
        SECRET[:6],
        SECRET,
        "id=",
        "1767225600",
    ]
)


@settings(max_examples=500)
@given(st.lists(_PIECES, max_size=24).map("".join))
def test_the_screen_never_skips_text_a_rule_would_change(text: str) -> None:
    masker = Masker([SECRET])
    assert masker(text) == masker.mask_all(text)


@settings(max_examples=500)
@given(st.lists(_PIECES, max_size=24).map("".join))
def test_the_ascii_screen_passes_whatever_the_full_screen_passes(text: str) -> None:
    masker = Masker([SECRET])
    if text.isascii() and masker._screen.search(text) is not None:
        assert masker.may_change(text)


@settings(max_examples=500)
@given(
    st.lists(st.sampled_from([*"0123456789", "0", "1767225600", SECRET]), max_size=8).map("".join)
)
def test_digits_alone_are_masked_as_by_every_rule(text: str) -> None:
    masker = Masker([SECRET])
    assert masker.mask_all(text) == every_rule(text.replace(SECRET, "***"))


@pytest.mark.parametrize("text", ["2015550123", "33612345678", "0612345678", "5000000123"])
def test_a_bare_number_is_masked_as_by_every_rule(mask: Masker, text: str) -> None:
    assert mask.mask_all(text) == every_rule(text)


@pytest.mark.parametrize(
    "text",
    [
        f"x {SECRET} y",
        "redis://user:pw1234@host",
        "Bearer abcdefgh",
        "Authorization: abcdefgh123",
        "api-key=abcdefgh123",
        "passwd: hunter2hunter2",
        "client_secret=abcdefgh12",
        "mail jo@example.com",
        "call +3361234 now",
        "call (415) 555-0132 now",
        "call 415.555.0132",
        "call 0612345678",
        "call 2015550123",
    ],
)
def test_each_rule_gets_past_the_screen(mask: Masker, text: str) -> None:
    assert mask.mask_all(text) != text
    assert mask(text) == mask.mask_all(text)


def test_a_configured_secret_gets_past_the_screen() -> None:
    assert Masker(["plainwords"])("key plainwords here") == "key *** here"


def test_text_without_anything_to_mask_is_returned_as_is(mask: Masker) -> None:
    texts = (
        "webhook shopify/bench-shop -> 200 accepted",
        "orders/create",
        "ingest-42",
        "b7f4c6e2-1a2b-4c3d-9e8f-0123456789ab",  # a UUID, as Shopify's webhook ids
    )
    for text in texts:
        assert mask(text) is text
