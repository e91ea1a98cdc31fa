# cadenza: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out
DATA ?= $(OUT)/bach-chorales

.PHONY: setup setup-dev system-deps browser-deps demo serve test lint bench clean

# FluidSynth and a General MIDI SoundFont render WAV files (Debian packages). Installed with
# apt-get when missing and possible (root, or sudo without a password); otherwise a note.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
system-deps:
	@if command -v fluidsynth >/dev/null 2>&1 && ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fluidsynth fluid-soundfont-gm >/dev/null \
		|| echo "note: could not install fluidsynth + fluid-soundfont-gm; WAV output needs them"; \
	else \
		echo "note: install FluidSynth and a General MIDI SoundFont for WAV output"; \
	fi

# The browser test drives Debian's Chromium (never a browser downloaded by a test tool).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1; then \
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

demo: setup
	@test -d $(DATA) || $(BIN)/cadenza corpus bach $(DATA) --limit 40
	$(BIN)/cadenza preprocess $(DATA) --meters all

test: setup-dev system-deps browser-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: setup-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

serve: setup system-deps
	$(BIN)/cadenza serve

bench: setup-dev
	$(BIN)/python benchmarks/preprocess.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/generate_speed.py
	$(BIN)/python benchmarks/web_load.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
