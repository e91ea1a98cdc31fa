// The keys to play along on: the on-screen keyboard (mouse and touch), the computer's
// keyboard (the home row is the C major scale, the row above it the sharps, Z and X move an
// octave; the letters are shown on the keys) and any MIDI keyboard the browser offers
// through Web MIDI. Every source calls the same two handlers: down(pitch, velocity) and
// up(pitch).
import { $, el } from "./shared.js";

const WHITE_LETTERS = ["a", "s", "d", "f", "g", "h", "j", "k", "l", ";"];
const WHITE_STEPS = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16]; // C major from the keyboard's C
const BLACK_LETTERS = { w: 1, e: 3, t: 6, y: 8, u: 10, o: 13, p: 15 };
const KEYS_VELOCITY = 90; // the computer keyboard and the mouse play at this velocity
const TAPPED_MS = 300; // a key played with Enter or Space sounds this long
const FIRST_OCTAVE = 3; // the on-screen keys span C3..E5
const KEY_COUNT = 29;
const BLACK = new Set([1, 3, 6, 8, 10]);

export const keyboard = {
  base: 60, // the pitch the letter A plays (C4); Z and X move it an octave
  down: () => {},
  up: () => {},
  active: () => false, // whether key presses are for the keyboard now
  midi: null, // the MIDIAccess, once granted
};

function letterMap() {
  const map = new Map();
  WHITE_LETTERS.forEach((letter, i) => map.set(letter, keyboard.base + WHITE_STEPS[i]));
  for (const [letter, step] of Object.entries(BLACK_LETTERS)) {
    map.set(letter, keyboard.base + step);
  }
  return map;
}

function keyOf(pitch) {
  return $("keyboard").querySelector(`[data-pitch="${pitch}"]`);
}

// Light a key while it sounds, whichever source played it.
export function lightKey(pitch, on) {
  const key = keyOf(pitch);
  if (key) key.classList.toggle("down", on);
}

function labelKeys() {
  const letters = new Map([...letterMap()].map(([letter, pitch]) => [pitch, letter]));
  for (const key of $("keyboard").querySelectorAll("[data-pitch]")) {
    const letter = letters.get(Number(key.dataset.pitch));
    key.querySelector(".letter").textContent = letter ? letter.toUpperCase() : "";
  }
  $("keyboard").dataset.base = String(keyboard.base);
}

function buildKeys() {
  const board = $("keyboard");
  board.replaceChildren();
  const low = 12 * (FIRST_OCTAVE + 1);
  for (let pitch = low; pitch < low + KEY_COUNT; pitch++) {
    const black = BLACK.has(pitch % 12);
    const name = `${["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"][pitch % 12]}` +
      `${Math.floor(pitch / 12) - 1}`;
    const key = el("button", { type: "button", class: black ? "key black" : "key white",
      "data-pitch": String(pitch), "aria-label": name }, el("span", { class: "letter" }));
    board.append(key);
  }
  let held = null;
  const release = () => {
    if (held !== null) keyboard.up(held);
    held = null;
  };
  board.addEventListener("pointerdown", (event) => {
    const key = event.target.closest("[data-pitch]");
    if (!key) return;
    event.preventDefault();
    release();
    held = Number(key.dataset.pitch);
    keyboard.down(held, KEYS_VELOCITY);
  });
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) {
    board.addEventListener(name, release);
  }
  board.addEventListener("click", (event) => { // Enter or Space on a focused key
    const key = event.target.closest("[data-pitch]");
    if (!key || event.detail !== 0) return;
    const pitch = Number(key.dataset.pitch);
    keyboard.down(pitch, KEYS_VELOCITY);
    setTimeout(() => keyboard.up(pitch), TAPPED_MS);
  });
  labelKeys();
}

function typing(event) {
  const target = event.target;
  return event.ctrlKey || event.metaKey || event.altKey ||
    (target && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)));
}

function listenToLetters() {
  const sounding = new Map(); // letter -> pitch it started (the octave may move meanwhile)
  document.addEventListener("keydown", (event) => {
    if (!keyboard.active() || typing(event)) return;
    const letter = event.key.toLowerCase();
    if (letter === "z" || letter === "x") {
      keyboard.base = Math.min(84, Math.max(36, keyboard.base + (letter === "z" ? -12 : 12)));
      labelKeys();
      event.preventDefault();
      return;
    }
    const pitch = letterMap().get(letter);
    if (pitch === undefined) return;
    event.preventDefault();
    if (event.repeat || sounding.has(letter)) return;
    sounding.set(letter, pitch);
    keyboard.down(pitch, KEYS_VELOCITY);
  });
  document.addEventListener("keyup", (event) => {
    const letter = event.key.toLowerCase();
    if (!sounding.has(letter)) return;
    keyboard.up(sounding.get(letter));
    sounding.delete(letter);
  });
}

// Web MIDI, asked for when the person presses "Use MIDI" (the browser may ask them first).
async function connectMidi() {
  const status = $("pa-midi-status");
  try {
    keyboard.midi = await navigator.requestMIDIAccess();
  } catch (error) {
    status.textContent = `No MIDI: ${error.message || error}`;
    return;
  }
  const listen = () => {
    for (const input of keyboard.midi.inputs.values()) {
      input.onmidimessage = (message) => {
        const [status, pitch, velocity] = message.data;
        const kind = status & 0xf0;
        if (!keyboard.active()) return;
        if (kind === 0x90 && velocity > 0) keyboard.down(pitch, velocity);
        else if (kind === 0x80 || kind === 0x90) keyboard.up(pitch);
      };
    }
    const outputs = $("pa-midi-out");
    const chosen = outputs.value;
    outputs.replaceChildren(el("option", { value: "", text: "none (play it here)" }));
    for (const port of keyboard.midi.outputs.values()) {
      outputs.append(el("option", { value: port.id, text: port.name || port.id }));
    }
    outputs.value = [...outputs.options].some((o) => o.value === chosen) ? chosen : "";
    const inputs = [...keyboard.midi.inputs.values()].map((i) => i.name || i.id);
    status.textContent = inputs.length ? `Listening to ${inputs.join(", ")}.` :
      "No MIDI keyboard is connected.";
  };
  keyboard.midi.onstatechange = listen;
  listen();
  $("pa-midi-out-field").hidden = false;
}

// The MIDI output chosen for the answer, or null (the page's own synthesiser plays it).
export function midiOutput() {
  const id = $("pa-midi-out").value;
  return keyboard.midi && id ? keyboard.midi.outputs.get(id) || null : null;
}

export function setupKeyboard(handlers) {
  Object.assign(keyboard, handlers);
  buildKeys();
  listenToLetters();
  const button = $("pa-midi");
  if (typeof navigator.requestMIDIAccess === "function") {
    button.hidden = false;
    button.addEventListener("click", connectMidi);
  } else {
    $("pa-midi-status").textContent = "This browser offers no Web MIDI; play the keys here.";
  }
}
