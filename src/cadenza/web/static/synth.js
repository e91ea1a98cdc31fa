// A small Web Audio synthesiser for playing along: the notes played, the answer's notes as
// soon as they arrive (no WAV to wait for), and the click of the count-in. Nothing is
// loaded: two oscillators and an envelope a voice.

let context = null;
let output = null;

// The page's audio context, made (or woken) on a user's gesture: browsers keep a context
// made without one silent.
export function audio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  if (!context) {
    context = new Context();
    output = context.createGain();
    output.gain.value = 0.5;
    const compressor = context.createDynamicsCompressor();
    output.connect(compressor);
    compressor.connect(context.destination);
  }
  if (context.state === "suspended") context.resume().catch(() => {});
  return context;
}

// The audio clock's time (seconds) at performance.now() ``ms``; the page counts time in
// performance.now(), which runs even while the audio context is still suspended.
export function audioTimeAt(ms) {
  const ctx = audio();
  if (!ctx) return 0;
  return ctx.currentTime + (ms - performance.now()) / 1000;
}

function frequency(pitch) {
  return 440 * 2 ** ((pitch - 69) / 12);
}

// Start a voice at ``when`` (audio seconds; default now); returns it for stopVoice.
export function startVoice(pitch, velocity = 80, when = null) {
  const ctx = audio();
  if (!ctx) return null;
  const at = when === null ? ctx.currentTime : Math.max(when, ctx.currentTime);
  const gain = ctx.createGain();
  const level = 0.08 + 0.22 * (velocity / 127);
  gain.gain.setValueAtTime(0, at);
  gain.gain.linearRampToValueAtTime(level, at + 0.008);
  gain.gain.exponentialRampToValueAtTime(level * 0.45, at + 0.35);
  const oscillators = [["triangle", 1, 1], ["sine", 2, 0.3]].map(([type, ratio, share]) => {
    const osc = ctx.createOscillator();
    osc.type = type;
    osc.frequency.value = frequency(pitch) * ratio;
    const part = ctx.createGain();
    part.gain.value = share;
    osc.connect(part);
    part.connect(gain);
    osc.start(at);
    return osc;
  });
  gain.connect(output);
  return { gain, oscillators, at };
}

// Release a voice at ``when`` (audio seconds; default now).
export function stopVoice(voice, when = null) {
  if (!voice || !context) return;
  const at = Math.max(when === null ? context.currentTime : when, voice.at + 0.01);
  voice.gain.gain.cancelScheduledValues(at);
  voice.gain.gain.setTargetAtTime(0, at, 0.06);
  for (const osc of voice.oscillators) osc.stop(at + 0.5);
}

// Play ``notes`` ({pitch, start, length, velocity} in grid steps) from audio time ``when``,
// step ``first`` sounding then, ``stepSeconds`` a step.
export function playNotes(notes, when, first, stepSeconds) {
  for (const note of notes) {
    const start = when + (note.start - first) * stepSeconds;
    const voice = startVoice(note.pitch, note.velocity, start);
    stopVoice(voice, start + note.length * stepSeconds);
  }
}

// One click of the count-in (``accent``: the bar's first beat) at audio time ``when``.
export function click(when, accent) {
  const ctx = audio();
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = accent ? 1760 : 1320;
  gain.gain.setValueAtTime(0.0001, when);
  gain.gain.exponentialRampToValueAtTime(accent ? 0.6 : 0.35, when + 0.002);
  gain.gain.exponentialRampToValueAtTime(0.0001, when + 0.05);
  osc.connect(gain);
  gain.connect(output);
  osc.start(when);
  osc.stop(when + 0.06);
}
