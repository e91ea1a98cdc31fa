"""Playing along, end to end: a real ``cadenza serve`` (the shipped default model) driven by
headless Chromium. A phrase is played from the computer keyboard after the count-in,
answered, played again and answered again; the exchange downloads as MIDI and MusicXML.

Needs what ``tests/test_web_e2e.py`` needs, less FluidSynth (the page's own synthesiser
plays); skipped with the reason when Chromium or Playwright is missing. A screenshot is saved
to ``test-artifacts/web-playalong.png``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_e2e import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    COUNT_PIXELS,
    _hex_to_rgb,
    _serving,
    sync_api,
)

from cadenza.shipped import DEFAULT_MODEL

ANSWER_TIMEOUT_MS = 60_000
PHRASE = ("a", "d", "g", "k")  # C4 E4 G4 C5 from the home row


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``cadenza serve`` of the shipped models (its checkpoints folder is empty) on a free
    localhost port, without WAV files."""
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    root = tmp_path_factory.mktemp("playalong")
    (root / "runs").mkdir()
    with _serving(root, "data", "--no-wav") as url:
        yield url


def _play_phrase(page: Any) -> None:
    """Count in, then play ``PHRASE`` from the keyboard, each key held a little."""
    page.click("#pa-play")
    page.wait_for_function(
        "() => document.getElementById('play-along-panel').dataset.phase === 'recording'",
        timeout=10_000)
    for letter in PHRASE:
        page.keyboard.down(letter)
        page.wait_for_timeout(90)
        page.keyboard.up(letter)
        page.wait_for_timeout(60)
    page.wait_for_function(
        "() => document.getElementById('play-along-panel').dataset.phase === 'recorded'",
        timeout=10_000)


def _answer(page: Any, answers: int) -> dict[str, str]:
    page.click("#answer")
    page.wait_for_function(
        f"() => document.getElementById('play-along-panel').dataset.answers === '{answers}'",
        timeout=ANSWER_TIMEOUT_MS)
    return dict(page.eval_on_selector("#play-along-panel", "p => ({...p.dataset})"))


QUANTISE = """
async () => {
  const { quantise } = await import("/static/playalong.js");
  const start = 1000, ms = 125;  // 16ths at 120 bpm
  return [
    quantise({pitch: 60, velocity: 90, on: start + 130, off: start + 500}, start, 16, ms),
    quantise({pitch: 62, velocity: 30, on: start - 50, off: start + 240}, start, 16, ms),
    quantise({pitch: 64, velocity: 80, on: start - 100, off: start + 240}, start, 16, ms),
    quantise({pitch: 65, velocity: 80, on: start + 1870, off: start + 3000}, start, 16, ms),
    quantise({pitch: 67, velocity: 80, on: start + 16 * ms, off: start + 2100}, start, 16, ms),
  ];
}
"""


def _watch(page: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The page's script errors and the bodies of its ``/api/answer`` requests, as they come."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    asked: list[dict[str, Any]] = []
    page.on("request", lambda r: asked.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/api/answer") else None)
    return errors, asked


def test_play_a_phrase_hear_the_answer_and_download_the_exchange(server: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1300})
            errors, asked = _watch(page)
            page.goto(server)
            assert page.is_hidden("#play-along-panel")
            page.click("#play-along")
            page.wait_for_selector("#pa-model option[value='biaxial-piano']", state="attached")
            assert page.input_value("#pa-model") == DEFAULT_MODEL  # plays along with the default
            letters = page.eval_on_selector_all("#keyboard .letter",
                                                "s => s.map(x => x.textContent)")
            assert [x for x in letters if x][:3] == ["A", "W", "S"]  # C4, C#4, D4

            # The grid: the nearest 16th, held lengths and velocities kept, a note a little
            # early counts as the first, one too early or after the phrase does not.
            assert page.evaluate(QUANTISE) == [
                {"pitch": 60, "start": 1, "length": 3, "velocity": 90},
                {"pitch": 62, "start": 0, "length": 2, "velocity": 30},
                None,
                {"pitch": 65, "start": 15, "length": 1, "velocity": 80},
                None,
            ]

            page.fill("#pa-bpm", "200")
            page.fill("#pa-phrase-bars", "1")
            page.fill("#pa-bars", "1")
            page.fill("#pa-seed", "5")
            _play_phrase(page)
            played = int(page.eval_on_selector("#play-along-panel", "p => p.dataset.userNotes"))
            assert played >= 3  # keys pressed 150 ms apart, 16ths of 75 ms
            roll = page.eval_on_selector("#pa-roll", "c => ({...c.dataset})")
            assert int(roll["inputNotes"]) == played and roll["generatedNotes"] == "0"

            first = _answer(page, 1)
            assert int(first["answerNotes"]) > 0
            roll = page.eval_on_selector("#pa-roll", "c => ({...c.dataset})")
            assert int(roll["generatedNotes"]) == int(first["answerNotes"])
            pixels = page.evaluate(COUNT_PIXELS.replace('"roll"', '"pa-roll"'),
                                   list(_hex_to_rgb(roll["generatedColor"])))
            assert pixels > 20
            assert asked[0]["end"] == 16 and len(asked[0]["notes"]) == played
            midi_one = page.request.get(server + page.get_attribute("#pa-download-midi", "href"))
            assert midi_one.ok and midi_one.body()[:4] == b"MThd"

            # Again: the next answer continues the whole exchange.
            _play_phrase(page)
            second = _answer(page, 2)
            total = int(second["userNotes"]) + int(first["answerNotes"])
            assert asked[1]["end"] == 48 and len(asked[1]["notes"]) == total
            midi_two = page.request.get(server + page.get_attribute("#pa-download-midi", "href"))
            assert midi_two.ok and len(midi_two.body()) > len(midi_one.body())
            if importlib.util.find_spec("music21") is not None:
                xml = page.request.get(
                    server + page.get_attribute("#pa-download-musicxml", "href"))
                assert xml.ok and b"<score-partwise" in xml.body()
            assert "answered" in page.inner_text("#pa-status").lower()
            page.screenshot(path=str(Path(ARTIFACTS) / "web-playalong.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()


# A Web MIDI stand-in: one keyboard whose messages the test sends, one output that records
# what the page sends it.
FAKE_MIDI = """
(() => {
  const sent = [];
  const input = { id: "keys-1", name: "Test keys", onmidimessage: null };
  const output = { id: "synth-1", name: "Test synth",
                   send: (data, at) => sent.push({ data: Array.from(data), at }) };
  const access = { inputs: new Map([[input.id, input]]), outputs: new Map([[output.id, output]]),
                   onstatechange: null };
  window.fakeMidi = { input, sent };
  Object.defineProperty(navigator, "requestMIDIAccess",
                        { value: async () => access, configurable: true });
})();
"""

PLAY_ON_MIDI = """
async () => {
  const press = (data) => window.fakeMidi.input.onmidimessage({ data: new Uint8Array(data) });
  const wait = (ms) => new Promise((done) => setTimeout(done, ms));
  press([0x90, 60, 30]); await wait(120); press([0x80, 60, 0]);
  press([0x90, 67, 110]); await wait(200); press([0x90, 67, 0]);  // note on at 0: off
}
"""


def test_a_midi_keyboard_plays_and_the_answer_goes_to_a_midi_output(server: str) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.add_init_script(FAKE_MIDI)
            errors, asked = _watch(page)
            page.goto(server)
            page.click("#play-along")
            page.wait_for_selector("#pa-model option[value='biaxial-piano']", state="attached")
            page.click("#pa-midi")
            page.wait_for_selector("#pa-midi-out option[value='synth-1']", state="attached")
            assert "Test keys" in page.inner_text("#pa-midi-status")
            page.select_option("#pa-midi-out", "synth-1")
            for field, value in (("#pa-bpm", "200"), ("#pa-phrase-bars", "1"),
                                 ("#pa-bars", "1"), ("#pa-seed", "9")):
                page.fill(field, value)
            page.click("#pa-play")
            page.wait_for_function(
                "() => document.getElementById('play-along-panel').dataset.phase === "
                "'recording'", timeout=10_000)
            page.evaluate(PLAY_ON_MIDI)
            page.wait_for_function(
                "() => document.getElementById('play-along-panel').dataset.phase === "
                "'recorded'", timeout=10_000)
            answered = _answer(page, 1)
            played = {(n["pitch"], n["velocity"]) for n in asked[0]["notes"]}
            assert played == {(60, 30), (67, 110)}  # the keyboard's velocities kept
            sent = page.evaluate("() => window.fakeMidi.sent.map((m) => m.data)")
            ons = [m for m in sent if m[0] == 0x90]
            offs = [m for m in sent if m[0] == 0x80]
            assert len(ons) == len(offs) == int(answered["answerNotes"]) > 0
            assert errors == []
        finally:
            browser.close()
