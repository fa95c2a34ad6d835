"""``plait.secrets``: the forms masked, masking before a cut, store JSON masked token by
token (and rebuilt exactly on resume), and log records of plait's and httpx's loggers."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plait import secrets as secrets_module
from plait.errors import _short
from plait.secrets import MASK, Secrets, SecretUnavailable, forms, unmask

TOKEN = 'p4ss"w\\rd+/=é'


def test_each_form_plait_writes_is_masked_in_text() -> None:
    secrets = Secrets({"TOKEN": TOKEN})
    written = [
        TOKEN,
        json.dumps(TOKEN),  # JSON, ASCII-escaped
        json.dumps(TOKEN, ensure_ascii=False),
        repr(TOKEN),
        repr(KeyError(TOKEN)),
        repr(TOKEN.encode()),  # httpcore's logs quote header bytes
        quote(TOKEN, safe=""),
        quote(TOKEN),
        quote_plus(TOKEN),
        "https://h/?key=" + quote_plus(TOKEN),
    ]
    for shift in range(3):  # Basic credentials: the secret at every byte alignment
        credentials = "u" * shift + ":" + TOKEN
        written.append("Basic " + base64.b64encode(credentials.encode()).decode())
    for text in written:
        masked = secrets.text(text)
        assert MASK in masked, text
        for i in range(len(TOKEN) - 3):
            assert TOKEN[i : i + 4] not in masked, (text, masked)


def test_forms_are_distinct_and_named_stably() -> None:
    found = forms("abcd1234")
    assert found["raw"] == "abcd1234"
    assert len(set(found.values())) == len(found)  # alphanumeric: most forms are the raw one
    assert set(found) <= set(secrets_module.FORMS)
    assert "url" not in found
    assert forms("a b+c/d")["url-plus"] == "a+b%2Bc%2Fd"


def test_a_cut_never_keeps_part_of_a_secret() -> None:
    secrets = Secrets(["s3cr3t-value"])
    text = "x" * 10 + "s3cr3t-value" + "y" * 10
    assert secrets.head(text, 15) == "x" * 10 + MASK  # kept whole, then masked
    assert secrets.head(text, 10) == "x" * 10
    assert secrets.head(text, 25) == "x" * 10 + MASK + "yyy"
    assert secrets.tail(text, 14) == "x" + MASK + "y" * 10  # masked first, then cut
    assert secrets.tail(text, 13) == MASK + "y" * 10
    assert secrets.tail(text, 12) == "**" + "y" * 10  # a cut inside a mask shows nothing


def test_short_masks_the_running_secrets_before_it_cuts() -> None:
    secrets_module.register(1, Secrets(["the-long-secret-value"]))
    try:
        message = "a" * 95 + "the-long-secret-value" + "b" * 200
        short = _short(message, 200)
        assert "secret" not in short
        assert "the-long" not in short
    finally:
        secrets_module.unregister(1)


def test_store_json_is_masked_by_token_and_stays_valid() -> None:
    secrets = Secrets({"T": "nabc", "PIN": "12345678"})
    # A mask inside an escape (\n + "abc"), in a key, and inside a number.
    value = {"a": "x\nabc", "nabc": 1, "n": 123456789, "ok": "nothing"}
    text = json.dumps(value)
    masked, where = secrets.json_masked(text)
    assert masked is not None
    assert where is not None
    assert json.loads(masked) == {"a": "x\nabc", MASK: 1, "n": MASK + "9", "ok": "nothing"}
    assert json.loads(unmask(masked, where, {"T": "nabc", "PIN": "12345678"})) == value
    assert secrets.json_masked('{"ok": "nothing"}') == ('{"ok": "nothing"}', None)


def test_unmask_uses_the_value_read_now_and_says_which_is_missing() -> None:
    masked, where = Secrets({"T": "old-token"}).json_masked(json.dumps({"h": "Bearer old-token"}))
    assert masked is not None
    assert where is not None
    assert json.loads(unmask(masked, where, {"T": "new-token"})) == {"h": "Bearer new-token"}
    with pytest.raises(SecretUnavailable) as caught:
        unmask(masked, where, {"T": None})
    assert caught.value.name == "T"
    assert "old-token" not in where  # only where, and for which variable


text_values = st.text(min_size=0, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text_values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_values, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    secret=st.text(min_size=4, max_size=10).filter(lambda s: MASK[0] not in s),
    value=json_values,
    form=st.sampled_from(sorted(secrets_module.FORMS)),
    spots=st.lists(st.integers(min_value=0, max_value=1000), max_size=3),
)
def test_a_masked_record_is_valid_json_without_the_secret_and_rebuilds_exactly(
    secret: str, value: object, form: str, spots: list[int]
) -> None:
    planted = secrets_module.FORMS[form](secret)
    value = _plant(value, planted, spots)
    text = json.dumps(value)
    secrets = Secrets({"S": secret})
    masked, where = secrets.json_masked(text)
    assert masked is not None
    json.loads(masked)  # still JSON
    if where is None:  # only a form too short to mask was planted
        assert masked == text
        assert len(planted) < 4
        return
    kept = list(_texts(json.loads(masked)))  # what the record says, decoded
    for shown in secrets_module.forms(secret).values():
        assert not [t for t in kept if shown in t], shown
    assert unmask(masked, where, {"S": secret}) == text


def _texts(value: object) -> Iterator[str]:
    """Every string of a JSON value (keys too), and every other scalar as JSON writes it."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _texts(item)
    else:
        yield json.dumps(value)


def _plant(value: object, planted: str, spots: list[int]) -> object:
    """``value`` with ``planted`` put into some of its strings (or as a new one)."""
    if not spots:
        return [value, planted] if len(planted) >= 4 else value
    strings: list[str] = []

    def walk(v: object) -> object:
        if isinstance(v, str):
            strings.append(v)
            if spots and len(strings) - 1 == spots[0] % 5:
                cut = spots[0] % (len(v) + 1)
                return v[:cut] + planted + v[cut:]
            return v
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {walk(k): walk(x) for k, x in v.items()}
        return v

    return [walk(value), planted]


def test_httpx_records_and_exception_text_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    secrets_module.register(2, Secrets(["s3cr3t+/=value"]))
    try:
        with caplog.at_level(logging.DEBUG):
            url = "https://h/?k=" + quote_plus("s3cr3t+/=value")
            logging.getLogger("httpx").info("GET %s", url)
            logging.getLogger("httpcore.http11").debug("headers=%r", [(b"x", b"s3cr3t+/=value")])
            try:
                raise ValueError("s3cr3t+/=value")
            except ValueError:
                logging.getLogger("plait.tools").exception("failed")
    finally:
        secrets_module.unregister(2)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "s3cr3t" not in text
    assert "s3cr3t" not in caplog.text
    assert text.count(MASK) == 4  # the traceback quotes the raising line too
