# cadenza: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out
DATA ?= $(OUT)/bach-chorales
PORT ?= 8000

.PHONY: setup setup-dev system-deps browser-deps demo train-demo serve test lint bench clean

# FluidSynth and a General MIDI SoundFont render WAV files (Debian packages). Installed with
# apt-get when missing and possible (root, or sudo without a password); otherwise a note.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
system-deps:
	@if command -v fluidsynth >/dev/null 2>&1 && ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing FluidSynth and a General MIDI SoundFont for WAV output: apt-get install fluidsynth fluid-soundfont-gm"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fluidsynth fluid-soundfont-gm >/dev/null \
		|| echo "note: could not install fluidsynth + fluid-soundfont-gm; WAV output needs them"; \
	else \
		echo "note: install FluidSynth and a General MIDI SoundFont for WAV output"; \
	fi

# The browser test drives Debian's Chromium (never a browser downloaded by a test tool).
# CADENZA_SKIP_BROWSER=1 (in the environment or on the make line) skips this step; the
# browser test then skips itself when Chromium is absent.
browser-deps:
	@if [ "$(CADENZA_SKIP_BROWSER)" = 1 ]; then \
		echo "CADENZA_SKIP_BROWSER=1: not installing Chromium for the browser test"; \
	elif [ -x /usr/bin/chromium ]; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing Chromium for the browser test: apt-get install chromium"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null \
		|| echo "note: could not install chromium; the browser test will be skipped"; \
	else \
		echo "note: install Chromium at /usr/bin/chromium for the browser test"; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[music21,web]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

# The main job: compose a piece with the default shipped model (.mid, .wav, .png).
demo: setup system-deps
	$(BIN)/cadenza generate --bars 16 --seed 1 --wav --plot --out $(OUT)/demo

# Train a small model on a MIDI folder for 3.5 minutes of one core (about 7,000 steps on the
# 2-core AMD EPYC), then compose with it: about 4 minutes after setup.
# DATA defaults to Bach chorales exported from music21; pass DATA=your/midi/folder.
train-demo: setup system-deps
	@test -d $(DATA) || $(BIN)/cadenza corpus bach $(DATA) --limit 60 --no-hint
	$(BIN)/cadenza train --model pianoroll-small --data $(DATA) --meters all --minutes 3.5 \
		--schedule cosine --threads 1 --eval-every 1000 --checkpoint-every 1000 --sample-every 0 \
		--out $(OUT)/train-demo-run
	$(BIN)/cadenza generate $(OUT)/train-demo-run --bars 8 --seed 1 --wav --plot --out $(OUT)/train-demo

test: setup-dev system-deps browser-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: setup-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Runs trained into $(OUT) (make train-demo) appear on the page without a restart.
# PORT=8080 serves on another port.
serve: setup system-deps
	@mkdir -p $(OUT)
	$(BIN)/cadenza serve --checkpoints $(OUT) --port $(PORT)

bench: setup-dev
	$(BIN)/python benchmarks/preprocess.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/generate_speed.py
	$(BIN)/python benchmarks/web_load.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
