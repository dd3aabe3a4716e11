// The playground page: a code session edited in CodeMirror, saved as you type, run with live
// output. It speaks only the public HTTP API of the origin that served it (see README "HTTP API").
"use strict";

(() => {
  if (!window.CodeMirror) {
    // The API serves the editor from PLAYGROUND_EDITOR_DIR (README, "Playground").
    document.getElementById("save-state").textContent =
      "The code editor could not be loaded: its files are missing on the server.";
    return;
  }
  const SAVE_DELAY_MS = 500; // autosave this long after the last keystroke
  const REMEMBERED = "runbox.playground.session";
  const $ = (id) => document.getElementById(id);
  const ui = {
    language: $("language"), newSession: $("new-session"), run: $("run"), stdin: $("stdin"), saveState: $("save-state"),
    conflict: $("conflict"), conflictText: $("conflict-text"), loadTheirs: $("load-theirs"),
    keepMine: $("keep-mine"), verdict: $("verdict"), status: $("status"), figures: $("figures"),
    output: $("output"), runs: $("runs"),
  };
  const state = {
    session: null, revision: 0, saved: "", timer: null, saving: null, failed: false,
    conflict: false, loading: false, events: null, watching: null,
  };

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `the API answered ${status}`);
      this.status = status;
      this.code = body && body.code;
      this.details = (body && body.details) || {};
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function call(method, path, body, headers = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* not ours: keep the status */ }
    if (!response.ok) {
      const error = new ApiError(response.status, data);
      error.retryAfter = Number(response.headers.get("Retry-After")) || 1;
      throw error;
    }
    return data;
  }

  // GETs and keyed POSTs are safe to repeat: wait out a 503 (projection behind, backpressure).
  async function patiently(method, path, body, headers) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call(method, path, body, headers);
      } catch (error) {
        if (error.status !== 503 || attempt >= 5) throw error;
        await sleep(1000 * error.retryAfter);
      }
    }
  }

  function randomKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- the editor ---------------------------------------------------------------------------
  let leaving = false; // Esc was pressed: the next Tab moves focus out instead of indenting
  const editor = CodeMirror.fromTextArea($("code"), {
    lineNumbers: true,
    indentUnit: 4,
    matchBrackets: true,
    readOnly: true,
    screenReaderLabel: "Code",
    extraKeys: {
      Esc: () => { leaving = true; },
      Tab: (cm) => {
        if (leaving) return moveFocus(1);
        if (cm.somethingSelected()) cm.indentSelection("add");
        else cm.execCommand("insertSoftTab");
      },
      "Shift-Tab": (cm) => {
        if (leaving) return moveFocus(-1);
        cm.indentSelection("subtract");
      },
    },
  });
  editor.getInputField().setAttribute("aria-describedby", "editor-hint");

  // What Tab (step 1) or Shift+Tab (-1) would reach from the editor were it a plain text box
  // (CodeMirror's own keymap would indent instead).
  function moveFocus(step) {
    leaving = false;
    const reachable = Array.from(
      document.querySelectorAll("a[href], button, select, textarea, [tabindex]"),
    ).filter((node) => !node.disabled && node.tabIndex >= 0 && node.getClientRects().length);
    const here = reachable.indexOf(editor.getInputField());
    const next = reachable[here + step];
    if (next) next.focus();
  }
  editor.on("keydown", (_, event) => { if (event.key !== "Escape" && event.key !== "Tab") leaving = false; });
  editor.on("changes", () => {
    if (state.loading || !state.session) return;
    showSave(editor.getValue() === state.saved ? "saved" : "unsaved");
    clearTimeout(state.timer);
    state.timer = setTimeout(save, SAVE_DELAY_MS);
  });

  function load(source, language) {
    state.loading = true;
    const mode = language && CodeMirror.findModeByFileName(language.file_name || "");
    editor.setOption("mode", mode ? mode.mime : null);
    editor.setValue(source);
    editor.clearHistory();
    editor.setOption("readOnly", false);
    state.loading = false;
  }

  // --- autosave -------------------------------------------------------------------------------
  const SAVE_TEXT = {
    none: "No session yet", saved: "All changes saved", unsaved: "Unsaved changes",
    saving: "Saving…", conflict: "Not saved: conflict", error: "Not saved",
  };

  function showSave(kind, detail) {
    ui.saveState.dataset.state = kind;
    ui.saveState.textContent = detail ? `${SAVE_TEXT[kind]}: ${detail}` : SAVE_TEXT[kind];
    if (state.session) ui.saveState.textContent += ` (revision ${state.revision})`;
  }

  // Saves the editor's text with the revision it was based on (If-Match); one request at a time.
  async function save() {
    clearTimeout(state.timer);
    state.timer = null;
    if (state.saving) return state.saving.then(save);
    if (!state.session || state.conflict) return;
    const text = editor.getValue();
    if (text === state.saved) { showSave("saved"); return; }
    showSave("saving");
    state.saving = store(text).finally(() => { state.saving = null; });
    await state.saving;
    if (!state.conflict && !state.failed && editor.getValue() !== state.saved) return save();
  }

  async function store(text) {
    const session = state.session;
    const path = `/code-sessions/${encodeURIComponent(session)}`;
    try {
      let answer;
      try {
        answer = await call("PATCH", path, { source_code: text }, { "If-Match": `"${state.revision}"` });
      } catch (error) {
        if (error.status !== 503) throw error;
        // Recorded but not yet visible: read it back instead of writing it twice.
        await sleep(1000 * error.retryAfter);
        const now = await patiently("GET", path);
        if (now.source_code !== text) throw error;
        answer = now;
      }
      if (session !== state.session) return;
      state.revision = answer.revision;
      state.saved = text;
      state.failed = false;
      showSave(editor.getValue() === text ? "saved" : "unsaved");
    } catch (error) {
      if (session !== state.session) return;
      state.failed = true;
      if (error.code === "conflict") return showConflict(error);
      if (error.code === "session_closed") {
        showSave("error", "this session is closed; choose a language to start a new one");
        editor.setOption("readOnly", true);
        return;
      }
      showSave("error", error.message);
      // Not a conflict: try again a little later, unless the next keystroke does first.
      state.timer = setTimeout(() => { state.failed = false; save(); }, 3000);
    }
  }

  // Everything typed so far is saved (true), or cannot be (false).
  async function flush() {
    await save();
    return !state.conflict && !state.failed && editor.getValue() === state.saved;
  }

  function showConflict(error) {
    state.conflict = true;
    showSave("conflict");
    const revision = error.details.revision;
    ui.conflictText.textContent =
      `This session was changed elsewhere (it is now at revision ${revision}, this page had ` +
      `revision ${state.revision}). Your latest edits are not saved.`;
    ui.conflict.hidden = false;
    ui.loadTheirs.focus();
  }

  async function resolveConflict(keepMine) {
    const current = await patiently("GET", `/code-sessions/${encodeURIComponent(state.session)}`);
    state.conflict = false;
    state.failed = false;
    ui.conflict.hidden = true;
    state.revision = current.revision;
    state.saved = current.source_code;
    if (keepMine) {
      await save();
    } else {
      state.loading = true;
      editor.setValue(current.source_code);
      state.loading = false;
      showSave("saved");
    }
    editor.focus();
  }

  // --- sessions -------------------------------------------------------------------------------
  function adopt(session, language) {
    state.session = session.session_id;
    state.revision = session.revision;
    state.saved = session.source_code;
    state.conflict = false;
    state.failed = false;
    ui.conflict.hidden = true;
    load(session.source_code, language);
    const url = new URL(location.href);
    url.searchParams.set("session", state.session);
    history.replaceState(null, "", url);
    localStorage.setItem(REMEMBERED, state.session);
    ui.run.disabled = false;
    ui.newSession.disabled = false;
    showSave("saved");
    clearResult();
    loadRuns();
  }

  async function languageDetail(id) {
    try {
      return await patiently("GET", `/languages/${encodeURIComponent(id)}`);
    } catch (error) {
      if (error.status === 404) return null; // no executor runs it any more
      throw error;
    }
  }

  async function chooseLanguage() {
    const id = ui.language.value;
    if (!id) return;
    ui.language.disabled = true;
    try {
      if (state.session) await flush(); // the old session keeps its last keystrokes
      const language = await languageDetail(id);
      const created = await patiently("POST", "/code-sessions", { language_id: id });
      adopt({ ...created, source_code: language ? language.template_code : "" }, language);
      editor.focus();
    } catch (error) {
      showSave("error", error.message);
    } finally {
      ui.language.disabled = false;
    }
  }

  async function resume(id) {
    try {
      const session = await patiently("GET", `/code-sessions/${encodeURIComponent(id)}`);
      if (session.status !== "ACTIVE") throw new Error("closed");
      ui.language.value = session.language_id;
      adopt(session, await languageDetail(session.language_id));
      return true;
    } catch (_) {
      localStorage.removeItem(REMEMBERED);
      return false;
    }
  }

  // --- runs -----------------------------------------------------------------------------------
  function clearResult() {
    if (state.events) state.events.close();
    state.events = null;
    state.watching = null;
    ui.output.textContent = "";
    setStatus("", "");
  }

  function setStatus(status, figures) {
    ui.verdict.dataset.status = status;
    ui.status.textContent = status;
    ui.figures.textContent = figures;
  }

  function append(stream, text) {
    const part = document.createElement("span");
    part.className = stream;
    part.textContent = text;
    ui.output.append(part);
    ui.output.scrollTop = ui.output.scrollHeight;
  }

  function milliseconds(ms) { return ms == null ? null : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`; }
  function kilobytes(kb) { return kb == null ? null : kb < 1024 ? `${kb} KB` : `${(kb / 1024).toFixed(1)} MB`; }

  function showResult(result, live) {
    const figures = [
      result.error_code && `error ${result.error_code}`,
      result.exit_code != null && `exit code ${result.exit_code}`,
      result.signal != null && `signal ${result.signal}`,
      result.execution_time_ms != null && `time ${milliseconds(result.execution_time_ms)}`,
      result.cpu_time_ms != null && `CPU ${milliseconds(result.cpu_time_ms)}`,
      result.memory_peak_kb != null && `memory ${kilobytes(result.memory_peak_kb)}`,
    ].filter(Boolean);
    setStatus(result.status, figures.join(" · "));
    // The result is the whole record: show it where the live chunks missed some or none came.
    if (!live || live.stdout !== result.stdout || live.stderr !== result.stderr) {
      ui.output.textContent = "";
      if (result.compile_output) append("compile", result.compile_output);
      if (result.stdout) append("stdout", result.stdout);
      if (result.stderr) append("stderr", result.stderr);
      if (result.error_message) append("note", `\n${result.error_message}\n`);
    }
  }

  function watch(executionId) {
    clearResult();
    setStatus("QUEUED", "");
    state.watching = executionId;
    const live = { stdout: "", stderr: "" };
    const seen = new Set();
    // EventSource reconnects by itself, sending Last-Event-ID where the server gave ids.
    const events = new EventSource(`/executions/${encodeURIComponent(executionId)}/events`);
    state.events = events;
    events.addEventListener("status", (event) => {
      if (ui.verdict.dataset.status !== event.data) setStatus(event.data, "");
    });
    events.addEventListener("output", (event) => {
      const chunk = JSON.parse(event.data);
      const key = `${chunk.attempt || 0}/${chunk.stream}/${chunk.seq}`;
      if (seen.has(key)) return;
      seen.add(key);
      if (chunk.stream in live) live[chunk.stream] += chunk.data;
      append(chunk.stream, chunk.data);
    });
    events.addEventListener("result", (event) => {
      events.close();
      state.events = null;
      showResult(JSON.parse(event.data), live);
      loadRuns();
    });
    events.addEventListener("error", () => {
      // CLOSED: the stream was refused (not a dropped connection, which is retried): poll.
      if (events.readyState === EventSource.CLOSED && state.events === events) poll(executionId);
    });
  }

  async function poll(executionId) {
    state.events = null;
    while (state.watching === executionId) {
      try {
        const execution = await patiently("GET", `/executions/${encodeURIComponent(executionId)}`);
        if (state.watching !== executionId) return;
        if (["COMPLETED", "FAILED", "TIMEOUT"].includes(execution.status)) {
          showResult(execution, null);
          loadRuns();
          return;
        }
        setStatus(execution.status, "");
      } catch (error) {
        setStatus("ERROR", error.message);
        return;
      }
      await sleep(1000);
    }
  }

  async function run() {
    if (!state.session || ui.run.disabled) return;
    ui.run.disabled = true;
    try {
      if (!(await flush())) {
        setStatus("NOT RUN", "the code is not saved (see above), so the run would not use it");
        return;
      }
      const queued = await patiently(
        "POST", `/code-sessions/${encodeURIComponent(state.session)}/run`,
        { stdin: ui.stdin.value }, { "Idempotency-Key": randomKey() },
      );
      watch(queued.execution_id);
      loadRuns();
    } catch (error) {
      setStatus("NOT RUN", error.message);
    } finally {
      ui.run.disabled = false;
    }
  }

  async function loadRuns() {
    const session = state.session;
    let listed;
    try {
      listed = await patiently("GET", `/code-sessions/${encodeURIComponent(session)}/executions?limit=20`);
    } catch (_) {
      return;
    }
    if (session !== state.session) return;
    if (!listed.executions.length) {
      const none = document.createElement("li");
      none.textContent = "No runs yet.";
      ui.runs.replaceChildren(none);
      return;
    }
    ui.runs.replaceChildren(...listed.executions.map((execution) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const when = execution.created_at ? new Date(execution.created_at).toLocaleTimeString() : "";
      const figures = [
        execution.status,
        execution.execution_time_ms != null && milliseconds(execution.execution_time_ms),
        execution.exit_code != null && `exit ${execution.exit_code}`,
      ].filter(Boolean).join(" · ");
      button.textContent = `${when} ${figures}`;
      button.dataset.status = execution.status;
      button.setAttribute("aria-label", `Show the run of ${when}: ${figures}`);
      button.addEventListener("click", () => {
        clearResult();
        if (["COMPLETED", "FAILED", "TIMEOUT"].includes(execution.status)) {
          state.watching = execution.execution_id;
          poll(execution.execution_id);
        } else {
          watch(execution.execution_id);
        }
      });
      item.append(button);
      return item;
    }));
  }

  // --- start ----------------------------------------------------------------------------------
  ui.language.addEventListener("change", chooseLanguage);
  ui.newSession.addEventListener("click", chooseLanguage); // the same language, a fresh template
  ui.run.addEventListener("click", run);
  ui.loadTheirs.addEventListener("click", () => resolveConflict(false));
  ui.keepMine.addEventListener("click", () => resolveConflict(true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); }
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.session && editor.getValue() !== state.saved) { save(); event.preventDefault(); }
  });

  (async () => {
    try {
      const listed = await patiently("GET", "/languages");
      for (const language of listed.languages) {
        ui.language.append(new Option(`${language.name} (${language.version})`, language.id));
      }
    } catch (error) {
      showSave("error", `the languages could not be read: ${error.message}`);
      return;
    }
    const wanted = new URLSearchParams(location.search).get("session") || localStorage.getItem(REMEMBERED);
    if (!(wanted && (await resume(wanted)))) ui.language.focus();
  })();
})();
