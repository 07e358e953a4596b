"""SSEDecoder: the WHATWG event-stream rules, whatever way the bytes are cut into reads."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qolaba_nb._sse import ServerSentEvent, SSEDecoder

BOM = "\ufeff".encode()


def feed(*reads: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for read in reads:
        events.extend(decoder.feed(read))
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def datas(events: Iterable[ServerSentEvent]) -> list[str]:
    return [e.data for e in events]


# --------------------------------------------------------------------------- line ends


@pytest.mark.parametrize(
    "stream",
    [b"data: a\n\ndata: b\n\n", b"data: a\r\rdata: b\r\r", b"data: a\r\n\r\ndata: b\r\n\r\n"],
    ids=["LF", "CR", "CRLF"],
)
def test_every_line_end_style_separates_events(stream: bytes) -> None:
    assert datas(feed(stream)) == ["a", "b"]


def test_mixed_line_ends_in_one_stream() -> None:
    assert datas(feed(b"data: a\rdata: b\r\n\ndata: c\n\r\n")) == ["a\nb", "c"]


def test_crlf_split_across_reads_is_one_line_end_not_a_blank_line() -> None:
    # If the LF starting the second read were a line end of its own, "data: a" would be
    # dispatched alone and "data: b" would become a second event.
    events = feed(b"data: a\r", b"\ndata: b\r\n\r\n")
    assert datas(events) == ["a\nb"]


def test_crlf_split_across_reads_then_blank_line_dispatches_once() -> None:
    assert datas(feed(b"data: a\r", b"\n\r", b"\n")) == ["a"]


def test_cr_at_end_of_read_followed_by_cr_is_a_blank_line() -> None:
    assert datas(feed(b"data: a\r", b"\r")) == ["a"]


def test_lone_lf_read_after_cr_read_is_swallowed() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the second half of CRLF, not a blank line
    assert datas(decoder.feed(b"\n")) == ["a"]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c"])
def test_unicode_line_separators_are_not_line_breaks(char: str) -> None:
    stream = f"data: one{char}two\n\n".encode()
    assert datas(feed(stream)) == [f"one{char}two"]
    assert datas(feed(*bytewise(stream))) == [f"one{char}two"]


# --------------------------------------------------------------------------- BOM


def test_leading_bom_is_stripped() -> None:
    assert datas(feed(BOM + b"data: x\n\n")) == ["x"]


def test_leading_bom_split_byte_by_byte_is_stripped() -> None:
    assert datas(feed(*bytewise(BOM + b"data: x\n\n"))) == ["x"]


def test_only_one_bom_is_stripped() -> None:
    # The second BOM is part of the first line's field name, "\ufeffdata": an unknown field.
    assert feed(BOM + BOM + b"data: x\n\n") == []


def test_bom_later_in_the_stream_is_kept() -> None:
    assert datas(feed(b"data: a\n\n", BOM + b"data: b\n\ndata: \xef\xbb\xbfc\n\n")) == [
        "a",
        "\ufeffc",
    ]


def test_bom_inside_data_of_first_line_is_kept() -> None:
    assert datas(feed(b"data: " + BOM + b"x\n\n")) == ["\ufeffx"]


# --------------------------------------------------------------------------- fields


def test_comments_are_ignored_also_in_the_middle_of_an_event() -> None:
    stream = b": hello\ndata: a\n:keepalive\ndata: b\n\n"
    assert feed(stream) == [ServerSentEvent("a\nb")]


@pytest.mark.parametrize(
    ("line", "data"),
    [
        (b"data: x", "x"),
        (b"data:x", "x"),
        (b"data:  x", " x"),
        (b"data: ", ""),
        (b"data:", ""),
        (b"data", ""),
        (b"data:x: y", "x: y"),
    ],
    ids=["space", "no-space", "two-spaces", "space-only", "colon-only", "no-colon", "colon-in"],
)
def test_data_field_removes_exactly_one_leading_space(line: bytes, data: str) -> None:
    assert datas(feed(line + b"\n\n")) == [data]


def test_multiline_data_joined_with_lf() -> None:
    assert datas(feed(b"data: a\ndata:\ndata: c\n\n")) == ["a\n\nc"]


def test_field_name_without_colon_is_an_empty_value() -> None:
    assert datas(feed(b"data\ndata\n\n")) == ["\n"]


@pytest.mark.parametrize(
    "block",
    [b"retry: 1000\n\n", b"event: ping\n\n", b"id: 5\n\n", b":keepalive\n\n", b"\n\n\n"],
    ids=["retry", "event", "id", "comment", "blank-lines"],
)
def test_blocks_without_data_are_never_dispatched(block: bytes) -> None:
    assert feed(block) == []


def test_event_name_of_a_dataless_block_does_not_leak_into_the_next_event() -> None:
    assert feed(b"event: ping\n\ndata: x\n\n") == [ServerSentEvent("x", event="message")]


def test_event_names() -> None:
    events = feed(b"event: error\ndata: a\n\ndata: b\n\nevent:\ndata: c\n\n")
    assert [e.event for e in events] == ["error", "message", "message"]


def test_unknown_fields_are_ignored() -> None:
    assert feed(b"foo: bar\ndata: x\nData: y\n\n") == [ServerSentEvent("x")]


def test_id_persists_across_events_until_changed() -> None:
    events = feed(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\n")
    assert [e.id for e in events] == ["1", "1", "2", ""]


def test_id_containing_nul_is_ignored() -> None:
    events = feed(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]


def test_id_from_a_dataless_block_still_applies_to_later_events() -> None:
    assert feed(b"id: 7\n\ndata: x\n\n") == [ServerSentEvent("x", id="7")]


@pytest.mark.parametrize(
    ("value", "retry"),
    [
        (b"1500", 1500),
        (b"0", 0),
        (b"-1", None),
        (b"1.5", None),
        (b"abc", None),
        (b"", None),
        ("\u0661\u0662".encode(), None),
        (b" 10", None),
        (b"10 ", None),
    ],
    ids=[
        "digits",
        "zero",
        "negative",
        "float",
        "letters",
        "empty",
        "arabic-digits",
        "second-leading-space",
        "trailing-space",
    ],
)
def test_retry_accepts_ascii_digits_only(value: bytes, retry: int | None) -> None:
    assert feed(b"retry: " + value + b"\ndata: x\n\n")[0].retry == retry


def test_retry_without_space_and_persisting() -> None:
    events = feed(b"retry:250\ndata: a\n\ndata: b\n\nretry: x\ndata: c\n\n")
    assert [e.retry for e in events] == [250, 250, 250]


# --------------------------------------------------------------------------- reads


@pytest.mark.parametrize("text", ["é€😀", "aé€😀b", "😀😀"], ids=["2-3-4", "framed", "emoji"])
def test_multibyte_utf8_split_at_every_position(text: str) -> None:
    stream = f"data: {text}\n\n".encode()
    for cut in range(1, len(stream)):
        assert datas(feed(stream[:cut], stream[cut:])) == [text], cut
    assert datas(feed(*bytewise(stream))) == [text]


def test_unterminated_last_event_is_discarded() -> None:
    decoder = SSEDecoder()
    assert datas(decoder.feed(b"data: a\n\ndata: b\n")) == ["a"]
    assert decoder.feed(b"data: c") == []


def test_event_is_dispatched_by_the_read_that_completes_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"") == []
    assert datas(decoder.feed(b"\n")) == ["a"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert datas(feed(b"data: a\xffb\n\n")) == ["a\ufffdb"]


# --------------------------------------------------------------------------- property

_SPECIAL = ["\u2028", "\u2029", "\u0085", "\ufeff", "\x00", " ", ":", "é", "😀", "€"]
_value = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
        st.sampled_from(_SPECIAL),
    ),
    max_size=12,
)
_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", max_size=8)
_ending = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[ServerSentEvent]]:
    """A stream built line by line, and the events it must decode to."""
    lines: list[str] = []
    expected: list[ServerSentEvent] = []
    last_id: str | None = None
    retry: int | None = None
    for _ in range(draw(st.integers(0, 5))):
        name = ""
        values: list[str] = []
        for _ in range(draw(st.integers(1, 6))):
            kind = draw(
                st.sampled_from(["data", "data", "data", "comment", "event", "id", "retry"])
            )
            if kind == "data":
                sep = draw(st.sampled_from(["data: ", "data:"]))
                value = draw(_value)
                lines.append(sep + value)
                values.append(value[1:] if sep == "data:" and value.startswith(" ") else value)
            elif kind == "comment":
                lines.append(":" + draw(_value))
            elif kind == "event":
                name = draw(_name)
                lines.append("event: " + name)
            elif kind == "id":
                last_id = draw(_value.filter(lambda v: "\x00" not in v and not v.startswith(" ")))
                lines.append("id: " + last_id)
            else:
                retry = draw(st.integers(0, 10**6))
                lines.append(f"retry: {retry}")
        lines.append("")  # the blank line that dispatches
        if values:
            expected.append(ServerSentEvent("\n".join(values), name or "message", last_id, retry))
    if draw(st.booleans()):
        lines.append("data: never dispatched")  # unterminated: discarded
    text = ""
    previous = ""
    for i, line in enumerate(lines):
        ending = draw(_ending) if i < len(lines) - 1 or lines[-1] == "" else ""
        if previous == "\r" and line == "" and ending == "\n":
            ending = "\r\n"  # CR then a lone LF would be ONE line end (CRLF), not two
        text += line + ending
        previous = ending
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode(), expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=sse_streams(), data=st.data())
def test_any_split_into_reads_gives_the_same_events(
    stream: tuple[bytes, list[ServerSentEvent]], data: st.DataObject
) -> None:
    raw, expected = stream
    whole = feed(raw)
    assert whole == expected
    if data.draw(st.booleans(), label="one byte per read"):
        reads = bytewise(raw)
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=20), label="cuts"))
        bounds = [0, *cuts, len(raw)]
        reads = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    assert feed(*reads) == whole
