# Two commands: `make run` (dashboard on the demo data) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
STAMP := $(VENV)/.requirements-$(REQ_HASH)
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test test-quick demo bench fonts clean-cache

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.requirements-*
	@touch $@

# The demo set is only made when no data set is configured (JULIA_DATA unset).
demo: $(STAMP)
ifeq ($(strip $(JULIA_DATA)),)
	$(PY) -m julia_core demo --out data/demo --if-missing
endif

run: demo
	$(PY) -m streamlit run dashboard.py --server.address $(HOST) --server.port $(PORT)

test: $(STAMP)
	$(PY) -m pytest

# While developing: everything but the tests marked slow (make test still runs them all).
test-quick: $(STAMP)
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) bench/data_load.py

# More font families for the `best` preset's synthetic pre-training (apt; asks for sudo).
fonts:
	scripts/install_fonts.sh

clean-cache:
	rm -rf $${JULIA_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/julia_core}
