# icipredict — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true
# UTF-8 whatever the locale (CI may run with none): YAML, MAF and reports are UTF-8 text.
export PYTHONUTF8 := 1

.PHONY: install chromium flower demo test lint bench clean

install: $(STAMP) chromium flower

# The board page's browser test drives Debian's Chromium through Playwright (no browser download
# is possible here). Installs it once; needs root (as on the project's machines and in CI).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

# Re-installs only when the package metadata or the lock file changed.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[imaging,tracking,tracking-server,serve,dev]'
	touch $(STAMP)

# Flower (federated training) in its own environment: flwr 1.42 pins older protobuf, typer, rich,
# fastapi than .venv has. .venv-flower sees icipredict (src/) and .venv's packages through a .pth
# file, its own versions first. `make install` builds it: the real-process test needs it in CI.
FLOWER := .venv-flower
flower: $(FLOWER)/.installed

$(FLOWER)/.installed: constraints-flower.txt $(STAMP)
	test -x $(FLOWER)/bin/python || $(BIN)/python -m venv $(FLOWER)
	$(FLOWER)/bin/python -m pip install -q -c constraints-flower.txt 'flwr==1.42.0'
	printf '%s\n%s\n' "$(CURDIR)/src" "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
	  > "$$($(FLOWER)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/icipredict-overlay.pth"
	touch $@

demo: install
	$(BIN)/icipredict demo

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/maf_reading.py
	$(BIN)/python benchmarks/quality.py

clean:
	rm -rf $(VENV) $(FLOWER) build *.egg-info .pytest_cache
