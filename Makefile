# The README's two commands: `make run` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format openapi bench clean chromium messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	SEOUL_WALLET_DEVELOPMENT=true $(BIN)/seoul-wallet serve --host 127.0.0.1 --port 8000

# One pytest worker per core, a whole test file per worker (module-scoped live servers start once).
# PYTEST_ARGS="-n 0" runs in one process.
PYTEST_ARGS ?= -n auto --dist loadfile

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here), with
# fonts-nanum, a Korean font: without it the Korean screenshots are boxes.
chromium:
	@{ command -v chromium >/dev/null && dpkg -s fonts-nanum >/dev/null 2>&1; } || { \
		echo "installing Debian's chromium and a Korean font for the browser tests"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-nanum'; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every string of the wallet's pages that has no Korean translation yet.
messages: $(STAMP)
	$(BIN)/python -m wallet.web.messages check

openapi: $(STAMP)
	$(BIN)/seoul-wallet openapi --output openapi.yaml

bench: $(STAMP)
	$(BIN)/python bench/bench_vc.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
