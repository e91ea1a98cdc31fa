// The piano roll of the shown composition, drawn from its /notes on a canvas, and the
// playhead that follows the audio player (a click on the roll seeks).
import { $, cssVar, state } from "./shared.js";

const BLACK_KEYS = new Set([1, 3, 6, 8, 10]);

// ``canvas`` and ``summary``: the play-along draws its exchange on a roll of its own.
export function drawRoll(data, canvas = $("roll"), summary = $("roll-summary")) {
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
  summary.textContent =
    `${counts.primer + counts.input + counts.generated} notes, ${Math.round(data.end.seconds)} s`;
  if (canvas.id === "roll") updatePlayhead();
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

export function updatePlayhead() {
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

// The roll's listeners: the player moves the playhead, a click seeks, a resize redraws.
export function setupRoll() {
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
}
