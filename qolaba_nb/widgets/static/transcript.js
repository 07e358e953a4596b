// The front end of qolaba_nb's Transcript widget (an anywidget ES module, no build step).
//
// Inputs:
//  * the `messages` trait: finished messages, each {id, role, html, label?, meta?, status?,
//    actions?, alt?, reasoning?, reasoning_label?} (no status: "ok"); the `actions` trait (bool) gives user and
//    assistant messages their buttons by default. `html` and `reasoning` were rendered by the
//    kernel's safe Markdown renderer (raw HTML escaped, no images, safe links only), so they
//    are safe to insert; every other field is plain text and goes in through textContent.
//  * custom messages. Applied once per model (in initialize), to the model's own copy of
//    `messages`, so that a saved notebook holds the whole conversation:
//      {op: "add", msg}                     a finished message, appended
//      {op: "set", order: [id], put: [msg]} the list in that order, with those messages new
//    Per view, for the one reply that is streaming ("live"):
//      {op: "open", id, role, label}        start a live message, with a "waiting…" timer
//      {op: "delta", blocks, text, reasoning?}  finished Markdown blocks (rendered in the
//                                           kernel), new plain text of the open block, new
//                                           plain reasoning text
//      {op: "note", text}                   a status line under the live message
//      {op: "drop"}                         forget the live message
//      {op: "copy", token, text}            the Markdown a Copy button asked for
//    The live message disappears when a finished message with its id arrives in `messages`.
//    A view that starts while a reply streams says {event: "ready"} and the kernel answers
//    with "open" and one "delta" holding everything so far.
//  * buttons send {event: "action", action, id}: copy, regenerate, edit, delete, prev, next.
//    Code blocks copy their own text here, without asking the kernel.
//
// Model text is only ever inserted with textContent / text nodes, never as HTML.

function div(className) {
  const node = document.createElement("div");
  node.className = className;
  return node;
}

function button(label, text, onClick, className = "") {
  const node = document.createElement("button");
  node.type = "button";
  node.className = `qnb-icon-button ${className}`.trim();
  node.setAttribute("aria-label", label);
  node.title = label;
  node.textContent = text;
  node.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick(event);
  });
  return node;
}

async function writeClipboard(textPromise) {
  // A ClipboardItem holding a promise keeps the click's user activation while the kernel
  // answers (Safari, Firefox need it); writeText after the answer is the fallback.
  if (window.ClipboardItem && navigator.clipboard && navigator.clipboard.write) {
    try {
      const blob = textPromise.then((text) => new Blob([text], { type: "text/plain" }));
      await navigator.clipboard.write([new ClipboardItem({ "text/plain": blob })]);
      return true;
    } catch (err) {
      // fall through
    }
  }
  try {
    await navigator.clipboard.writeText(await textPromise);
    return true;
  } catch (err) {
    return false;
  }
}

function flash(node, text) {
  const was = node.textContent;
  node.textContent = text;
  setTimeout(() => (node.textContent = was), 1200);
}

function addCodeButtons(body) {
  for (const pre of body.querySelectorAll("pre")) {
    if (pre.querySelector(".qnb-copy-code")) continue;
    const code = pre.querySelector("code") || pre;
    const copy = button(
      "Copy code",
      "Copy",
      async () => {
        const ok = await writeClipboard(Promise.resolve(code.textContent));
        flash(copy, ok ? "Copied" : "Copy failed");
      },
      "qnb-copy-code",
    );
    pre.appendChild(copy);
  }
}

function initialize({ model }) {
  const onOp = (msg) => {
    if (!msg || (msg.op !== "add" && msg.op !== "set")) return;
    const current = model.get("messages") || [];
    let next;
    if (msg.op === "add") {
      next = [...current.filter((m) => m.id !== msg.msg.id), msg.msg];
    } else {
      const byId = new Map(current.map((m) => [m.id, m]));
      for (const m of msg.put || []) byId.set(m.id, m);
      next = (msg.order || []).map((id) => byId.get(id)).filter(Boolean);
    }
    model.set("messages", next); // no save_changes(): the kernel has this list already
  };
  model.on("msg:custom", onOp);
  return () => model.off("msg:custom", onOp);
}

function render({ model, el }) {
  el.classList.add("qnb-transcript");
  const list = div("qnb-messages");
  el.appendChild(list);
  const shown = new Map(); // id -> {msg, node}, the finished messages on screen
  const copies = new Map(); // token -> resolve, Copy buttons waiting for the kernel
  let live = null;

  const act = (action, id, extra = {}) => model.send({ event: "action", action, id, ...extra });
  // The buttons a message gets: its own `actions`, else the transcript's default by role.
  const kindOf = (msg) =>
    msg.actions || (model.get("actions") ? { user: "prompt", assistant: "reply" }[msg.role] : "");

  function actionsNode(msg) {
    const bar = div("qnb-actions");
    const kind = kindOf(msg);
    if (kind === "reply") {
      const copy = button("Copy reply", "Copy", async () => {
        const token = `${msg.id}-${Math.random().toString(36).slice(2)}`;
        const text = new Promise((resolve) => copies.set(token, resolve));
        act("copy", msg.id, { token });
        const ok = await writeClipboard(text);
        flash(copy, ok ? "Copied" : "Copy failed");
      });
      bar.appendChild(copy);
      bar.appendChild(
        button("Regenerate reply", "↻ Regenerate", () => act("regenerate", msg.id), "qnb-regen"),
      );
    } else if (kind === "prompt") {
      bar.appendChild(button("Edit message", "Edit", () => act("edit", msg.id)));
      bar.appendChild(
        button("Delete message and its reply", "Delete", () => act("delete", msg.id)),
      );
    }
    if (msg.alt) {
      const alt = document.createElement("span");
      alt.className = "qnb-alt";
      const where = document.createElement("span");
      where.textContent = msg.alt;
      alt.append(
        button("Previous alternative", "‹", () => act("prev", msg.id)),
        where,
        button("Next alternative", "›", () => act("next", msg.id)),
      );
      bar.appendChild(alt);
    }
    return bar;
  }

  function messageNode(msg) {
    const root = div(`qnb-msg qnb-role-${msg.role}`);
    if (msg.status) root.classList.add(`qnb-status-${msg.status}`);
    root.dataset.id = msg.id;
    const labelText = msg.label || (msg.role === "user" && model.get("actions") ? "You" : "");
    if (labelText) {
      const label = div("qnb-label");
      label.textContent = labelText;
      if (msg.status && msg.status !== "ok") {
        const badge = document.createElement("span");
        badge.className = "qnb-badge";
        badge.textContent = msg.status;
        label.appendChild(badge);
      }
      root.appendChild(label);
    }
    if (msg.reasoning) {
      const details = document.createElement("details");
      details.className = "qnb-reasoning";
      const summary = document.createElement("summary");
      summary.textContent = msg.reasoning_label || "Reasoning";
      const inner = div("qnb-reasoning-body");
      inner.innerHTML = msg.reasoning; // kernel-rendered, safe (see the header comment)
      details.append(summary, inner);
      root.appendChild(details);
    }
    const body = div("qnb-body");
    body.innerHTML = msg.html; // kernel-rendered, raw HTML escaped (see the header comment)
    addCodeButtons(body);
    root.appendChild(body);
    if (msg.meta) {
      const meta = div("qnb-meta");
      meta.textContent = msg.meta;
      root.appendChild(meta);
    }
    if (kindOf(msg) || msg.alt) root.appendChild(actionsNode(msg));
    return root;
  }

  function liveNode(msg) {
    const root = div(`qnb-msg qnb-role-${msg.role || "assistant"} qnb-live`);
    root.dataset.id = msg.id;
    const label = div("qnb-label");
    label.textContent = msg.label || "";
    const thinking = document.createElement("details");
    thinking.className = "qnb-reasoning";
    thinking.open = true;
    thinking.hidden = true;
    const summary = document.createElement("summary");
    summary.textContent = "Thinking…";
    const thought = div("qnb-reasoning-body qnb-open");
    thinking.append(summary, thought);
    const body = div("qnb-body");
    const open = div("qnb-open"); // the Markdown block still arriving, as plain text
    body.appendChild(open);
    const waiting = div("qnb-waiting");
    const note = div("qnb-note");
    root.append(label, thinking, body, waiting, note);
    const started = performance.now() - (msg.elapsed || 0) * 1000;
    const tick = () => {
      const seconds = (performance.now() - started) / 1000;
      waiting.textContent = `waiting… ${seconds.toFixed(1)} s`;
    };
    tick();
    const timer = setInterval(tick, 100);
    const stopWaiting = () => {
      clearInterval(timer);
      waiting.remove();
    };
    return { id: msg.id, root, body, open, note, thinking, thought, stopWaiting, gotText: false };
  }

  const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const keepScrolled = (wasNearBottom) => {
    if (wasNearBottom) list.scrollTop = list.scrollHeight;
  };

  function dropLive() {
    if (live) {
      live.stopWaiting();
      live.root.remove();
      live = null;
    }
  }

  function sync() {
    const stick = nearBottom();
    const messages = model.get("messages") || [];
    const ids = new Set(messages.map((m) => m.id));
    for (const [id, entry] of shown) {
      if (!ids.has(id)) {
        entry.node.remove();
        shown.delete(id);
      }
    }
    let lastReply = null;
    messages.forEach((msg, i) => {
      let entry = shown.get(msg.id);
      if (!entry || entry.msg !== msg) {
        const node = messageNode(msg);
        if (entry) entry.node.replaceWith(node);
        entry = { msg, node };
        shown.set(msg.id, entry);
      }
      if (list.children[i] !== entry.node) list.insertBefore(entry.node, list.children[i] || null);
      entry.node.classList.remove("qnb-last-reply");
      if (kindOf(msg) === "reply") lastReply = entry.node;
    });
    if (lastReply) lastReply.classList.add("qnb-last-reply"); // only it offers Regenerate
    if (live && shown.has(live.id)) dropLive();
    if (live) list.appendChild(live.root); // the live message stays last
    el.classList.toggle("qnb-empty", messages.length === 0 && !live);
    keepScrolled(stick);
  }

  function onCustom(msg) {
    const stick = nearBottom();
    if (msg.op === "open") {
      dropLive();
      live = liveNode(msg);
      list.appendChild(live.root);
      el.classList.remove("qnb-empty");
    } else if (msg.op === "delta" && live) {
      if ((msg.blocks && msg.blocks.length) || msg.text || msg.reasoning) {
        if (!live.gotText) {
          live.gotText = true;
          live.stopWaiting();
        }
      }
      if (msg.reasoning) {
        live.thinking.hidden = false;
        live.thought.append(document.createTextNode(msg.reasoning));
      }
      for (const html of msg.blocks || []) {
        const block = div("qnb-block");
        block.innerHTML = html; // one finished Markdown block, rendered in the kernel
        live.body.insertBefore(block, live.open);
        live.open.replaceChildren(); // its plain-text preview is replaced
      }
      if (msg.text) live.open.append(document.createTextNode(msg.text));
    } else if (msg.op === "note" && live) {
      live.note.textContent = msg.text || "";
    } else if (msg.op === "drop") {
      dropLive();
    } else if (msg.op === "copy" && copies.has(msg.token)) {
      copies.get(msg.token)(msg.text || "");
      copies.delete(msg.token);
    }
    keepScrolled(stick);
  }

  model.on("change:messages", sync);
  model.on("msg:custom", onCustom);
  sync();
  model.send({ event: "ready" }); // a reply may be streaming already: ask for it
  return () => {
    dropLive();
    model.off("change:messages", sync);
    model.off("msg:custom", onCustom);
  };
}

export default { initialize, render };
