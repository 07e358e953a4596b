// qolaba_nb PromptInput: a multi-line text box where Enter sends and Shift+Enter adds a line.
//
// Typing syncs `value` to the kernel. Enter sends a custom message {event: "submit", value}
// carrying the text itself, so the kernel never acts on a stale `value`.

function render({ model, el }) {
  el.classList.add("qnb-prompt");
  const box = document.createElement("textarea");
  box.className = "qnb-prompt-box";
  box.rows = model.get("rows") || 3;
  el.appendChild(box);

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
    // isComposing: Enter that confirms an IME composition (Japanese, Chinese...) is not a send
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      toModel();
      model.send({ event: "submit", value: box.value });
    }
  };
  box.addEventListener("input", toModel);
  box.addEventListener("keydown", onKey);
  model.on("change:value", fromModel);
  model.on("change:placeholder", fromModel);
  model.on("change:disabled", fromModel);
  fromModel();
  return () => {
    model.off("change:value", fromModel);
    model.off("change:placeholder", fromModel);
    model.off("change:disabled", fromModel);
  };
}

export default { render };
