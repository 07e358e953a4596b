"""make_status_error: one class per status, a readable message whatever the body, and the tree."""

from __future__ import annotations

import pytest

from qolaba_nb import _exceptions as ex
from qolaba_nb._exceptions import make_status_error

JSON_ERROR = b'{"error": {"message": "model not found", "type": "invalid_request_error"}}'


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ex.BadRequestError),
        (401, ex.AuthenticationError),
        (403, ex.PermissionDeniedError),
        (404, ex.NotFoundError),
        (429, ex.RateLimitError),
        (500, ex.InternalServerError),
        (502, ex.UpstreamError),
        (504, ex.UpstreamTimeoutError),
        (503, ex.InternalServerError),
        (599, ex.InternalServerError),
        (418, ex.APIStatusError),
        (422, ex.APIStatusError),
    ],
    ids=lambda v: str(v) if isinstance(v, int) else v.__name__,
)
def test_one_class_per_status(status: int, cls: type[ex.APIStatusError]) -> None:
    err = make_status_error(status, JSON_ERROR, {})
    assert type(err) is cls
    assert err.status_code == status


def test_rate_limit_error_carries_retry_after() -> None:
    err = make_status_error(429, b"", {"retry-after": "3"}, retry_after=3.0)
    assert isinstance(err, ex.RateLimitError)
    assert err.retry_after == 3.0
    bare = make_status_error(429, b"", {})
    assert isinstance(bare, ex.RateLimitError) and bare.retry_after is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (JSON_ERROR, "model not found"),
        (b'{"message": "temperature out of range"}', "temperature out of range"),
        (b'{"error": "invalid api key"}', "invalid api key"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (b"upstream connect error", "upstream connect error"),
        (b"  plain text with spaces \n", "plain text with spaces"),
    ],
    ids=["error-object", "message", "error-string", "detail", "plain-text", "padded-text"],
)
def test_message_taken_from_the_body(content: bytes, message: str) -> None:
    err = make_status_error(400, content, {})
    assert err.message == message
    assert str(err) == f"HTTP 400: {message}"


def test_html_proxy_page_gives_its_title() -> None:
    page = (
        b"<!DOCTYPE html>\r\n<html>\r\n<head><title>502 Bad Gateway</title>"
        b"<style>body{font:12px}</style></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
        b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n" + b"<p>x</p>" * 2000
    )
    err = make_status_error(502, page, {"content-type": "text/html"})
    assert isinstance(err, ex.UpstreamError)
    assert err.message == "502 Bad Gateway"


def test_html_title_entities_are_decoded_and_whitespace_collapsed() -> None:
    page = (
        b"<html><head><TITLE>\n  example.com | 502: Bad gateway &amp; more\n</TITLE></head></html>"
    )
    assert make_status_error(502, page, {}).message == "example.com | 502: Bad gateway & more"


def test_html_without_title_is_stripped_of_tags_and_kept_short() -> None:
    page = b"<html><body><h1>Service Unavailable</h1>" + b"<p>filler text</p>" * 500 + b"</body>"
    err = make_status_error(503, page, {})
    assert err.message.startswith("Service Unavailable filler text")
    assert "<" not in err.message
    assert len(err.message) <= 500


@pytest.mark.parametrize(
    ("status", "reason"),
    [(502, "Bad Gateway"), (404, "Not Found"), (599, "error")],
    ids=["502", "404", "unknown-status"],
)
@pytest.mark.parametrize(
    "content",
    [b"", b"  \n", b"<html><title></title></html>"],
    ids=["empty", "blank", "empty-title"],
)
def test_empty_body_gives_the_reason_phrase(status: int, reason: str, content: bytes) -> None:
    assert make_status_error(status, content, {}).message == reason


def test_non_utf8_body_does_not_crash() -> None:
    err = make_status_error(500, b"bad \xff\xfe bytes", {})
    assert err.message == "bad \ufffd\ufffd bytes"


@pytest.mark.parametrize(
    "content",
    [b"null", b"[1, 2]", b"42", b'"just a string"', b'{"error": {}}', b'{"error": null}', b"{"],
    ids=["null", "list", "number", "json-string", "empty-error", "null-error", "broken-json"],
)
def test_odd_json_bodies_never_crash(content: bytes) -> None:
    err = make_status_error(500, content, {})
    assert isinstance(err, ex.InternalServerError)
    assert isinstance(err.message, str) and err.message


def test_status_code_body_request_id_and_headers_are_kept() -> None:
    err = make_status_error(
        400, JSON_ERROR, {"x-request-id": "req-42"}, request_id="req-42", retry_after=None
    )
    assert err.status_code == 400
    assert err.body == {"error": {"message": "model not found", "type": "invalid_request_error"}}
    assert err.request_id == "req-42"
    assert err.headers == {"x-request-id": "req-42"}
    assert "req-42" in str(err)


def test_plain_text_body_is_kept_as_text() -> None:
    assert make_status_error(500, b"oops", {}).body == "oops"


def test_empty_body_is_none() -> None:
    assert make_status_error(500, b"", {}).body is None


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (ex.ValidationError, ex.QolabaError),
        (ex.ValidationError, ValueError),
        (ex.BudgetExceededError, ex.QolabaError),
        (ex.ReplayMissError, ex.QolabaError),
        (ex.APIError, ex.QolabaError),
        (ex.APIStatusError, ex.APIError),
        (ex.BadRequestError, ex.APIStatusError),
        (ex.AuthenticationError, ex.APIStatusError),
        (ex.PermissionDeniedError, ex.APIStatusError),
        (ex.NotFoundError, ex.APIStatusError),
        (ex.RateLimitError, ex.APIStatusError),
        (ex.InternalServerError, ex.APIStatusError),
        (ex.UpstreamError, ex.InternalServerError),
        (ex.UpstreamTimeoutError, ex.InternalServerError),
        (ex.APIConnectionError, ex.APIError),
        (ex.APITimeoutError, ex.APIConnectionError),
        (ex.StreamError, ex.APIError),
        (ex.IncompleteStreamError, ex.APIError),
        (ex.QolabaError, Exception),
    ],
    ids=lambda c: c.__name__,
)
def test_exception_tree(child: type[BaseException], parent: type[BaseException]) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("cls", "not_parent"),
    [
        (ex.StreamError, ex.APIStatusError),
        (ex.IncompleteStreamError, ex.APIConnectionError),
        (ex.APIConnectionError, ex.APIStatusError),
        (ex.RateLimitError, ex.InternalServerError),
        (ex.BudgetExceededError, ex.APIError),
        (ex.ValidationError, ex.APIError),
        (ex.UpstreamTimeoutError, ex.APITimeoutError),
    ],
    ids=lambda c: c.__name__,
)
def test_exception_tree_has_no_extra_edges(
    cls: type[BaseException], not_parent: type[BaseException]
) -> None:
    assert not issubclass(cls, not_parent)


def test_stream_errors_carry_partial_text() -> None:
    assert ex.StreamError("x", partial_text="abc").partial_text == "abc"
    assert ex.IncompleteStreamError("x", partial_text="ab").partial_text == "ab"
    assert ex.APITimeoutError(partial_text="a").partial_text == "a"
    assert ex.APIConnectionError().partial_text is None
