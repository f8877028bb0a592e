# Tapin: the two commands of the quick start, and their helpers.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint types pytest tour bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[central,kiosk,dev,deploy]'
	touch $(STAMP)

## run: the demo room panel (a window, or demo-panel.png without a display)
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  $(BIN)/tapin panel --demo; \
	else \
	  echo "No display found: rendering the demo panel offscreen to demo-panel.png"; \
	  $(BIN)/tapin --log-level WARNING panel --demo --screenshot demo-panel.png --exit-after 3; \
	fi

## test: lint, types, tests
test: lint types pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.queue
	$(BIN)/python -m benchmarks.drain
	$(BIN)/python -m benchmarks.panel
	$(BIN)/python -m benchmarks.presence
	$(BIN)/python -m benchmarks.kiosk
	$(BIN)/python -m benchmarks.kiosk_map
	$(BIN)/python -m benchmarks.calendar_sync

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache demo-panel.png
