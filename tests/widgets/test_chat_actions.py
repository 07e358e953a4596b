"""The ChatPanel's per-message actions, keys, attachments and saved conversations, each
through the button (the transcript's action event) and its Python twin."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from qolaba_nb import AsyncClient
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ChatPanel
from qolaba_nb.widgets._controls import MAX_IMAGE_SIDE

from .conftest import Wire
from .test_chat import PNG_1PX, until


def click(panel: ChatPanel, action: str, view_id: str, **extra: Any) -> None:
    """What a message's button does in the browser: an action event to the transcript."""
    panel.transcript._on_view_message(
        None, {"event": "action", "action": action, "id": view_id, **extra}, None
    )


def view_of(panel: ChatPanel, role: str, n: int = -1) -> dict[str, Any]:
    return [m for m in panel.transcript.messages if m["role"] == role][n]


def texts(panel: ChatPanel) -> list[str]:
    return [str(m["content"]) for m in panel.messages]


def custom(wire: Wire, panel: ChatPanel, mark: int) -> list[dict[str, Any]]:
    return [m.data["content"] for m in wire.since(mark, panel.transcript) if "content" in m.data]


# --------------------------------------------------------------------------- copy


async def test_copy_gives_the_reply_as_markdown_and_code_blocks_their_code(
    client: AsyncClient, wire: Wire
) -> None:
    panel = ChatPanel(client, model="sim/echo")
    source = "Use **this**:\n\n```python\nprint('hi')\n```\n\nand `x`.\n\n    indented()\n"
    reply = await panel.send(source)
    assert panel.copy() == reply.text == panel.copy(1)
    assert panel.code_blocks() == ["print('hi')\n", "indented()\n"]
    assert panel.copy(0) == source  # a user message copies as typed

    mark = wire.mark()
    click(panel, "copy", view_of(panel, "assistant")["id"], token="t1")
    assert custom(wire, panel, mark) == [{"op": "copy", "token": "t1", "text": reply.text}]
    # the buttons come from the transcript's default by role, not from bytes per message
    assert panel.transcript.actions is True
    assert "actions" not in view_of(panel, "assistant") and "label" not in view_of(panel, "user")


# --------------------------------------------------------------------------- regenerate


async def test_regenerate_keeps_alternatives_and_continues_from_the_one_shown(
    client: AsyncClient, sim: Simulator
) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o", temperature=1.0)
    first = await panel.send("Name three rivers in Europe")
    second = await panel.regenerate()
    assert panel.alternatives(1) == (2, 2)
    assert [m["role"] for m in panel.messages] == ["user", "assistant"]
    assert panel.messages[1]["content"] == second.text
    assert view_of(panel, "assistant")["alt"] == "2/2"
    assert len(panel.transcript.messages) == 2  # the first reply is off screen, kept

    click(panel, "regenerate", view_of(panel, "assistant")["id"])  # the button
    await until(
        lambda: panel.alternatives(0) == (3, 3) and not panel.busy and len(panel.messages) == 2
    )
    assert panel.browse(1, -1) == (2, 3)
    assert panel.browse(1, -1) == (1, 3)
    assert panel.browse(1, -1) == (1, 3)  # no wrapping
    assert panel.messages[1]["content"] == first.text
    assert view_of(panel, "assistant")["alt"] == "1/3"
    click(panel, "next", view_of(panel, "assistant")["id"])
    assert panel.alternatives(1) == (2, 3) and panel.messages[1]["content"] == second.text

    await panel.send("And in Asia?")  # continues from the alternative shown
    sent = sim.requests_log[-1]["json"]["messages"]
    assert [m["content"] for m in sent[:2]] == ["Name three rivers in Europe", second.text]


async def test_regenerate_with_nothing_sent_says_so(client: AsyncClient) -> None:
    with pytest.raises(ValueError, match="nothing to regenerate"):
        await ChatPanel(client, model="sim/echo").regenerate()


# --------------------------------------------------------------------------- edit


async def test_edit_resends_from_there_and_keeps_the_old_branch(
    client: AsyncClient, sim: Simulator
) -> None:
    panel = ChatPanel(client, model="sim/echo", system="Be brief.")
    await panel.send("one")
    await panel.send("two")
    await panel.send("three")
    reply = await panel.edit(3, "TWO")  # messages: system, one, one, two, two, three, three
    assert texts(panel)[1:] == ["one", "one", "TWO", reply.text]
    assert reply.text.strip() == "TWO"
    sent = sim.requests_log[-1]["json"]["messages"]
    assert [m["content"] for m in sent] == ["Be brief.", "one", "one", "TWO"]
    assert panel.alternatives(3) == (2, 2)

    assert panel.browse(3, -1) == (1, 2)  # the old branch, whole
    assert [t.strip() for t in texts(panel)[1:]] == ["one", "one", "two", "two", "three", "three"]
    with pytest.raises(ValueError, match="not a user message"):
        await panel.edit(2, "x")
    with pytest.raises(ValueError, match="system prompt"):
        await panel.edit(0, "x")


async def test_the_edit_button_and_up_key_fill_the_box_and_enter_resends(
    client: AsyncClient,
) -> None:
    panel = ChatPanel(client, model="sim/echo")
    await panel.send("first")
    await panel.send("second")
    click(panel, "edit", view_of(panel, "user", 0)["id"])
    assert panel.prompt.value == "first" and "Editing" in panel.status.value
    panel.prompt.emit("escape")  # Esc cancels the edit
    assert panel.prompt.value == "" and panel.status.value == ""

    panel.prompt.emit("recall")  # Up in the empty box: the last message
    assert panel.prompt.value == "second"
    panel.prompt.submit("second, edited")
    await until(lambda: not panel.busy and panel.messages[-1]["role"] == "assistant")
    await until(lambda: panel.messages[-1]["content"].strip() == "second, edited")
    assert texts(panel)[0] == "first"
    assert panel.alternatives(2) == (2, 2)


# --------------------------------------------------------------------------- delete


async def test_delete_removes_a_pair_and_keeps_the_rest(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="sim/echo")
    for word in ("a", "b", "c"):
        await panel.send(word)
    panel.delete(3)  # the reply to "b": its pair goes
    assert [t.strip() for t in texts(panel)] == ["a", "a", "c", "c"]
    click(panel, "delete", view_of(panel, "user", 0)["id"])
    assert [t.strip() for t in texts(panel)] == ["c", "c"]
    assert [m["role"] for m in panel.transcript.messages] == ["user", "assistant"]
    reply = await panel.send("d")  # and the chat goes on
    assert reply.text.strip() == "d"


async def test_actions_wait_while_a_reply_streams(sim: Simulator) -> None:
    headers = {"x-sim-chunk-delay": "0.05"}
    async with AsyncClient(sim.api_key, sim.base_url, ledger=False, headers=headers) as c:
        panel = ChatPanel(c, model="sim/echo")
        await panel.send("x")
        task = asyncio.ensure_future(panel.send("a slow reply of several words here"))
        await until(lambda: panel.busy)
        with pytest.raises(RuntimeError, match="still streaming"):
            panel.delete(0)
        click(panel, "delete", view_of(panel, "user", 0)["id"])
        assert "still streaming" in panel.status.value
        panel.prompt.emit("escape")  # Esc stops it
        reply = await task
        assert reply.finish_reason is None


# --------------------------------------------------------------------------- traffic


async def test_each_finished_message_goes_once_and_never_the_list_again(
    client: AsyncClient, wire: Wire
) -> None:
    panel = ChatPanel(client, model="sim/echo")
    sizes = []
    for i in range(12):
        mark = wire.mark()
        await panel.send(f"message number {i}")
        sent = wire.since(mark, panel.transcript)
        assert not [m for m in sent if m.data.get("method") == "update"]
        adds = [m for m in sent if m.data.get("content", {}).get("op") == "add"]
        # one append each for the prompt and the reply, carrying just that message
        assert [m.data["content"]["msg"] for m in adds] == panel.transcript.messages[-2:]
        for add in adds:  # beside HTML, label, reply line: framing, op, id, role, keys
            msg = add.data["content"]["msg"]
            shown = sum(
                len(json.dumps(msg.get(k, ""), ensure_ascii=False).encode())
                for k in ("html", "label", "meta")
            )
            assert add.size - shown < 125, (add.size, shown, msg)
        sizes.append(sum(m.size for m in sent))
    assert max(sizes) - min(sizes) < 60  # constant: the 12th costs what the 1st did
    assert len(panel.transcript.messages) == 24
    # a view that (re)loads gets the whole list from the kernel's state
    assert len(panel.transcript.get_state()["messages"]) == 24


def test_a_transcript_no_view_has_shown_syncs_after_the_cell(wire: Wire) -> None:
    from qolaba_nb.widgets._transcript import Transcript

    t = Transcript()
    t.add_plain("user", "hi")
    mark = wire.mark()
    t.sync_all()  # what the post_execute hook does when no front end applied the ops
    updates = [m for m in wire.since(mark, t) if m.data.get("method") == "update"]
    assert len(updates) == 1 and len(updates[0].data["state"]["messages"]) == 1
    t.sync_all()
    assert len([m for m in wire.since(mark, t) if m.data.get("method") == "update"]) == 1


# --------------------------------------------------------------------------- attachments


def png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def test_pasted_images_get_thumbnails_and_a_remove(
    client: AsyncClient, sim: Simulator
) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o")
    panel.prompt.emit("files", [("a.png", "image/png", PNG_1PX), ("b.png", "image/png", png(8, 8))])
    tray = panel.prompt.attachments
    assert [a["name"] for a in tray] == ["a.png", "b.png"]
    assert all(a["thumb"].startswith("data:image/png;base64,") for a in tray)
    panel.prompt.emit("remove", tray[0]["id"])  # its x
    assert panel.attachments == ["b.png"]
    await panel.send("What is this?")
    content = sim.requests_log[-1]["json"]["messages"][0]["content"]
    assert [p["type"] for p in content] == ["text", "image_url"]
    assert panel.prompt.attachments == []


async def test_a_pasted_non_image_is_refused_with_a_message(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="sim/echo")
    panel.prompt.emit("files", [("notes.pdf", "application/pdf", b"%PDF")])
    assert panel.attachments == [] and "notes.pdf is not an image" in panel.status.value


async def test_a_large_image_is_scaled_down_and_the_user_told(
    client: AsyncClient, sim: Simulator
) -> None:
    from PIL import Image

    panel = ChatPanel(client, model="openai/gpt-4o")
    panel.attach_image(png(3000, 1500), "wide.png")
    assert "wide.png was scaled from 3000×1500 to 2048×1024" in panel.status.value
    assert "scaled" in panel.prompt.attachments[0]["note"]
    await panel.send("Describe it")
    url = sim.requests_log[-1]["json"]["messages"][0]["content"][1]["image_url"]["url"]
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
        assert max(img.size) == MAX_IMAGE_SIDE


# --------------------------------------------------------------------------- save and load


async def test_save_load_continue_sends_what_a_fresh_conversation_would(
    client: AsyncClient, sim: Simulator, tmp_path: Path
) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o", system="Be brief.", temperature=0.3)
    await panel.send("Name a river", images=[PNG_1PX])
    await panel.send("Another one?")
    path = panel.save(tmp_path / "chat.json")
    data = json.loads(path.read_text())
    assert data["format"] == "qolaba_nb.chat" and data["schema_version"] == 2
    assert data["messages"][2]["usage"]["credit"] > 0  # the replies' usage is kept
    assert data["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png")

    loaded = ChatPanel.load(path, client=client)
    assert loaded.model == "openai/gpt-4o" and loaded.system == "Be brief."
    assert loaded.messages == panel.messages  # only API fields: no usage
    assert all("usage" not in m for m in loaded.messages)
    assert len(loaded.transcript.messages) == len(panel.transcript.messages)
    first_reply = view_of(loaded, "assistant", 0)
    assert "credits" in first_reply["meta"]
    await loaded.send("And a third?")
    resumed = sim.requests_log[-1]["json"]

    fresh = ChatPanel(client, model="openai/gpt-4o", temperature=0.3)
    fresh.messages = panel.messages
    await fresh.send("And a third?")
    assert resumed == sim.requests_log[-1]["json"]
    assert resumed == {
        "model": "openai/gpt-4o",
        "messages": [*panel.messages, {"role": "user", "content": "And a third?"}],
        **{k: v for k, v in resumed.items() if k not in ("model", "messages")},
    }
    assert resumed["temperature"] == 0.3


async def test_load_takes_the_panel_keywords_and_the_file_fills_the_rest(
    client: AsyncClient, sim: Simulator, tmp_path: Path
) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o", system="Be brief.", temperature=0.3)
    await panel.send("Name a river")
    path = panel.save(tmp_path / "chat.json")

    kept = ChatPanel.load(path, client)
    assert kept.model == "openai/gpt-4o" and kept.params.values()["temperature"] == 0.3
    loaded = ChatPanel.load(path, client, model="sim/echo", tag="again", max_tokens=7)
    assert loaded.model == "sim/echo" and loaded.tag == "again"
    assert loaded.params.values()["temperature"] == 0.3  # from the file
    await loaded.send("Another one?")
    body = sim.requests_log[-1]["json"]
    assert body["model"] == "sim/echo"
    assert body["max_tokens"] == 7 and body["temperature"] == 0.3


async def test_save_keeps_every_branch_and_load_brings_them_back(
    client: AsyncClient, sim: Simulator, tmp_path: Path
) -> None:
    panel = ChatPanel(client, model="sim/echo", system="Be brief.")
    await panel.send("one")
    await panel.send("two")
    await panel.send("three")
    await panel.edit(3, "TWO")  # "two" and all after it: an edited-away branch
    panel.model = "openai/gpt-4o"
    await panel.regenerate()  # another reply to "TWO": the turn's 3rd alternative
    shown = panel.messages
    assert panel.alternatives(3) == (3, 3) and panel.alternatives(4) == (3, 3)

    data = json.loads(panel.save(tmp_path / "chat.json").read_text())
    shown_saved = [{k: v for k, v in m.items() if k != "usage"} for m in data["messages"]]
    assert shown_saved == shown  # the conversation shown, as in version 1
    assert len(data["turns"]) == 6  # root; one; two, TWO, TWO again; three
    assert "three" in json.dumps(data["turns"])  # the edited-away branch, written once

    loaded = ChatPanel.load(tmp_path / "chat.json", client=client)
    assert loaded.messages == shown
    assert loaded.alternatives(3) == (3, 3)
    assert loaded.to_dict()["turns"] == data["turns"]  # the same tree, written the same way
    assert len(loaded.transcript.messages) == len(panel.transcript.messages)
    assert view_of(loaded, "assistant")["alt"] == "3/3"

    assert loaded.browse(4, -1) == (2, 3)  # the first reply to "TWO", with its usage line
    assert loaded.messages[4]["content"].strip() == "TWO"
    assert "credits" in view_of(loaded, "assistant")["meta"]
    old_branch = ["one", "one", "two", "two", "three", "three"]  # sim/echo says it back
    assert loaded.browse(3, -1) == (1, 3)  # the edited-away branch, whole
    assert [str(m["content"]).strip() for m in loaded.messages[1:]] == old_branch
    await loaded.send("four")  # and it goes on from the branch shown
    sent = sim.requests_log[-1]["json"]["messages"]
    assert [str(m["content"]).strip() for m in sent] == ["Be brief.", *old_branch, "four"]


async def test_a_version_1_file_still_loads(client: AsyncClient, tmp_path: Path) -> None:
    panel = ChatPanel(client, model="sim/echo")
    await panel.send("one")
    await panel.regenerate()
    data = panel.to_dict()
    version_1 = {k: v for k, v in data.items() if k != "turns"} | {"schema_version": 1}
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(version_1))
    loaded = ChatPanel.load(path, client=client)
    assert loaded.messages == panel.messages  # the conversation shown; no other branch
    assert loaded.alternatives(1) == (1, 1)


def test_load_refuses_broken_turns_before_changing_anything(tmp_path: Path, sim: Simulator) -> None:
    client = AsyncClient(sim.api_key, sim.base_url, ledger=False)
    base = {"format": "qolaba_nb.chat", "schema_version": 2, "messages": []}
    for turns, error in [
        ([{"parent": None}, {"parent": 5, "user": {"role": "user", "content": "x"}}], "bad parent"),
        ([{"parent": None}, {"parent": 0, "user": {"shown": 3}}], "message 3, which is missing"),
        ([{"parent": None}, {"parent": 0, "user": {"role": "robot"}}], "role must be one of"),
    ]:
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(base | {"turns": turns}))
        with pytest.raises(ValueError, match=error):
            ChatPanel.load(path, client=client)


def test_load_refuses_other_files_and_newer_schemas(tmp_path: Path, sim: Simulator) -> None:
    client = AsyncClient(sim.api_key, sim.base_url, ledger=False)
    other = tmp_path / "other.json"
    other.write_text('{"messages": []}')
    with pytest.raises(ValueError, match=r"not a conversation saved by ChatPanel\.save"):
        ChatPanel.load(other, client=client)
    newer = tmp_path / "newer.json"
    newer.write_text('{"format": "qolaba_nb.chat", "schema_version": 99, "messages": []}')
    with pytest.raises(ValueError, match="schema version 99"):
        ChatPanel.load(newer, client=client)


def test_messages_is_settable_and_keeps_only_api_fields(sim: Simulator) -> None:
    panel = ChatPanel(AsyncClient(sim.api_key, sim.base_url, ledger=False), model="sim/echo")
    panel.messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "u", "extra": 1},
        {"role": "assistant", "content": "a", "usage": {"model": "m", "credit": 2.0}},
    ]
    assert panel.system == "S"
    assert panel.messages == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    assert "2 credits" in panel.transcript.messages[-1]["meta"]
    with pytest.raises(ValueError, match="role"):
        panel.messages = [{"role": "robot", "content": "x"}]
    assert len(panel.messages) == 3  # nothing changed


def test_an_image_over_the_save_cap_is_left_out_with_a_note() -> None:
    from qolaba_nb.widgets.chat import SAVE_IMAGE_CAP, _capped_images

    big = "data:image/png;base64," + "A" * (SAVE_IMAGE_CAP * 4 // 3 + 100)
    out = _capped_images(
        [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": big}}]
    )
    assert out[0] == {"type": "text", "text": "t"}
    assert out[1]["type"] == "text" and "image left out" in out[1]["text"]
    assert "MiB > 5 MiB" in out[1]["text"]
