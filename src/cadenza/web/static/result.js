// The result panel: the composition shown (its audio, piano roll, sheet music, warnings and
// downloads), and which history entry is marked as the one shown.
import { drawRoll } from "./roll.js";
import { $, api, describe, showError, state, withToken } from "./shared.js";

function setDownload(link, url, name) {
  if (url) {
    link.href = withToken(url);
    link.setAttribute("download", name);
    link.removeAttribute("aria-disabled");
    link.tabIndex = 0;
  } else {
    link.removeAttribute("href");
    link.setAttribute("aria-disabled", "true");
    link.tabIndex = -1;
  }
}

export async function showComposition(job, play) {
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
    player.src = withToken(job.urls.wav);
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
    score.src = withToken(job.urls.score);
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

// Hide the panel when the composition it shows is gone.
export function forgetComposition(id) {
  if (state.current !== id) return;
  state.current = null;
  state.notes = null;
  $("result").hidden = true;
}

export function markCurrent() {
  for (const item of $("history").children) {
    item.classList.toggle("current", item.dataset.id === state.current);
  }
}
