"""The ChatPanel in a real browser: keys that never reach the notebook, the message buttons
(copy with the clipboard read back, regenerate, edit), highlighted code and math, pasted
images, save and load, reasoning, the dark theme at 800 px; and Notebook 7.

One notebook per front end, many checks each: a kernel start is the expensive part.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from _lab import (
    KERNEL_TIMEOUT_MS,
    Lab,
    artifact_path,
    cells,
    open_notebook,
    output_locator,
    run_all,
    run_cell,
    screenshot,
    write_notebook,
)
from playwright.sync_api import Locator, Page, expect

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    "AAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
REASONING = (  # a loaded reply with reasoning; the simulator thinks aloud for 1.5 s first
    'thinker = AsyncClient(headers={"x-sim-reasoning": "1.5"})\n'
    'r = ChatPanel(thinker, model="sim/echo")\n'
    "r.messages = [\n"
    '    {"role": "user", "content": "Why is the sky blue?"},\n'
    '    {"role": "assistant", "content": "Rayleigh scattering.", "reasoning": "Short waves'
    ' scatter more.", "usage": {"model": "sim/echo", "thought_s": 3.2}},\n'
    "]\n"
    "r"
)
CELLS = [
    "from qolaba_nb import AsyncClient\nfrom qolaba_nb.widgets import ChatPanel, ComparePanel",
    'p = ChatPanel(AsyncClient(), model="sim/echo")\np',
    "x = 1  # replaced by the save/load step",
    REASONING,
    'ComparePanel(["openai/gpt-4o", "google/gemini-2.5-flash"], client=AsyncClient())',
    'e = ChatPanel(AsyncClient(max_retries=0), model="sim/upstream-error")\ne',
    'ComparePanel(["sim/echo", "sim/upstream-error"], client=AsyncClient(max_retries=0))',
]

_PASTE = """([selector, b64]) => {
    const box = document.querySelector(selector);
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], "dot.png", {type: "image/png"}));
    box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true,
                                                   cancelable: true}));
}"""

_DROP = """([selector, b64]) => {
    const box = document.querySelector(selector);
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
    const over = new DragEvent("dragover", {dataTransfer: data, bubbles: true, cancelable: true});
    box.dispatchEvent(over);
    const highlighted = box.closest(".qnb-drop") !== null;
    const drop = new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true});
    box.dispatchEvent(drop);
    return {accepted: over.defaultPrevented && drop.defaultPrevented, highlighted};
}"""


def notebook_state(page: Page) -> dict[str, Any]:
    """What a notebook shortcut would change: the cells, their run counts, the active cell."""
    active = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.activeCellIndex")
    return {"cells": [(c["type"], c["count"]) for c in cells(page)], "active": active}


def messages(panel: Locator) -> Locator:
    return panel.locator(".qnb-transcript .qnb-msg:not(.qnb-live)")


def send(panel: Locator, text: str, count: int) -> None:
    """Type ``text`` at full speed (pasted, if it has lines: typing "\\n" is Enter), then
    Enter at once; wait for the reply (``count`` messages)."""
    box = panel.locator(".qnb-prompt-box")
    box.click()
    if "\n" in text:
        box.fill(text)
    else:
        box.press_sequentially(text, delay=0)
    box.press("Enter")
    expect(messages(panel)).to_have_count(count, timeout=20_000)


def check_keys_stay_in_the_box(page: Page, panel: Locator) -> None:
    """Shift+Enter, Esc, A, B, D D typed in the box leave the notebook as it was; the
    letters land in the box; Ctrl+Enter sends (like Enter), and does not run the cell."""
    box = panel.locator(".qnb-prompt-box")
    box.click()
    before = notebook_state(page)
    box.press_sequentially("first line", delay=0)
    box.press("Shift+Enter")  # a line, not a re-run of the cell
    box.press_sequentially("second ", delay=0)
    for key in ("Escape", "a", "b", "d", "d"):  # command-mode shortcuts: insert, delete
        box.press(key)
    expect(box).to_have_value("first line\nsecond abdd")
    box.press("Control+Enter")
    expect(messages(panel)).to_have_count(2, timeout=20_000)
    expect(messages(panel).nth(0)).to_have_text(re.compile("first line\\s+second abdd"))
    page.wait_for_timeout(300)
    assert notebook_state(page) == before
    panel.get_by_role("button", name="Clear").click()
    expect(messages(panel)).to_have_count(0)


def clipboard(page: Page) -> str:
    text: str = page.evaluate("() => navigator.clipboard.readText()")
    return text


@pytest.mark.timeout(300)
def test_chat_panel_in_jupyterlab(page: Page, lab: Lab) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    path = write_notebook(lab.root, "chat-panel.ipynb", CELLS)
    open_notebook(page, lab, path)
    run_all(page)
    panel = output_locator(page, 1).locator(".qnb-chat-panel")
    expect(panel).to_be_visible(timeout=30_000)

    # keys: nothing reaches the notebook; fast typing then Enter sends exactly the text
    check_keys_stay_in_the_box(page, panel)
    send(panel, "fast typed words, no pause before Enter", 2)
    expect(messages(panel).nth(0)).to_contain_text("fast typed words, no pause before Enter")
    expect(panel.locator(".qnb-prompt-box")).to_have_value("")
    assert "fast typed words, no pause before Enter" in messages(panel).nth(1).inner_text()
    total = panel.locator(".qnb-session-total")  # plain text, in the theme's second colour
    expect(total).to_contain_text(re.compile(r"session: [\d.]+ credits · \$[\d.]+ · 2 replies"))
    grey = page.evaluate(
        "() => { const probe = document.createElement('span');"
        " probe.style.color = 'var(--jp-content-font-color2)'; document.body.append(probe);"
        " const c = getComputedStyle(probe).color; probe.remove(); return c; }"
    )
    assert total.evaluate("el => getComputedStyle(el).color") == grey

    # copy a reply: the clipboard holds its Markdown
    reply = messages(panel).nth(1)
    reply.get_by_role("button", name="Copy reply").click()
    expect(reply.get_by_role("button", name="Copy reply")).to_have_text("Copied")
    assert clipboard(page) == "fast typed words, no pause before Enter"

    # highlighted code with its own Copy, and math as MathML (sim/echo says it back)
    send(panel, "```python\nprint(1 < 2)\n```", 4)
    code = messages(panel).nth(3).locator("pre code")
    expect(code.locator("span.qh-nb")).to_have_text("print")
    messages(panel).nth(3).get_by_role("button", name="Copy code").click()
    page.wait_for_timeout(200)
    assert clipboard(page) == "print(1 < 2)\n"
    send(panel, "Area $\\pi r^2$ and $$\\int_0^1 x\\,dx$$", 6)
    expect(messages(panel).nth(5).locator("math")).to_have_count(2)

    # regenerate: alternatives ‹ 2/2 ›, browsable
    last = messages(panel).nth(5)
    last.get_by_role("button", name="Regenerate reply").click()
    expect(messages(panel).nth(5).locator(".qnb-alt")).to_contain_text("2/2", timeout=20_000)
    messages(panel).nth(5).get_by_role("button", name="Previous alternative").click()
    expect(messages(panel).nth(5).locator(".qnb-alt")).to_contain_text("1/2")
    expect(panel.get_by_role("button", name="Regenerate reply")).to_have_count(1)  # last only

    # edit the first message: the box holds it, Enter resends, the old branch is kept
    messages(panel).nth(0).get_by_role("button", name="Edit message").click()
    box = panel.locator(".qnb-prompt-box")
    expect(box).to_have_value("fast typed words, no pause before Enter")
    box.fill("an edited question")
    box.press("Enter")
    expect(messages(panel)).to_have_count(2, timeout=20_000)
    expect(messages(panel).nth(0)).to_contain_text("an edited question")
    expect(messages(panel).nth(1).locator(".qnb-alt")).to_contain_text("2/2")
    messages(panel).nth(1).get_by_role("button", name="Previous alternative").click()
    expect(messages(panel)).to_have_count(6)  # the earlier branch, whole

    # Up in the empty box edits the last message; Esc cancels
    box.click()
    box.press("ArrowUp")
    expect(box).to_have_value(r"Area $\pi r^2$ and $$\int_0^1 x\,dx$$")
    box.press("Escape")
    expect(box).to_have_value("")

    # a pasted image: a thumbnail with a remove button
    page.evaluate(_PASTE, [".jp-OutputArea .qnb-chat-panel .qnb-prompt-box", PNG_1PX])
    chip = panel.locator(".qnb-attachment")
    expect(chip).to_have_count(1, timeout=10_000)
    expect(chip.locator("img")).to_have_attribute("alt", "dot.png")
    chip.get_by_role("button", name="Remove dot.png").click()
    expect(chip).to_have_count(0)

    # a dropped image: the same, and the drop never reaches the notebook (it would open it)
    dropped = page.evaluate(_DROP, [".jp-OutputArea .qnb-chat-panel .qnb-prompt-box", PNG_1PX])
    assert dropped == {"accepted": True, "highlighted": True}
    expect(chip).to_have_count(1, timeout=10_000)
    expect(chip.locator("img")).to_have_attribute("alt", "dropped.png")
    loaded_img = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(f"() => ({loaded_img})(document.querySelector('.qnb-attachment img'))")
    expect(panel.locator(".qnb-drop")).to_have_count(0)  # the highlight goes with the drop
    remove = chip.get_by_role("button", name="Remove dropped.png")
    expect(remove).to_have_text("×")
    remove.click()
    expect(chip).to_have_count(0)

    # save and load: the reopened panel shows the same conversation
    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.getCell(2)"
        '.setSource(\'p.save("saved-chat.json")\\nChatPanel.load("saved-chat.json", '
        "client=AsyncClient())')"
    )
    run_cell(page, 2)
    loaded = output_locator(page, 2).locator(".qnb-chat-panel")
    expect(messages(loaded)).to_have_count(6, timeout=30_000)
    expect(messages(loaded).nth(5).locator("math")).to_have_count(2)

    # reasoning: above the reply, collapsed, with how long it took
    reasoned = output_locator(page, 3).locator(".qnb-chat-panel")
    details = reasoned.locator("details.qnb-reasoning")
    expect(details.locator("summary")).to_have_text("Thought for 3.2 s")
    assert details.get_attribute("open") is None
    expect(details.locator(".qnb-reasoning-body")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator(".qnb-reasoning-body")).to_contain_text("Short waves scatter more.")
    # a streamed one: open while it arrives, folded when the reply is there
    box = reasoned.locator(".qnb-prompt-box")
    box.fill("Why is the sea blue?")
    box.press("Enter")
    thinking = reasoned.locator(".qnb-live details.qnb-reasoning")
    expect(thinking.locator(".qnb-reasoning-body")).to_contain_text(
        "The question is", timeout=20_000
    )
    assert thinking.get_attribute("open") is not None
    expect(messages(reasoned)).to_have_count(4, timeout=20_000)
    streamed = messages(reasoned).nth(3).locator("details.qnb-reasoning")
    expect(streamed.locator("summary")).to_have_text(re.compile(r"Thought for \d+\.\d s"))
    assert streamed.get_attribute("open") is None
    expect(streamed.locator(".qnb-reasoning-body")).to_be_hidden()

    check_an_error_moves_nothing(page, panel)

    # dark theme, 800 px wide: nothing clipped, both panels
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.set_viewport_size({"width": 800, "height": 1000})
    page.wait_for_timeout(500)
    for index, selector in ((1, ".qnb-chat-panel"), (4, ".qnb-compare-panel")):
        root = output_locator(page, index).locator(selector)
        root.scroll_into_view_if_needed()
        assert_not_clipped(page, root)
        root.screenshot(path=str(artifact_path(f"{selector[5:]}-dark-800px")))
    check_600px(page)
    errors = output_locator(page, 5).locator(".qnb-chat-panel")
    check_error_card_reads_well(page, errors)
    compare = output_locator(page, 6).locator(".qnb-compare-panel")  # its failed column
    check_error_card_reads_well(page, compare, name="compare")  # the ChatPanel's title
    check_reply_headings_are_text_sized(errors)


#: The WCAG contrast ratio of ``el``'s text on what is behind it, from the computed styles:
#: each ancestor's background, from the first opaque one down to ``el``'s own (a tint is
#: see-through), is painted on a 1x1 canvas, then the text colour over that.
_CONTRAST = """(el) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const paint = (colour) => { ctx.fillStyle = colour; ctx.fillRect(0, 0, 1, 1);
                                return [...ctx.getImageData(0, 0, 1, 1).data]; };
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
        const bg = getComputedStyle(node).backgroundColor;
        layers.unshift(bg);
        ctx.clearRect(0, 0, 1, 1);
        if (paint(bg)[3] === 255) break;  // opaque: nothing under it shows
    }
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, 1, 1);  // the page under it all
    let bg;
    for (const layer of layers) bg = paint(layer);
    const background = [...bg];
    const text = paint(getComputedStyle(el).color);
    const luminance = ([r, g, b]) => {
        const lin = (c) => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const [hi, lo] = [luminance(text), luminance(background)].sort((a, b) => b - a);
    return {ratio: (hi + 0.05) / (lo + 0.05), background: luminance(background),
            text: luminance(text)};
}"""


def check_error_card_reads_well(
    page: Page, panel: Locator, title: str = "API error (HTTP 502)", name: str = "chat"
) -> None:
    """In the dark theme, an API error card is light text on a dark tint, contrast >= 4.5
    (WCAG AA), its title and its detail both: not pale pink on black."""
    panel.scroll_into_view_if_needed()
    box = panel.locator(".qnb-prompt-box")
    box.fill("this model always fails")
    box.press("Enter")
    card = panel.locator(".qnb-transcript .qnb-role-error")
    expect(card).to_contain_text(title, timeout=20_000)
    for part in (card, card.locator("strong"), card.locator(".qnb-plain")):
        seen = part.evaluate(_CONTRAST)
        assert seen["background"] < 0.1 and seen["text"] > 0.4, seen  # dark under, light text
        assert seen["ratio"] >= 4.5, seen
    card.screenshot(path=str(artifact_path(f"{name}-error-card-dark")))


def check_an_error_moves_nothing(page: Page, panel: Locator) -> None:
    """At full width, a temperature error shows beside its field without moving the other
    column of settings (it used to shift it about 300 px sideways)."""
    panel.scroll_into_view_if_needed()
    other = panel.locator(".widget-text", has=page.locator('input[placeholder="-2–2"]')).first
    before = other.bounding_box()
    field = panel.locator('input[placeholder="0–2"]')
    field.fill("5")
    expect(panel.locator(".qnb-param-error").first).to_contain_text("temperature")
    after = other.bounding_box()
    assert before and after and abs(after["x"] - before["x"]) <= 1, (before, after)
    field.fill("")
    expect(panel.locator(".qnb-param-error").first).to_have_text("")


#: Buttons of the panels (not a column's vote, named after its model) whose label is cut.
_CUT_LABELS = """() => [...document.querySelectorAll(
        '.qnb-chat-panel button.widget-button, .qnb-compare-panel button.widget-button')]
    .filter((b) => !b.closest('.qnb-compare-column') && b.getClientRects().length)
    .filter((b) => b.scrollWidth > b.clientWidth + 1)
    .map((b) => `${b.textContent} ${b.scrollWidth}>${b.clientWidth}`)"""


def check_600px(page: Page) -> None:
    """At 600 px wide, both panels keep every control inside the panel and the window, and a
    validation message sits under its field or at least as wide (not one letter a line):
    first with the file browser open beside the notebook (the model picker stuck out of the
    ChatPanel there), then folded away, as it would be in a window that narrow."""
    page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
    page.set_viewport_size({"width": 600, "height": 1000})
    page.wait_for_timeout(500)
    browser = page.locator("#filebrowser").bounding_box()
    assert browser and browser["width"] > 100, browser  # the file browser is open
    chat = output_locator(page, 1).locator(".qnb-chat-panel")
    chat.scroll_into_view_if_needed()
    assert_not_clipped(page, chat)
    chat.screenshot(path=str(artifact_path("chat-panel-dark-600px-file-browser")))
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.set_viewport_size({"width": 600, "height": 1000})
    page.wait_for_timeout(500)
    chat = output_locator(page, 1).locator(".qnb-chat-panel")
    field = chat.locator(".widget-text", has=page.locator('input[placeholder="0–2"]'))
    field.locator("input").fill("5")  # temperature out of range
    message = chat.locator(".qnb-param-error").first
    expect(message).to_contain_text("temperature")
    for index, selector in ((1, ".qnb-chat-panel"), (4, ".qnb-compare-panel")):
        root = output_locator(page, index).locator(selector)
        root.scroll_into_view_if_needed()
        assert_not_clipped(page, root)
        frame = root.bounding_box()
        assert frame and frame["x"] + frame["width"] <= 600 + 1, frame
        root.screenshot(path=str(artifact_path(f"{selector[5:]}-dark-600px")))
    cut = page.evaluate(_CUT_LABELS)  # the panels' own buttons show their whole labels
    assert cut == [], cut
    near, note = field.bounding_box(), message.bounding_box()
    assert near and note
    below = note["y"] >= near["y"] + near["height"] - 1
    assert below or note["width"] >= near["width"], (near, note)
    assert note["x"] + note["width"] <= 600 + 1, note
    field.locator("input").fill("")
    expect(message).to_have_text("")


def check_reply_headings_are_text_sized(panel: Locator) -> None:
    """A reply's "# Big heading" is a heading of the reply's text, at most 1.3x its body
    text: not the notebook's 2.6em heading (sim/echo says the Markdown back)."""
    panel.locator(".widget-dropdown select").select_option("sim/echo")
    send(panel, "# Big heading\n\nBody text under it.\n\n## Smaller one", 4)
    body = messages(panel).nth(3).locator(".qnb-body")
    expect(body.locator("h1")).to_have_text("Big heading")
    size = "el => parseFloat(getComputedStyle(el).fontSize)"
    text_px = body.locator("p").first.evaluate(size)
    h1_px, h2_px = body.locator("h1").evaluate(size), body.locator("h2").evaluate(size)
    assert text_px > 0 and text_px < h2_px <= h1_px <= 1.3 * text_px, (text_px, h1_px, h2_px)


def assert_not_clipped(page: Page, root: Locator) -> None:
    """Every button and text box of ``root`` lies inside it and inside the window."""
    clipped = page.evaluate(
        """(root) => {
            const box = root.getBoundingClientRect();
            const out = [];
            for (const el of root.querySelectorAll('button, textarea, input, select')) {
                const r = el.getBoundingClientRect();
                if (r.width === 0 && r.height === 0) continue;  // not shown (hidden by CSS)
                if (r.left < box.left - 1 || r.right > box.right + 1 ||
                    r.right > window.innerWidth + 1) {
                    out.push(`${el.tagName} ${el.getAttribute('aria-label') || el.textContent}`
                             + ` ${Math.round(r.left)}-${Math.round(r.right)}`);
                }
            }
            return out;
        }""",
        root.element_handle(),
    )
    assert clipped == [], clipped


@pytest.mark.timeout(240)
def test_chat_panel_in_notebook7(page: Page, lab: Lab) -> None:
    path = write_notebook(
        lab.root, "chat-nb7.ipynb", [CELLS[0], 'p = ChatPanel(AsyncClient(), model="sim/echo")\np']
    )
    widget_settings = "lab/api/settings/@jupyter-widgets/jupyterlab-manager:plugin"
    lab.api("PUT", widget_settings, json={"raw": '{"saveState": true}'}).raise_for_status()
    try:
        notebook7_checks(page, lab, path)
    finally:
        lab.api("PUT", widget_settings, json={"raw": "{}"}).raise_for_status()


def notebook7_checks(page: Page, lab: Lab, path: str) -> None:
    page.goto(lab.page_url(f"notebooks/{path}"))
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'",
        timeout=KERNEL_TIMEOUT_MS,
    )
    run_all(page)
    panel = page.locator(".jp-OutputArea .qnb-chat-panel").first
    expect(panel).to_be_visible(timeout=30_000)
    check_keys_stay_in_the_box(page, panel)
    send(panel, "hello from Notebook 7", 2)
    expect(messages(panel).nth(1)).to_contain_text("hello from Notebook 7")
    expect(messages(panel).nth(1).locator(".qnb-meta")).to_contain_text("chars/s")
    screenshot(page, "chat-panel-notebook7")
    send(panel, "and a second one", 4)

    # Saved with the widgets' state, the notebook holds the whole conversation: each message
    # went to the browser once, as an append its model applied to its own list.
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved = lab.root / path
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=10_000
    )
    state = json.loads(saved.read_text())["metadata"]["widgets"][
        "application/vnd.jupyter.widget-state+json"
    ]["state"]
    lists = [m["state"]["messages"] for m in state.values() if "messages" in m["state"]]
    assert [len(found) for found in lists] == [4]
    assert "and a second one" in json.dumps(lists[0])

    # A reloaded page gets the whole list from the kernel's state.
    page.reload()
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'",
        timeout=KERNEL_TIMEOUT_MS,
    )
    panel = page.locator(".jp-OutputArea .qnb-chat-panel").first
    expect(messages(panel)).to_have_count(4, timeout=30_000)
    expect(messages(panel).nth(2)).to_contain_text("and a second one")
