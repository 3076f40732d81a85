# tierscope: `make demo` to see it, `make test` to prove it.
VENV ?= .venv
PY := $(VENV)/bin/python
# One worker per core (at most 4); a test file runs whole on one worker, so its module fixtures are shared.
PYTEST := $(PY) -m pytest -q -p no:cacheprovider --numprocesses auto --maxprocesses 4 --dist loadfile
STAMP := $(VENV)/.installed-stamp

.PHONY: demo up test test-fast test-unit bench bench-routing soak chromium clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,interop]"
	$(PY) -m pip install -q --no-deps "openlit==1.45.0"  # its pins would downgrade openai/anthropic/otel
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tierscope demo

up: $(STAMP)
	$(VENV)/bin/tierscope up

chromium:
	@test -x /usr/bin/chromium || { apt-get update -q && apt-get install -y -q chromium; }

test: $(STAMP) chromium
	$(PYTEST)

test-fast: $(STAMP)  # no browser: tests/unit (no engine, no server) and tests/integration
	$(PYTEST) tests/unit tests/integration

test-unit: $(STAMP)
	$(PYTEST) tests/unit

bench: $(STAMP)
	$(PY) bench/run.py

bench-routing: $(STAMP)  # replay seeds 0-31 on held-back prompts, against the commit before the routing work
	$(PY) bench/replay_seeds.py --before 31e449c

soak: $(STAMP)
	$(PY) bench/soak.py

.PHONY: screenshots
screenshots: $(STAMP) chromium  # docs/screenshots/*.png: the demo's data, TIERSCOPE_NOW pinned
	$(PY) scripts/screenshots.py

clean:
	rm -rf .tierscope tests/artifacts
