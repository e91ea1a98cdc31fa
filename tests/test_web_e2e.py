"""The page end to end: a real ``cadenza serve`` process driven by headless Chromium.

Needs the Playwright Python package (no browser download: the system's Chromium at
``/usr/bin/chromium`` is used), FastAPI and uvicorn, and FluidSynth with a General MIDI
SoundFont for the audio; the test is skipped with the reason when any of them is missing.
A screenshot is saved to ``test-artifacts/web-e2e.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cadenza.errors import AudioError

CHROMIUM = Path(os.environ.get("CADENZA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--headless=new",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
START_SECONDS = 60.0
COMPOSE_TIMEOUT_MS = 60_000

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _require_tools() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    from cadenza.audio import find_fluidsynth, find_soundfont

    try:
        find_fluidsynth()
        find_soundfont()
    except AudioError as exc:
        pytest.skip(f"no synthesiser for the WAV: {exc}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path,
                   token: str | None = None) -> None:
    end = time.monotonic() + START_SECONDS
    asked = urllib.request.Request(f"{url}/api/models",
                                   headers={"X-Cadenza-Token": token} if token else {})
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n"
                                 f"{log.read_text()}")
        try:
            with urllib.request.urlopen(asked, timeout=5) as response:
                if json.load(response)["models"]:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not answer within {START_SECONDS:.0f} s")


@pytest.fixture(scope="module")
def debug_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a freshly trained debug model (``runs/``) and its cache."""
    _require_tools()
    from debug_run import make_debug_run

    root = tmp_path_factory.mktemp("web-e2e")
    make_debug_run(root, cache_dir=root / "cache")
    return root


@contextmanager
def _serving(root: Path, name: str, *options: str, token: str | None = None) -> Iterator[str]:
    """``cadenza serve`` of the debug model on a free localhost port; yields its URL."""
    port = _free_port()
    env = {**os.environ, "CADENZA_CACHE_DIR": str(root / "cache")}
    log = root / f"{name}.log"
    command = [
        sys.executable, "-c", "from cadenza.cli import app; app()", "serve",
        "--checkpoints", str(root / "runs"), "--data-dir", str(root / name),
        "--port", str(port), "--workers", "1", "--queue", "4", *options,
    ]
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log, token)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(debug_root: Path) -> Iterator[str]:
    """``cadenza serve`` on a free localhost port with a freshly trained debug model."""
    with _serving(debug_root, "data") as url:
        yield url


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.strip().lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


COUNT_PIXELS = """
([r, g, b]) => {
  const canvas = document.getElementById("roll");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] === r && data[i + 1] === g && data[i + 2] === b) count++;
  }
  return count;
}
"""


def test_compose_listen_and_download_in_the_browser(server: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    requests_elsewhere: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1250})
            page.on("request", lambda r: None if r.url.startswith(server)
                    else requests_elsewhere.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server)
            page.wait_for_selector("#model option[value='pianoroll-debug']", state="attached")
            # The shipped models are offered too; compose with the debug model trained here.
            page.select_option("#model", "pianoroll-debug")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#composer option')]"
                ".map(o => o.value).join() === ',Bach,Mozart'"
            )
            composers = page.eval_on_selector_all("#composer option", "o => o.map(x => x.value)")
            assert composers == ["", "Bach", "Mozart"]

            # Fill the form from the keyboard and submit with Enter.
            page.select_option("#composer", "Bach")
            page.fill("#bars", "2")
            page.fill("#temperature", "0.8")
            page.focus("#seed")
            page.keyboard.type("7")
            page.keyboard.press("Enter")

            page.wait_for_selector("#result:not([hidden])", timeout=COMPOSE_TIMEOUT_MS)
            page.wait_for_function(
                "() => Number(document.getElementById('roll').dataset.generatedNotes || 0) > 0",
                timeout=COMPOSE_TIMEOUT_MS,
            )
            page.wait_for_function("() => document.getElementById('player').readyState >= 1",
                                   timeout=COMPOSE_TIMEOUT_MS)
            assert page.inner_text("#status") == "Done."
            assert page.is_hidden("#error")

            roll = page.eval_on_selector("#roll", "c => ({...c.dataset})")
            assert int(roll["primerNotes"]) > 0 and int(roll["generatedNotes"]) > 0
            assert roll["labelFont"] == "12px"  # octave labels at a readable size
            primer_pixels = page.evaluate(COUNT_PIXELS, list(_hex_to_rgb(roll["primerColor"])))
            generated_pixels = page.evaluate(COUNT_PIXELS,
                                             list(_hex_to_rgb(roll["generatedColor"])))
            assert primer_pixels > 50 and generated_pixels > 50

            audio = page.eval_on_selector(
                "#player", "a => ({src: a.currentSrc, duration: a.duration, error: a.error})"
            )
            assert audio["error"] is None and audio["duration"] > 0
            wav = page.request.get(audio["src"])
            assert wav.ok and wav.body()[:4] == b"RIFF" and wav.body()[8:12] == b"WAVE"

            midi_link = page.get_attribute("#download-midi", "href")
            wav_link = page.get_attribute("#download-wav", "href")
            assert midi_link and wav_link
            midi = page.request.get(f"{server}{midi_link}")
            assert midi.ok and midi.body()[:4] == b"MThd"
            assert midi.headers["content-type"] == "audio/midi"
            assert page.request.get(f"{server}{wav_link}").body()[:4] == b"RIFF"
            assert page.get_attribute("#download-midi", "download", timeout=1000).endswith(".mid")

            history = page.locator("#history li")
            history.first.wait_for()
            assert history.count() == 1
            assert "done" in history.first.inner_text()
            assert history.first.locator("button", has_text="Play").count() == 1

            page.screenshot(path=str(ARTIFACTS / "web-e2e.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert requests_elsewhere == []


def test_every_model_composes_with_untouched_defaults(server: str) -> None:
    """Choose each model, touch nothing else, press Compose: a piece comes back. Every field
    must be valid with the values the page fills in (a calibrated temperature such as 1.07
    once fell between the field's steps, and Chromium refused to submit)."""
    from cadenza.shipped import DEFAULT_MODEL, shipped_models

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1250})
            page.goto(server)
            page.wait_for_selector("#model option[value='pianoroll-debug']", state="attached")
            offered = page.eval_on_selector_all("#model option", "o => o.map(x => x.value)")
            assert set(shipped_models()) <= set(offered)
            # The page opens on the shipped default, not on the first model in id order.
            assert page.input_value("#model") == DEFAULT_MODEL != offered[0]
            # Every model's own defaults make a valid form, runs included.
            for model in offered:
                page.select_option("#model", model)
                invalid = page.evaluate(
                    "() => [...document.querySelectorAll('#compose-form input')]"
                    ".filter(i => !i.disabled && !i.validity.valid)"
                    ".map(i => `${i.id}=${i.value}: ${i.validationMessage}`)"
                )
                assert invalid == [], f"{model}: {invalid}"
            # Each shipped model composes its default piece from an untouched form.
            for model in sorted(shipped_models()):
                page.reload()
                page.wait_for_selector(f"#model option[value='{model}']", state="attached")
                page.select_option("#model", model)
                previous = page.locator("#history li").count()
                page.click("#compose-button")
                # "Done." comes before the notes are fetched and drawn: wait for the roll too
                # (a reloaded page's roll has no count until a piece is drawn on it).
                page.wait_for_function(
                    "([n]) => document.querySelectorAll('#history li').length > n && "
                    "document.getElementById('status').textContent === 'Done.' && "
                    "document.getElementById('roll').dataset.generatedNotes !== undefined",
                    arg=[previous], timeout=4 * COMPOSE_TIMEOUT_MS,
                )
                assert page.is_hidden("#error"), page.inner_text("#error")
                notes = page.eval_on_selector("#roll", "c => c.dataset.generatedNotes")
                assert int(notes or 0) > 0, model
        finally:
            browser.close()


def test_bad_input_shows_the_servers_message(server: str) -> None:
    if shutil.which("fluidsynth") is None:  # the module fixture skips first; kept explicit
        pytest.skip("fluidsynth is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server)
            page.wait_for_selector("#model option[value='pianoroll-debug']", state="attached")
            # Browser validation stops an out-of-range length before it is sent...
            page.fill("#bars", "257")
            page.click("#compose-button")
            assert page.eval_on_selector("#bars", "b => b.validity.valid") is False
            assert page.is_hidden("#result")
            # ...and the server's own message is shown when the browser lets one through.
            page.fill("#bars", "4")
            page.evaluate("document.getElementById('compose-form').noValidate = true")
            page.eval_on_selector("#temperature", "t => { t.removeAttribute('max'); }")
            page.fill("#temperature", "9")
            page.click("#compose-button")
            page.wait_for_selector("#error:not([hidden])")
            assert "temperature" in page.inner_text("#error")
        finally:
            browser.close()


LAYOUT = """
() => {
  const frame = document.querySelector("#score-figure .score-frame");
  const style = getComputedStyle(frame);
  const roll = document.getElementById("roll");
  return {
    frame: frame.getBoundingClientRect().width,
    image: document.getElementById("score").getBoundingClientRect().width,
    page: document.documentElement.clientWidth,
    maxHeight: parseFloat(style.maxHeight), overflow: style.overflowY, window: innerHeight,
    ratio: devicePixelRatio, labelFont: roll.dataset.labelFont, labels: roll.dataset.labelCount,
  };
}
"""


def _check_score_and_roll_layout(page: Any) -> None:
    """The score uses the page's width (less the page's and the panel's margins, 90 px),
    not the 60rem column of the form, and most of the window's height before it scrolls;
    the piano roll's octave labels are 12 CSS px, drawn at the screen's pixel ratio."""
    layout = page.evaluate(LAYOUT)
    assert layout["frame"] >= layout["page"] - 100, layout
    assert layout["image"] >= layout["frame"] - 4, layout
    assert layout["overflow"] == "auto" and layout["maxHeight"] >= 0.8 * layout["window"]
    assert int(layout["labels"]) >= 1, layout
    size = int(layout["labelFont"].removesuffix("px"))
    assert layout["ratio"] == 2 and size / layout["ratio"] >= 11, layout


def _melody_file(folder: Path) -> Path:
    from cadenza.midi import write_midi
    from cadenza.score import Score, Tempo, TimeSignature, make_notes

    pitches = [60, 64, 67, 72, 65, 62, 59, 55] * 2  # C E G C F D B G, quarter notes
    score = Score(notes=make_notes([i * 480 for i in range(16)], [480] * 16, pitches, 80),
                  ticks_per_quarter=480, tempos=(Tempo(0, 100.0),),
                  time_signatures=(TimeSignature(0, 4, 4),))
    return write_midi(score, folder / "my-tune.mid")


def test_upload_harmonise_see_the_score_download_and_cancel(
    server: str, tmp_path: Path
) -> None:
    """The studio path: upload a melody, harmonise it in a key with a cadence, see the
    score, play, download MIDI, WAV and MusicXML, then cancel a long composition."""
    pytest.importorskip("music21")
    pytest.importorskip("verovio")
    ARTIFACTS.mkdir(exist_ok=True)
    melody = _melody_file(tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1600},
                                    device_scale_factor=2, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server)
            page.wait_for_selector("#model option[value='pianoroll-debug']", state="attached")
            page.select_option("#model", "pianoroll-debug")
            page.check("input[name='mode'][value='harmonise']")
            assert page.is_visible("#upload-field") and page.is_hidden("#composer-field")
            page.set_input_files("#upload-file", str(melody))
            page.wait_for_function(
                "() => document.getElementById('upload-info').textContent.includes('16 notes')")
            assert "C major" in page.inner_text("#upload-info")
            page.fill("#key", "C major")
            page.select_option("#ending", "cadence")
            page.select_option("#program", "0")
            page.fill("#seed", "3")
            page.click("#compose-button")

            page.wait_for_selector("#result:not([hidden])", timeout=COMPOSE_TIMEOUT_MS)
            page.wait_for_function(
                "() => { const s = document.getElementById('score');"
                " return s.complete && s.naturalWidth > 0; }", timeout=COMPOSE_TIMEOUT_MS)
            assert page.inner_text("#status") == "Done."
            assert "harmonise my-tune.mid" in page.inner_text("#result-meta")
            # The melody is drawn as the user's input, not as music the model composed.
            roll = page.eval_on_selector("#roll", "c => ({...c.dataset})")
            assert int(roll["inputNotes"]) == 16 and int(roll["generatedNotes"]) > 0
            assert roll["inputColor"] != roll["generatedColor"]
            _check_score_and_roll_layout(page)
            score_url = page.get_attribute("#score", "src")
            svg = page.request.get(f"{server}{score_url}")
            assert svg.ok and b"<svg" in svg.body()
            from cadenza.midi import parse_midi_bytes
            from cadenza.notation import count_svg_notes

            # Play: the audio element starts and moves on.
            page.wait_for_function("() => document.getElementById('player').readyState >= 1",
                                   timeout=COMPOSE_TIMEOUT_MS)
            page.evaluate("document.getElementById('player').play()")
            page.wait_for_function("() => document.getElementById('player').currentTime > 0.05",
                                   timeout=10_000)

            # Download the three files through the page's links.
            saved = {}
            for kind in ("midi", "wav", "musicxml"):
                with page.expect_download() as info:
                    page.click(f"#download-{kind}")
                download = info.value
                target = tmp_path / download.suggested_filename
                download.save_as(target)
                saved[kind] = target
            assert saved["midi"].suffix == ".mid" and "my-tune" in saved["midi"].name
            assert saved["midi"].read_bytes()[:4] == b"MThd"
            assert saved["wav"].read_bytes()[8:12] == b"WAVE"
            assert b"<score-partwise" in saved["musicxml"].read_bytes()
            piece = parse_midi_bytes(saved["midi"].read_bytes(), saved["midi"])
            assert count_svg_notes(svg.body().decode()) == piece.num_notes
            page.screenshot(path=str(ARTIFACTS / "web-studio.png"), full_page=True)

            # A long composition, cancelled while it runs.
            page.check("input[name='mode'][value='compose']")
            page.fill("#bars", "256")
            page.click("#compose-button")
            page.wait_for_selector("#cancel-button:not([hidden])")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('Composing')",
                timeout=COMPOSE_TIMEOUT_MS)
            page.click("#cancel-button")
            page.wait_for_function(
                "() => document.getElementById('status').textContent === 'Cancelled.'",
                timeout=COMPOSE_TIMEOUT_MS)
            page.locator("#history li .badge.cancelled").first.wait_for()
            assert errors == []
        finally:
            browser.close()


def test_a_page_opened_with_its_token_sends_it_everywhere(debug_root: Path) -> None:
    """A server that requires a token (--token): the page opened with ?token= lists the
    models, composes, plays the WAV, shows the score and links the downloads, all with the
    token; the page opened without it says what is missing."""
    token = "e2e-t0ken-1234"
    with _serving(debug_root, "data-token", "--token", token, token=token) as url, \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#error:not([hidden])")
            assert "needs its token" in page.inner_text("#error")
            page.goto(f"{url}/?token={token}")
            page.wait_for_selector("#model option[value='pianoroll-debug']", state="attached")
            page.select_option("#model", "pianoroll-debug")
            page.fill("#bars", "1")
            page.click("#compose-button")
            page.wait_for_function(
                "() => Number(document.getElementById('roll').dataset.generatedNotes || 0) > 0",
                timeout=COMPOSE_TIMEOUT_MS)
            page.wait_for_function("() => document.getElementById('player').readyState >= 1",
                                   timeout=COMPOSE_TIMEOUT_MS)
            assert page.is_hidden("#error")
            midi_link = page.get_attribute("#download-midi", "href")
            assert midi_link and f"token={token}" in midi_link
            assert page.request.get(f"{url}{midi_link}").body()[:4] == b"MThd"
            if page.get_attribute("#score", "src"):
                page.wait_for_function(
                    "() => { const s = document.getElementById('score');"
                    " return s.complete && s.naturalWidth > 0; }", timeout=COMPOSE_TIMEOUT_MS)
        finally:
            browser.close()
