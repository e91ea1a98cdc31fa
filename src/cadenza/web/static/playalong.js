// Playing along: after a count-in at the chosen tempo the person plays a phrase, which is
// quantised to the model's grid of 16ths (pitches, order, held lengths and velocities kept)
// and drawn on a piano roll; Answer sends the whole exchange so far to POST /api/answer and
// the answer plays at once on the page's synthesiser (or a chosen MIDI output). Playing
// again continues the exchange; it downloads as MIDI and MusicXML.
import { lightKey, midiOutput, setupKeyboard } from "./keyboard.js";
import { drawRoll } from "./roll.js";
import { $, api, el, withToken } from "./shared.js";
import { audio, audioTimeAt, click, playNotes, startVoice, stopVoice } from "./synth.js";

const STEPS_PER_BEAT = 4;
const BEATS_PER_BAR = 4;
const STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR;
const LEAD_MS = 120; // the count-in starts this long after the button is pressed
const EARLY_STEPS = 0.5; // a note this early for the phrase's first 16th still counts

// The exchange: every note played and answered, in 16ths from its first bar line.
const exchange = { notes: [], end: 0, answerStart: null, answered: 0, urls: null };
// The phrase being recorded: its first 16th's time (performance.now() ms) and its notes.
let take = null;
const voices = new Map(); // pitch -> the voice sounding it now

function panel() {
  return $("play-along-panel");
}

function setPhase(phase, text) {
  panel().dataset.phase = phase;
  $("pa-status").textContent = text;
  $("pa-play").disabled = ["count-in", "recording", "answering"].includes(phase);
  $("answer").disabled = phase !== "recorded";
  $("pa-restart").disabled = ["count-in", "recording", "answering"].includes(phase);
}

// A number field's whole value within [low, high] (``fallback`` when it is not a number).
function bounded(id, low, high, fallback) {
  const value = Math.round(Number($(id).value));
  return Number.isFinite(value) && $(id).value !== "" ?
    Math.min(high, Math.max(low, value)) : fallback;
}

function tempo() {
  return bounded("pa-bpm", 30, 300, 100);
}

function stepMs() {
  return 60000 / tempo() / STEPS_PER_BEAT;
}

function down(pitch, velocity) {
  stopVoice(voices.get(pitch));
  voices.set(pitch, startVoice(pitch, velocity));
  lightKey(pitch, true);
  if (take) take.open.set(pitch, { pitch, velocity, on: performance.now() });
}

function up(pitch) {
  stopVoice(voices.get(pitch));
  voices.delete(pitch);
  lightKey(pitch, false);
  if (!take || !take.open.has(pitch)) return;
  take.played.push({ ...take.open.get(pitch), off: performance.now() });
  take.open.delete(pitch);
}

// Count in one bar at the tempo, then record phrase bars; the clicks go on while recording.
function countIn() {
  audio();
  const bars = bounded("pa-phrase-bars", 1, 8, 2);
  const beatMs = 60000 / tempo();
  const begin = performance.now() + LEAD_MS;
  const start = begin + BEATS_PER_BAR * beatMs;
  for (let beat = 0; beat < BEATS_PER_BAR * (bars + 1); beat++) {
    click(audioTimeAt(begin + beat * beatMs), beat % BEATS_PER_BAR === 0);
  }
  take = { start, steps: bars * STEPS_PER_BAR, open: new Map(), played: [] };
  setPhase("count-in", "Count-in: 1 2 3 4, then play…");
  setTimeout(() => setPhase("recording", `Play ${bars} bar${bars === 1 ? "" : "s"} now.`),
    start - performance.now());
  setTimeout(finishTake, start + bars * STEPS_PER_BAR * stepMs() - performance.now());
}

// A played note on the grid: its 16th, held length and velocity; null outside the phrase.
export function quantise(note, start, steps, ms) {
  const step = Math.round((note.on - start) / ms);
  if ((note.on - start) / ms < -EARLY_STEPS || step >= steps) return null;
  const first = Math.max(step, 0);
  const length = Math.max(1, Math.round((note.off - note.on) / ms));
  return { pitch: note.pitch, start: first, length: Math.min(length, steps - first),
    velocity: note.velocity };
}

function finishTake() {
  const now = performance.now();
  for (const note of take.open.values()) take.played.push({ ...note, off: now });
  const ms = stepMs();
  const seen = new Set();
  const notes = [];
  for (const played of take.played.sort((a, b) => a.on - b.on)) {
    const note = quantise(played, take.start, take.steps, ms);
    if (!note || seen.has(`${note.pitch}:${note.start}`)) continue;
    seen.add(`${note.pitch}:${note.start}`);
    notes.push({ ...note, start: note.start + exchange.end, part: "user" });
  }
  const steps = take.steps;
  take = null;
  if (!notes.length) {
    setPhase(exchange.answered ? "answered" : "idle", "Nothing was played; play again.");
    return;
  }
  exchange.notes.push(...notes);
  exchange.end += steps;
  panel().dataset.userNotes = String(exchange.notes.filter((n) => n.part === "user").length);
  drawExchange();
  setPhase("recorded", `${notes.length} notes played. Ask for the answer.`);
  if ($("pa-auto").checked) answer();
}

function model() {
  return $("pa-model").value;
}

async function answer() {
  const bars = bounded("pa-bars", 1, 8, 2);
  setPhase("answering", "cadenza is answering…");
  const asked = performance.now();
  const body = { model: model(), bpm: tempo(), bars, end: exchange.end,
    notes: exchange.notes.map(({ pitch, start, length, velocity }) =>
      ({ pitch, start, length, velocity })) };
  const seed = $("pa-seed").value;
  if (seed !== "") body.seed = Number(seed);
  let reply;
  try {
    reply = await api("/api/answer", { method: "POST", body: JSON.stringify(body) });
  } catch (error) {
    setPhase("recorded", `No answer: ${error.message}`);
    return;
  }
  const waited = Math.round(performance.now() - asked);
  playAnswer(reply.answer);
  exchange.answerStart = reply.answer.start;
  exchange.notes.push(...reply.answer.notes.map((n) => ({ ...n, part: "answer" })));
  exchange.end = reply.answer.start + reply.answer.bars * STEPS_PER_BAR;
  exchange.answered += 1;
  exchange.urls = reply.urls;
  panel().dataset.answerNotes = String(reply.answer.notes.length);
  panel().dataset.answers = String(exchange.answered);
  panel().dataset.waitedMs = String(waited);
  showDownloads();
  drawExchange();
  setPhase("answered", `Answered with ${reply.answer.notes.length} notes in ${waited} ms. ` +
    "Play again to go on.");
}

// The answer sounds at once: on the chosen MIDI output, else on the page's synthesiser.
function playAnswer(answered) {
  const ms = stepMs();
  const port = midiOutput();
  if (port) {
    const now = performance.now() + 30;
    for (const n of answered.notes) {
      const at = now + (n.start - answered.start) * ms;
      port.send([0x90, n.pitch, n.velocity], at);
      port.send([0x80, n.pitch, 0], at + n.length * ms);
    }
    return;
  }
  const ctx = audio();
  if (ctx) playNotes(answered.notes, ctx.currentTime + 0.03, answered.start, ms / 1000);
}

function showDownloads() {
  for (const [kind, link] of [["midi", $("pa-download-midi")],
    ["musicxml", $("pa-download-musicxml")]]) {
    link.href = withToken(exchange.urls[kind]);
    link.removeAttribute("aria-disabled");
    link.tabIndex = 0;
  }
  $("pa-downloads").hidden = false;
}

// The exchange on the piano roll: played notes green, answers orange.
function drawExchange() {
  const notes = exchange.notes;
  const pitches = notes.map((n) => n.pitch);
  const beats = Math.max(exchange.end, STEPS_PER_BAR) / STEPS_PER_BEAT;
  drawRoll({
    pitch_range: pitches.length ? [Math.min(...pitches), Math.max(...pitches)] : [60, 72],
    beats_per_bar: BEATS_PER_BAR,
    end: { beats, seconds: beats * 60 / tempo() },
    generated_start: { beats: (exchange.answerStart ?? exchange.end) / STEPS_PER_BEAT },
    notes: notes.map((n) => ({ pitch: n.pitch, start: n.start / STEPS_PER_BEAT,
      duration: n.length / STEPS_PER_BEAT, part: n.part === "answer" ? "generated" : "input" })),
  }, $("pa-roll"), $("pa-roll-summary"));
}

function restart() {
  Object.assign(exchange, { notes: [], end: 0, answerStart: null, answered: 0, urls: null });
  for (const name of ["userNotes", "answerNotes", "answers", "waitedMs"]) {
    delete panel().dataset[name];
  }
  $("pa-downloads").hidden = true;
  drawExchange();
  setPhase("idle", "Press Play to count in.");
}

async function loadGridModels() {
  const select = $("pa-model");
  try {
    const { models } = await api("/api/models");
    const grid = models.filter((m) => m.grid);
    select.replaceChildren(...grid.map((m) => el("option", { value: m.id,
      text: `${m.id} (${m.family})` })));
    const preferred = grid.find((m) => m.default) || grid[0];  // the shipped default
    if (preferred) select.value = preferred.id;
    if (!grid.length) setPhase("idle", "No grid model here to play along with.");
  } catch (error) {
    setPhase("idle", `Could not list the models: ${error.message}`);
  }
}

function toggle() {
  const on = $("play-along").getAttribute("aria-pressed") !== "true";
  $("play-along").setAttribute("aria-pressed", String(on));
  panel().hidden = !on;
  if (on) {
    audio();
    if (!$("pa-model").options.length) loadGridModels();
    drawExchange();
    panel().scrollIntoView({ block: "start" });
  }
}

export function setupPlayAlong() {
  setupKeyboard({ down, up, active: () => !panel().hidden });
  $("play-along").addEventListener("click", toggle);
  $("pa-play").addEventListener("click", countIn);
  $("answer").addEventListener("click", answer);
  $("pa-restart").addEventListener("click", restart);
  setPhase("idle", "Press Play to count in.");
}
