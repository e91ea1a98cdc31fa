// cadenza's page: choose what to do (compose, or continue, harmonise or fill in an uploaded
// MIDI file), a model and its controls; follow progress, cancel; then listen to the WAV, see
// the piano roll drawn from /notes and the engraved score, and download MIDI, WAV or
// MusicXML. Talks only to the server that served it (see cadenza/web/app.py for the API).
//
// One ES module per panel: form.js (the form, composing and its progress), result.js (the
// composition shown) with roll.js (its piano roll), history.js (earlier compositions);
// shared.js holds the page's state and helpers; playalong.js (with keyboard.js and synth.js)
// is the play-along mode. This module starts them.
import { loadModels, setupForm } from "./form.js";
import { refreshHistory } from "./history.js";
import { setupPlayAlong } from "./playalong.js";
import { setupRoll } from "./roll.js";

function start() {
  setupForm();
  setupRoll();
  loadModels();
  refreshHistory();
  setupPlayAlong();
}

document.addEventListener("DOMContentLoaded", start);
