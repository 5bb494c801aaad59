// The playground's live check: the query is checked as it is typed (GET /playground/check,
// the same positioned errors as `trade-monitor check`). Without JavaScript, "Run" shows them.
"use strict";
(function () {
  const query = document.getElementById("query");
  const live = document.getElementById("live");
  if (!query || !live) return;
  let timer = null;
  let asked = 0;

  function show(result) {
    live.replaceChildren();
    live.className = "live " + (result.ok ? "ok" : "bad");
    if (result.ok) {
      live.textContent = "query OK";
      return;
    }
    for (const p of result.problems) {
      const box = document.createElement("div");
      box.className = "problem";
      const message = document.createElement("div");
      message.className = "message";
      message.textContent = (p.line ? `${p.file}:${p.line}:${p.column}: ` : "") + p.message;
      box.append(message);
      if (p.source_line && p.column) {
        const caret = document.createElement("pre");
        caret.className = "caret";
        caret.textContent = p.source_line + "\n" + " ".repeat(p.column - 1) + "^";
        box.append(caret);
      }
      if (p.hint) {
        const hint = document.createElement("div");
        hint.className = "hint";
        hint.textContent = "hint: " + p.hint;
        box.append(hint);
      }
      live.append(box);
    }
  }

  async function check() {
    const mine = ++asked;
    if (!query.value.trim()) {
      live.replaceChildren();
      live.className = "live";
      return;
    }
    try {
      const reply = await fetch("/playground/check?query=" + encodeURIComponent(query.value));
      const result = await reply.json();
      if (mine === asked) show(result);
    } catch (err) {
      if (mine === asked) live.textContent = "could not check the query: " + err;
    }
  }

  query.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 200);
  });
  if (query.value.trim()) check();
})();
