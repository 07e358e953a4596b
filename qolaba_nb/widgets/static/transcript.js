// The front end of qolaba_nb's Transcript widget (an anywidget ES module, no build step).
//
// Two inputs:
//  * the `messages` trait: finished messages, each {id, role, label, html, meta, status}.
//    `html` was rendered by the kernel's Markdown renderer with raw HTML disabled, so it is
//    safe to insert; label and meta are plain text and go in through textContent.
//  * custom messages for the one reply that is streaming ("live"):
//      {op: "open", id, role, label}        start a live message, with a "waiting…" timer
//      {op: "delta", blocks: [html], text}  finished Markdown blocks (rendered, kernel-side)
//                                           then new plain text for the open block
//      {op: "note", text}                   a status line under the live message
//      {op: "drop"}                         forget the live message
//    The live message disappears when a finished message with its id arrives in `messages`.
//    A view that starts while a reply streams (shown late, re-opened) says {event: "ready"}
//    and the kernel answers with "open" and one "delta" holding everything so far.
//
// Model text is only ever inserted with textContent / text nodes, never as HTML.

function div(className) {
  const node = document.createElement("div");
  node.className = className;
  return node;
}

function messageNode(msg) {
  const root = div(`qnb-msg qnb-role-${msg.role}`);
  if (msg.status) root.classList.add(`qnb-status-${msg.status}`);
  root.dataset.id = msg.id;
  if (msg.label) {
    const label = div("qnb-label");
    label.textContent = msg.label;
    if (msg.status && msg.status !== "ok") {
      const badge = document.createElement("span");
      badge.className = "qnb-badge";
      badge.textContent = msg.status;
      label.appendChild(badge);
    }
    root.appendChild(label);
  }
  const body = div("qnb-body");
  body.innerHTML = msg.html; // kernel-rendered, raw HTML escaped (see the header comment)
  root.appendChild(body);
  if (msg.meta) {
    const meta = div("qnb-meta");
    meta.textContent = msg.meta;
    root.appendChild(meta);
  }
  return root;
}

function liveNode(msg) {
  const root = div(`qnb-msg qnb-role-${msg.role || "assistant"} qnb-live`);
  root.dataset.id = msg.id;
  const label = div("qnb-label");
  label.textContent = msg.label || "";
  const body = div("qnb-body");
  const open = div("qnb-open"); // the Markdown block still arriving, as plain text
  body.appendChild(open);
  const waiting = div("qnb-waiting");
  const note = div("qnb-note");
  root.append(label, body, waiting, note);
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
  return { id: msg.id, root, body, open, note, stopWaiting, gotText: false };
}

function render({ model, el }) {
  el.classList.add("qnb-transcript");
  const list = div("qnb-messages");
  el.appendChild(list);
  let rendered = []; // ids of the finished messages shown, in order
  let live = null;

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
    const samePrefix =
      rendered.length <= messages.length && rendered.every((id, i) => messages[i].id === id);
    if (!samePrefix) {
      list.replaceChildren(); // cleared or replaced: draw everything again
      rendered = [];
    }
    for (const msg of messages.slice(rendered.length)) {
      list.appendChild(messageNode(msg));
      rendered.push(msg.id);
    }
    if (live && rendered.includes(live.id)) dropLive();
    if (live) list.appendChild(live.root); // the live message stays last
    el.classList.toggle("qnb-empty", messages.length === 0 && !live);
    keepScrolled(stick || !samePrefix);
  }

  function onCustom(msg) {
    const stick = nearBottom();
    if (msg.op === "open") {
      dropLive();
      live = liveNode(msg);
      list.appendChild(live.root);
      el.classList.remove("qnb-empty");
    } else if (msg.op === "delta" && live) {
      if ((msg.blocks && msg.blocks.length) || msg.text) {
        if (!live.gotText) {
          live.gotText = true;
          live.stopWaiting();
        }
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

export default { render };
