// cadenza's page: choose a model and settings, compose, follow progress, then listen to the
// WAV, see the piano roll drawn from /notes and download MIDI or WAV. Talks only to the
// server that served it (see cadenza/web/app.py for the API).
"use strict";

const POLL_MS = 400;
const HISTORY_POLL_MS = 2500;
const $ = (id) => document.getElementById(id);

const state = {
  models: [],
  current: null, // id of the composition shown in the result panel
  polling: null, // id being polled after Compose
  historyTimer: null,
  notes: null, // /notes of the shown composition
};

// -- small helpers -------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    ...options,
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    error.field = body ? body.field : undefined;
    throw error;
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function formatWhen(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

function describe(job) {
  const who = job.composer ? `primer by ${job.composer}` : "any primer";
  return `${job.model} · ${who} · ${job.bars} bar${job.bars === 1 ? "" : "s"} · ` +
    `temperature ${job.temperature} · seed ${job.seed}`;
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// -- models --------------------------------------------------------------------------------
async function loadModels() {
  const select = $("model");
  try {
    const { models } = await api("/api/models");
    state.models = models;
    select.replaceChildren();
    if (!models.length) {
      select.append(el("option", { value: "", text: "No models found" }));
      setStatus("No models: start cadenza serve with --checkpoints pointing at a run folder.");
      $("compose-button").disabled = true;
      return;
    }
    for (const model of models) {
      select.append(el("option", { value: model.id, text: `${model.id} (${model.family})` }));
    }
    onModelChange();
  } catch (error) {
    select.replaceChildren(el("option", { value: "", text: "Models unavailable" }));
    showError(`Could not list the models: ${error.message}`);
  }
}

function onModelChange() {
  const model = state.models.find((m) => m.id === $("model").value);
  const composer = $("composer");
  composer.replaceChildren(el("option", { value: "", text: "Any composer" }));
  if (!model) return;
  for (const name of model.composers) composer.append(el("option", { value: name, text: name }));
  composer.disabled = model.composers.length === 0;
  const corpus = model.corpus || {};
  const pieces = corpus.pieces ? `, ${corpus.pieces} pieces` : "";
  const primers = model.primers ? "" : " No primers: it starts from silence.";
  $("model-info").textContent =
    `${model.preset}, trained on ${corpus.name || "unknown data"}${pieces} ` +
    `(step ${model.step}).${primers}`;
}

// -- composing -----------------------------------------------------------------------------
function readForm() {
  const seedText = $("seed").value.trim();
  const body = {
    model: $("model").value,
    composer: $("composer").value || null,
    bars: Number.parseInt($("bars").value, 10),
    temperature: Number.parseFloat($("temperature").value),
    seed: seedText === "" ? null : Number.parseInt(seedText, 10),
  };
  // The "More" controls: sent only when filled in.
  for (const name of ["key", "pitch_range", "form", "ending"]) {
    const text = $(name).value.trim();
    if (text !== "") body[name] = text;
  }
  for (const name of ["bpm", "max_polyphony", "velocity"]) {
    const text = $(name).value.trim();
    if (text !== "") body[name] = Number.parseInt(text, 10);
  }
  return body;
}

async function onCompose(event) {
  event.preventDefault();
  const form = $("compose-form");
  showError("");
  if (!form.reportValidity()) return;
  const button = $("compose-button");
  button.disabled = true;
  try {
    const job = await api("/api/compositions", { method: "POST", body: JSON.stringify(readForm()) });
    setStatus("Queued…");
    const bar = $("progress");
    bar.hidden = false;
    bar.removeAttribute("value"); // indeterminate until the first step is reported
    state.polling = job.id;
    refreshHistory();
    poll(job.id);
  } catch (error) {
    button.disabled = false;
    if (error.field && $(error.field)) $(error.field).focus();
    showError(error.status === 429 ? `Busy: ${error.message}` : error.message);
  }
}

async function poll(id) {
  if (state.polling !== id) return;
  let job;
  try {
    job = await api(`/api/compositions/${id}`);
  } catch (error) {
    finishPolling();
    showError(`Lost track of the composition: ${error.message}`);
    return;
  }
  const bar = $("progress");
  if (job.status === "queued") {
    setStatus("Waiting for a free worker…");
  } else if (job.status === "running") {
    if (job.progress.total > 0) {
      bar.value = job.progress.fraction;
      const percent = Math.round(job.progress.fraction * 100);
      setStatus(job.stage === "rendering" ? "Rendering audio…" :
        `Composing: step ${job.progress.done} of ${job.progress.total} (${percent}%)`);
    } else {
      setStatus("Loading the model…");
    }
  } else {
    finishPolling();
    refreshHistory();
    if (job.status === "done") {
      bar.value = 1;
      setStatus("Done.");
      await showComposition(job, false);
    } else {
      setStatus("");
      showError(`The composition failed: ${job.error}`);
    }
    return;
  }
  setTimeout(() => poll(id), POLL_MS);
}

function finishPolling() {
  state.polling = null;
  $("compose-button").disabled = false;
  $("progress").hidden = true;
}

// -- the result ----------------------------------------------------------------------------
function setDownload(link, url, name) {
  if (url) {
    link.href = url;
    link.setAttribute("download", name);
    link.removeAttribute("aria-disabled");
    link.tabIndex = 0;
  } else {
    link.removeAttribute("href");
    link.setAttribute("aria-disabled", "true");
    link.tabIndex = -1;
  }
}

async function showComposition(job, play) {
  state.current = job.id;
  const panel = $("result");
  panel.hidden = false;
  $("result-meta").textContent = describe(job) + (job.primer ? ` · primer ${job.primer}` : "");
  const player = $("player");
  const missing = $("wav-missing");
  if (job.urls.wav) {
    player.hidden = false;
    missing.hidden = true;
    player.src = job.urls.wav;
    if (play) player.play().catch(() => {});
  } else {
    player.removeAttribute("src");
    player.hidden = true;
    missing.hidden = false;
    missing.textContent = `No audio for this one: ${job.wav_error || "the WAV is missing"}. ` +
      "The MIDI file plays in any MIDI player.";
  }
  setDownload($("download-midi"), job.urls.midi, job.downloads.midi);
  setDownload($("download-wav"), job.urls.wav, job.downloads.wav);
  markCurrent();
  try {
    state.notes = await api(job.urls.notes);
    drawRoll(state.notes);
  } catch (error) {
    showError(`Could not draw the piano roll: ${error.message}`);
  }
}

// -- the piano roll ------------------------------------------------------------------------
const BLACK_KEYS = new Set([1, 3, 6, 8, 10]);

function drawRoll(data) {
  const canvas = $("roll");
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const [lowPitch, highPitch] = data.pitch_range;
  const low = lowPitch - 2;
  const high = highPitch + 2;
  const rows = high - low + 1;
  const rowHeight = height / rows;
  const beats = Math.max(data.end.beats, 1);
  const x = (beat) => Math.round((beat / beats) * width);
  const y = (pitch) => Math.round((high - pitch) * rowHeight);

  ctx.fillStyle = cssVar("--roll-bg");
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = cssVar("--roll-black-key");
  for (let pitch = low; pitch <= high; pitch++) {
    if (BLACK_KEYS.has(((pitch % 12) + 12) % 12)) {
      ctx.fillRect(0, y(pitch), width, Math.max(1, Math.round(rowHeight)));
    }
  }
  ctx.fillStyle = cssVar("--roll-bar");
  for (let beat = 0; beat <= beats; beat += data.beats_per_bar) {
    ctx.fillRect(x(beat), 0, Math.max(1, Math.round(ratio)), height);
  }

  const colours = { primer: cssVar("--primer"), generated: cssVar("--generated") };
  const counts = { primer: 0, generated: 0 };
  const noteHeight = Math.max(1, Math.round(rowHeight) - (rowHeight > 4 ? 1 : 0));
  for (const part of ["primer", "generated"]) {
    ctx.fillStyle = colours[part];
    for (const note of data.notes) {
      if (note.part !== part) continue;
      const left = x(note.start);
      const right = Math.max(left + 1, x(note.start + note.duration) - (width > 600 ? 1 : 0));
      ctx.fillRect(left, y(note.pitch), right - left, noteHeight);
      counts[part] += 1;
    }
  }
  ctx.fillStyle = cssVar("--roll-start");
  ctx.fillRect(x(data.generated_start.beats), 0, Math.max(2, Math.round(2 * ratio)), height);
  drawOctaveLabels(ctx, low, high, y, rowHeight, ratio);

  canvas.dataset.primerNotes = String(counts.primer);
  canvas.dataset.generatedNotes = String(counts.generated);
  canvas.dataset.primerColor = colours.primer;
  canvas.dataset.generatedColor = colours.generated;
  canvas.setAttribute("aria-label",
    `Piano roll: ${counts.primer} primer notes then ${counts.generated} composed notes, ` +
    `pitches ${lowPitch} to ${highPitch}, ${Math.round(data.end.seconds)} seconds`);
  $("roll-summary").textContent =
    `${counts.primer + counts.generated} notes, ${Math.round(data.end.seconds)} s`;
  updatePlayhead();
}

function drawOctaveLabels(ctx, low, high, y, rowHeight, ratio) {
  const size = Math.round(10 * ratio);
  if (12 * rowHeight < size * 1.2) return; // no room between two Cs
  ctx.font = `${size}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  ctx.fillStyle = cssVar("--muted");
  for (let pitch = low; pitch <= high; pitch++) {
    if (pitch % 12 === 0) {
      ctx.fillText(`C${pitch / 12 - 1}`, Math.round(3 * ratio), y(pitch) + rowHeight);
    }
  }
}

function updatePlayhead() {
  const head = $("playhead");
  const player = $("player");
  if (!state.notes || !player.src || player.paused && player.currentTime === 0) {
    head.classList.remove("visible");
    return;
  }
  const fraction = Math.min(1, player.currentTime / Math.max(state.notes.end.seconds, 0.001));
  head.style.left = `calc(${(fraction * 100).toFixed(3)}% - 1px)`;
  head.classList.add("visible");
}

function animatePlayhead() {
  updatePlayhead();
  if (!$("player").paused) requestAnimationFrame(animatePlayhead);
}

function seekFromRoll(event) {
  const player = $("player");
  if (!state.notes || !player.src) return;
  const box = event.currentTarget.getBoundingClientRect();
  const fraction = (event.clientX - box.left) / box.width;
  player.currentTime = Math.max(0, fraction * state.notes.end.seconds);
  updatePlayhead();
}

// -- history -------------------------------------------------------------------------------
async function refreshHistory() {
  let data;
  try {
    data = await api("/api/compositions?limit=50");
  } catch {
    return;
  }
  const list = $("history");
  list.replaceChildren();
  $("history-empty").hidden = data.compositions.length > 0;
  let busy = false;
  for (const job of data.compositions) {
    busy ||= job.status === "queued" || job.status === "running";
    const what = el("div", { class: "what" },
      el("span", { text: describe(job) }),
      el("span", { class: "when", text: formatWhen(job.created) }));
    if (job.status === "failed" && job.error) {
      what.append(el("span", { class: "item-error", text: job.error }));
    }
    const item = el("li", { "data-id": job.id }, what,
      el("span", { class: `badge ${job.status}`, text: job.status }));
    if (job.status === "done") {
      const button = el("button", { type: "button", text: job.urls.wav ? "Play" : "Show" });
      button.setAttribute("aria-label", `${job.urls.wav ? "Play" : "Show"}: ${describe(job)}`);
      button.addEventListener("click", () => showComposition(job, true));
      item.append(button);
    }
    list.append(item);
  }
  markCurrent();
  clearTimeout(state.historyTimer);
  if (busy) state.historyTimer = setTimeout(refreshHistory, HISTORY_POLL_MS);
}

function markCurrent() {
  for (const item of $("history").children) {
    item.classList.toggle("current", item.dataset.id === state.current);
  }
}

// -- start ---------------------------------------------------------------------------------
function start() {
  $("model").addEventListener("change", onModelChange);
  $("compose-form").addEventListener("submit", onCompose);
  const player = $("player");
  player.addEventListener("play", animatePlayhead);
  player.addEventListener("seeked", updatePlayhead);
  player.addEventListener("ended", updatePlayhead);
  $("roll").addEventListener("click", seekFromRoll);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => state.notes && drawRoll(state.notes), 150);
  });
  loadModels();
  refreshHistory();
}

document.addEventListener("DOMContentLoaded", start);
