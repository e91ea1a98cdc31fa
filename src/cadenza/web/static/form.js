// The form panel: what to do (compose, or continue, harmonise or fill in an uploaded MIDI
// file), the model and its controls, the upload; Compose, then progress until the piece is
// done (shown in the result panel) or cancelled.
import { refreshHistory } from "./history.js";
import { GM_PROGRAMS } from "./programs.js";
import { showComposition } from "./result.js";
import { $, api, el, setStatus, showError, state } from "./shared.js";

const POLL_MS = 400;
const MODE_HINTS = {
  compose: "The model continues a held-out piece it never heard, or starts from silence.",
  continue: "The model carries on from your MIDI file.",
  harmonise: "Your file is the melody; the model writes the other voices around it.",
  infill: "The bars you name are composed again; the rest of your file is kept.",
};
const TEXT_FIELDS = ["key", "pitch_range", "density", "form", "ending", "infill", "voice",
  "ensemble"];
const INT_FIELDS = ["bpm", "max_polyphony", "phrase_bars", "top_k", "primer_bars"];
const FLOAT_FIELDS = ["key_strength", "variation", "humanise", "threshold", "top_p"];
const MODE_FIELDS = { primer_bars: "continue", voice: "harmonise", below_only: "harmonise",
  infill: "infill" };

function currentMode() {
  const checked = document.querySelector('input[name="mode"]:checked');
  return checked ? checked.value : "compose";
}

function onInvalidField(event) {
  const field = event.target;
  const label = document.querySelector(`label[for="${field.id}"]`);
  const name = label ? label.textContent.trim() : field.name;
  showError(`${name}: ${field.validationMessage}`);
}

// -- models --------------------------------------------------------------------------------
export async function loadModels() {
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
    const preferred = models.find((m) => m.default);  // the shipped default, else the first
    if (preferred) select.value = preferred.id;
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
  const style = $("style");  // a styled model's styles (composers or periods)
  style.replaceChildren(el("option", { value: "", text: "No style" }));
  for (const name of model.styles || []) style.append(el("option", { value: name, text: name }));
  style.disabled = !(model.styles || []).length;
  $("style_strength").disabled = style.disabled;
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
  if ($("style").value && !$("style").disabled) body.style = $("style").value;
  const strength = $("style_strength").value.trim();  // only with a style
  if (body.style && strength !== "") body.style_strength = Number.parseFloat(strength);
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

// The form's listeners and its instrument list; then the models are asked for.
export function setupForm() {
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
}
