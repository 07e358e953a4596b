// qolaba_nb PromptInput: a multi-line text box where Enter sends and Shift+Enter adds a line.
//
// Typing syncs `value` to the kernel. Enter empties the box here, at once, and sends a custom
// message {event: "submit", value} carrying the text the box showed: the kernel acts on that
// text, never on a `value` that may not have caught up with the last keystroke.
//
// Every key typed in the box stays in the box: keydown/keyup/keypress stop propagating, so
// JupyterLab's and Notebook 7's shortcuts (Shift+Enter runs the cell, A/B insert cells, D D
// deletes one, Esc enters command mode) never see them.
//
// Other keys that mean something: Esc -> {event: "escape"} (the panel stops a reply or
// cancels an edit); ArrowUp in an empty box -> {event: "recall"} (edit the last message).
//
// Images pasted or dropped on the box go to the kernel as {event: "files", files: [{name,
// type}]} with one binary buffer per file. The `attachments` trait lists what is attached
// ({id, name, thumb, note}: thumb is a small data: URL the kernel made from the user's own
// image), each shown with a remove (x) button -> {event: "remove", id}.

function button(label, text, onClick) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = "qnb-icon-button";
  node.setAttribute("aria-label", label);
  node.title = label;
  node.textContent = text;
  node.addEventListener("click", onClick);
  return node;
}

function sendFiles(model, fileList) {
  const files = [...(fileList || [])];
  if (!files.length) return false;
  Promise.all(files.map((f) => f.arrayBuffer())).then((buffers) => {
    const meta = files.map((f) => ({ name: f.name || "pasted image", type: f.type || "" }));
    model.send({ event: "files", files: meta }, undefined, buffers);
  });
  return true;
}

function render({ model, el }) {
  el.classList.add("qnb-prompt");
  const box = document.createElement("textarea");
  box.className = "qnb-prompt-box";
  box.rows = model.get("rows") || 3;
  box.setAttribute("aria-label", model.get("label") || "Message");
  // Lumino skips shortcut processing for events from inside such a node (belt and braces).
  box.dataset.lmSuppressShortcuts = "true";
  const tray = document.createElement("div");
  tray.className = "qnb-attachments";
  el.append(tray, box);

  const drawTray = () => {
    const items = model.get("attachments") || [];
    tray.replaceChildren(
      ...items.map((item) => {
        const chip = document.createElement("div");
        chip.className = "qnb-attachment";
        if (item.thumb && item.thumb.startsWith("data:image/")) {
          const img = document.createElement("img");
          img.src = item.thumb; // made by the kernel from the user's own file
          img.alt = item.name;
          chip.appendChild(img);
        }
        const name = document.createElement("span");
        name.className = "qnb-attachment-name";
        name.textContent = item.name + (item.note ? ` (${item.note})` : "");
        chip.appendChild(name);
        chip.appendChild(
          button(`Remove ${item.name}`, "×", () => model.send({ event: "remove", id: item.id })),
        );
        return chip;
      }),
    );
    tray.hidden = items.length === 0;
  };

  const fromModel = () => {
    if (box.value !== model.get("value")) box.value = model.get("value");
    box.placeholder = model.get("placeholder") || "";
    box.disabled = !!model.get("disabled");
  };
  const toModel = () => {
    model.set("value", box.value);
    model.save_changes();
  };
  const onKey = (event) => {
    event.stopPropagation(); // never a notebook shortcut (see above)
    if (event.type !== "keydown") return;
    // isComposing: Enter that confirms an IME composition (Japanese, Chinese...) is not a send
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      const text = box.value;
      box.value = "";
      toModel();
      model.send({ event: "submit", value: text });
    } else if (event.key === "Escape") {
      event.preventDefault();
      model.send({ event: "escape" });
    } else if (event.key === "ArrowUp" && box.value === "" && !event.isComposing) {
      event.preventDefault();
      model.send({ event: "recall" });
    }
  };
  box.addEventListener("input", toModel);
  for (const type of ["keydown", "keyup", "keypress"]) box.addEventListener(type, onKey);
  // a paste or drop of files is an attachment, and none of the notebook's business
  box.addEventListener("paste", (event) => {
    event.stopPropagation();
    if (sendFiles(model, event.clipboardData && event.clipboardData.files)) event.preventDefault();
  });
  el.addEventListener("dragover", (event) => {
    if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) {
      event.preventDefault();
      event.stopPropagation();
      el.classList.add("qnb-drop");
    }
  });
  el.addEventListener("dragleave", () => el.classList.remove("qnb-drop"));
  el.addEventListener("drop", (event) => {
    el.classList.remove("qnb-drop");
    if (sendFiles(model, event.dataTransfer && event.dataTransfer.files)) {
      event.preventDefault();
      event.stopPropagation();
    }
  });
  model.on("change:attachments", drawTray);
  drawTray();
  model.on("change:value", fromModel);
  model.on("change:placeholder", fromModel);
  model.on("change:disabled", fromModel);
  const onFocus = () => {
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  };
  model.on("msg:custom", (msg) => {
    if (msg && msg.op === "focus") onFocus();
  });
  fromModel();
  return () => {
    model.off("change:value", fromModel);
    model.off("change:placeholder", fromModel);
    model.off("change:disabled", fromModel);
    model.off("change:attachments", drawTray);
  };
}

export default { render };
