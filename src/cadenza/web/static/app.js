// cadenza's page: choose what to do (compose, or continue, harmonise or fill in an uploaded
// MIDI file), a model and its controls; follow progress, cancel; then listen to the WAV, see
// the piano roll drawn from /notes and the engraved score, and download MIDI, WAV or
// MusicXML. Talks only to the server that served it (see cadenza/web/app.py for the API).
"use strict";

const POLL_MS = 400;
const HISTORY_POLL_MS = 2500;
const $ = (id) => document.getElementById(id);

// The General MIDI instruments, by program number.
const GM_PROGRAMS = [
  "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
  "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel",
  "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
  "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
  "Harmonica", "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)",
  "Electric Guitar (jazz)", "Electric Guitar (clean)", "Electric Guitar (muted)",
  "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass",
  "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
  "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass",
  "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1",
  "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
  "Synth Voice", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
  "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax",
  "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet", "Piccolo",
  "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
  "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
  "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
  "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
  "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)",
  "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)", "FX 6 (goblins)",
  "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba",
  "Bagpipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
  "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal", "Guitar Fret Noise",
  "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
  "Gunshot",
];
const MODE_HINTS = {
  compose: "The model continues a held-out piece it never heard, or starts from silence.",
  continue: "The model carries on from your MIDI file.",
  harmonise: "Your file is the melody; the model writes the other voices around it.",
  infill: "The bars you name are composed again; the rest of your file is kept.",
};
const TEXT_FIELDS = ["key", "pitch_range", "density", "form", "ending", "infill", "voice"];
const INT_FIELDS = ["bpm", "max_polyphony", "phrase_bars", "top_k", "primer_bars"];
const FLOAT_FIELDS = ["key_strength", "variation", "humanise", "threshold", "top_p"];
const MODE_FIELDS = { primer_bars: "continue", voice: "harmonise", below_only: "harmonise",
  infill: "infill" };

const state = {
  models: [],
  upload: null, // the uploaded file: {id, name, notes, bars, key, ...}
  current: null, // id of the composition shown in the result panel
  polling: null, // id being polled after Compose
  historyTimer: null,
  notes: null, // /notes of the shown composition
};

// -- small helpers -------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (typeof options.body === "string") headers["Content-Type"] = "application/json";
  const response = await fetch(path, { headers, ...options });
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
  let who = job.composer ? `primer by ${job.composer}` : "any primer";
  if (job.mode && job.mode !== "compose") who = `${job.mode} ${job.upload || "an upload"}`;
  return `${job.model} · ${who} · ${job.bars} bar${job.bars === 1 ? "" : "s"} · ` +
    `temperature ${job.temperature} · seed ${job.seed}`;
}

function currentMode() {
  const checked = document.querySelector('input[name="mode"]:checked');
  return checked ? checked.value : "compose";
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function onInvalidField(event) {
  const field = event.target;
  const label = document.querySelector(`label[for="${field.id}"]`);
  const name = label ? label.textContent.trim() : field.name;
  showError(`${name}: ${field.validationMessage}`);
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

function currentModel() {
  return state.models.find((m) => m.id === $("model").value);
}

function onModelChange() {
  const model = currentModel();
  const composer = $("composer");
  composer.replaceChildren(el("option", { value: "", text: "Any composer" }));
  if (!model) return;
  for (const name of model.composers) composer.append(el("option", { value: name, text: name }));
  composer.disabled = model.composers.length === 0;
  $("temperature").value = String(model.temperature ?? 1);  // the model's calibrated one
  const corpus = model.corpus || {};
  const pieces = corpus.pieces ? `, ${corpus.pieces} pieces` : "";
  const primers = model.primers ? "" : " No primers: it starts from silence.";
  const total = model.training_steps || model.step;
  const steps = total === model.step ? `${total.toLocaleString()} training steps` :
    `${total.toLocaleString()} training steps in all; this checkpoint from step ` +
    `${model.step.toLocaleString()} of its last run`;
  $("model-info").textContent =
    `${model.preset} (${model.family}), trained on ${corpus.name || "unknown data"}${pieces}; ` +
    `${steps}.${primers}`;
  applyFamily(model);
}

// Controls a family cannot honour are disabled, with the reason as their title.
function applyFamily(model) {
  const controls = new Set(model.controls || []);
  for (const input of document.querySelectorAll("[data-control]")) {
    const ok = controls.has(input.dataset.control);
    input.disabled = !ok;
    const reason = `The ${model.family} family cannot honour this control.`;
    if (ok) input.removeAttribute("title");
    else input.title = reason;
    const label = document.querySelector(`label[for="${input.id}"]`);
    if (label) label.title = ok ? "" : reason;
  }
  const modes = new Set(model.modes || ["compose", "continue"]);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.disabled = !modes.has(radio.value);
    radio.parentElement.title = radio.disabled ?
      `The ${model.family} family cannot ${radio.value}; choose a biaxial or piano-roll model.` :
      "";
  }
  if (!modes.has(currentMode())) {
    document.querySelector('input[name="mode"][value="compose"]').checked = true;
    onModeChange();
  }
}

function onModeChange() {
  const mode = currentMode();
  $("mode-hint").textContent = MODE_HINTS[mode];
  $("upload-field").hidden = mode === "compose";
  $("upload-file").required = mode !== "compose" && !state.upload;
  $("composer-field").hidden = mode !== "compose";
  for (const row of document.querySelectorAll(".mode-only")) {
    row.hidden = row.dataset.mode !== mode;
  }
}

async function onUploadChange() {
  const input = $("upload-file");
  const file = input.files && input.files[0];
  state.upload = null;
  showError("");
  if (!file) {
    $("upload-info").textContent = "At most 1 MB. It stays on this machine.";
    return;
  }
  $("upload-info").textContent = `Reading ${file.name}…`;
  const data = new FormData();
  data.append("file", file, file.name);
  try {
    state.upload = await api("/api/uploads", { method: "POST", body: data });
    const u = state.upload;
    $("upload-info").textContent =
      `${u.name}: ${u.notes} notes, ${u.bars} bars, ${Math.round(u.seconds)} s, ${u.key}.`;
  } catch (error) {
    input.value = "";
    $("upload-info").textContent = "At most 1 MB. It stays on this machine.";
    showError(`Could not use that file: ${error.message}`);
  }
  onModeChange();
}

// -- composing -----------------------------------------------------------------------------
function readForm() {
  const seedText = $("seed").value.trim();
  const mode = currentMode();
  const body = {
    model: $("model").value,
    mode,
    bars: Number.parseInt($("bars").value, 10),
    temperature: Number.parseFloat($("temperature").value),
    seed: seedText === "" ? null : Number.parseInt(seedText, 10),
  };
  if (mode === "compose") body.composer = $("composer").value || null;
  else if (state.upload) body.upload = state.upload.id;
  // The other controls: sent only when filled in, enabled and meant for this mode.
  const wanted = (name) => !$(name).disabled && (!MODE_FIELDS[name] || MODE_FIELDS[name] === mode);
  const parsers = [[TEXT_FIELDS, (t) => t], [INT_FIELDS, (t) => Number.parseInt(t, 10)],
    [FLOAT_FIELDS, (t) => Number.parseFloat(t)]];
  for (const [names, parse] of parsers) {
    for (const name of names) {
      const text = $(name).value.trim();
      if (text !== "" && wanted(name)) body[name] = parse(text);
    }
  }
  if (mode === "harmonise" && $("below_only").checked) body.below_only = true;
  if ($("ritardando").checked) body.ritardando = true;
  const program = Number.parseInt($("program").value, 10);
  if (program > 0) body.program = program;
  if ($("velocity_mode").value === "fixed") body.velocity = Number.parseInt($("velocity").value, 10);
  return body;
}

async function onCompose(event) {
  event.preventDefault();
  const form = $("compose-form");
  showError("");
  if (!form.reportValidity()) return;
  if (currentMode() !== "compose" && !state.upload) {
    showError("Choose your MIDI file first.");
    $("upload-file").focus();
    return;
  }
  const button = $("compose-button");
  button.disabled = true;
  try {
    const job = await api("/api/compositions", { method: "POST", body: JSON.stringify(readForm()) });
    setStatus("Queued…");
    const bar = $("progress");
    bar.hidden = false;
    bar.removeAttribute("value"); // indeterminate until the first step is reported
    state.polling = job.id;
    $("cancel-button").hidden = false;
    $("cancel-button").disabled = false;
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
      const stages = { rendering: "Rendering audio…", engraving: "Engraving the score…" };
      setStatus(stages[job.stage] ||
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
    } else if (job.status === "cancelled") {
      setStatus("Cancelled.");
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
  $("cancel-button").hidden = true;
  $("progress").hidden = true;
}

async function onCancel() {
  const id = state.polling;
  if (!id) return;
  $("cancel-button").disabled = true;
  try {
    await api(`/api/compositions/${id}/cancel`, { method: "POST" });
    setStatus("Cancelling…");
  } catch (error) {
    showError(`Could not cancel: ${error.message}`);
  }
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
  const primer = job.primer && (!job.mode || job.mode === "compose") ? ` · primer ${job.primer}` : "";
  const form = job.form ? ` · form ${job.form}` : "";
  $("result-meta").textContent = describe(job) + primer + form;
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
  const warned = $("piece-warnings");
  warned.hidden = !(job.warnings && job.warnings.length);
  warned.textContent = warned.hidden ? "" : `Note: ${job.warnings.join("; ")}.`;
  setDownload($("download-midi"), job.urls.midi, job.downloads.midi);
  setDownload($("download-wav"), job.urls.wav, job.downloads.wav);
  setDownload($("download-musicxml"), job.urls.musicxml, job.downloads.musicxml);
  const score = $("score");
  const scoreMissing = $("score-missing");
  if (job.urls.score) {
    score.hidden = false;
    score.src = job.urls.score;
    scoreMissing.hidden = true;
  } else {
    score.removeAttribute("src");
    score.hidden = true;
    scoreMissing.hidden = false;
    scoreMissing.textContent = `No sheet music for this one: ${job.score_error || "not engraved"}.`;
  }
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

  const colours = { primer: cssVar("--primer"), generated: cssVar("--generated"),
    input: cssVar("--input") };
  const counts = { primer: 0, generated: 0, input: 0 };
  const noteHeight = Math.max(1, Math.round(rowHeight) - (rowHeight > 4 ? 1 : 0));
  for (const part of ["primer", "input", "generated"]) {
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
  canvas.dataset.inputNotes = String(counts.input);
  canvas.dataset.inputColor = colours.input;
  const given = counts.input ? `${counts.input} notes of your melody and ` : "";
  canvas.setAttribute("aria-label",
    `Piano roll: ${counts.primer} primer notes then ${given}${counts.generated} composed ` +
    `notes, pitches ${lowPitch} to ${highPitch}, ${Math.round(data.end.seconds)} seconds`);
  $("roll-summary").textContent =
    `${counts.primer + counts.input + counts.generated} notes, ${Math.round(data.end.seconds)} s`;
  updatePlayhead();
}

const LABEL_CSS_PX = 12; // the octave labels' size on the screen, whatever the pixel ratio

function drawOctaveLabels(ctx, low, high, y, rowHeight, ratio) {
  const size = Math.round(LABEL_CSS_PX * ratio); // canvas pixels
  const canvas = ctx.canvas;
  canvas.dataset.labelFont = `${size}px`;
  canvas.dataset.labelCount = "0";
  if (12 * rowHeight < size * 1.2) return; // no room between two Cs
  ctx.font = `${size}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  ctx.lineJoin = "round";
  ctx.lineWidth = Math.max(2, Math.round(3 * ratio));
  ctx.strokeStyle = cssVar("--roll-bg"); // a halo keeps a label legible over notes
  ctx.fillStyle = cssVar("--muted");
  let count = 0;
  for (let pitch = low; pitch <= high; pitch++) {
    if (pitch % 12 === 0) {
      const label = `C${pitch / 12 - 1}`;
      const left = Math.round(4 * ratio);
      const bottom = y(pitch) + rowHeight;
      ctx.strokeText(label, left, bottom);
      ctx.fillText(label, left, bottom);
      count += 1;
    }
  }
  canvas.dataset.labelCount = String(count);
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
    if (["done", "failed", "cancelled"].includes(job.status)) {
      const remove = el("button", { type: "button", class: "delete", text: "Delete" });
      remove.setAttribute("aria-label", `Delete: ${describe(job)}`);
      remove.addEventListener("click", () => deleteComposition(job));
      item.append(remove);
    }
    list.append(item);
  }
  markCurrent();
  clearTimeout(state.historyTimer);
  if (busy) state.historyTimer = setTimeout(refreshHistory, HISTORY_POLL_MS);
}

async function deleteComposition(job) {
  try {
    await api(`/api/compositions/${job.id}`, { method: "DELETE" });
  } catch (error) {
    showError(`Could not delete: ${error.message}`);
    return;
  }
  if (state.current === job.id) {
    state.current = null;
    state.notes = null;
    $("result").hidden = true;
  }
  refreshHistory();
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
  // A field the browser refuses to submit gets a lasting message, not only its bubble.
  $("compose-form").addEventListener("invalid", onInvalidField, true);
  $("cancel-button").addEventListener("click", onCancel);
  $("upload-file").addEventListener("change", onUploadChange);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", onModeChange);
  }
  $("velocity_mode").addEventListener("change", () => {
    $("velocity").disabled = $("velocity_mode").value !== "fixed";
  });
  const program = $("program");
  GM_PROGRAMS.forEach((name, number) => {
    program.append(el("option", { value: String(number), text: `${number} ${name}` }));
  });
  onModeChange();
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
