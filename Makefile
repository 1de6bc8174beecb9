# Two commands matter: `make report` and `make test`. Both create .venv and install the project first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODELS ?= gpt2
OUT    ?= out
CORPUS ?=
DEVICE ?= auto
# torch is pinned to the CPU wheel so a fresh install stays small; other versions work too.
TORCH  ?= torch==2.13.0

.PHONY: report test bench bench-remote bench-today sweep calibrate sysdeps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

report: $(STAMP)
	@$(MAKE) --no-print-directory sysdeps SYSDEPS_OPTIONAL=1
	$(BIN)/python -m report report $(foreach m,$(MODELS),--model $(m)) --out $(OUT) --device $(DEVICE) $(if $(CORPUS),--corpus $(CORPUS))

# One pytest worker per core (pytest-xdist; at most 4, each builds the session's shared reports once), every test
# file on one worker so its module fixtures are built once; tests/conftest.py gives each worker its share of cores.
TEST_WORKERS ?= auto
test: $(STAMP)
	@$(MAKE) --no-print-directory sysdeps SYSDEPS_OPTIONAL=1
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.remote
	$(BIN)/python -m bench.sweep
	$(BIN)/python -m bench.experiments

# Ranged Hub reads against a full download, from a local server (synthetic GPT-2-XL and 7B-shape repos).
bench-remote: $(STAMP)
	$(BIN)/python -m bench.remote

# Today's shapes (Gemma-2-2B, Llama-3-8B) through the whole report from a local Hub; ~20 min on 2 AMX cores.
bench-today: $(STAMP)
	$(BIN)/python -m bench.today

# Training runs: RUN is one or more Trainer output folders (checkpoint-N subfolders) or Hub ids (with REVISIONS).
RUN       ?=
REVISIONS ?=
CLUSTER   ?=
sweep: $(STAMP)
	@test -n "$(RUN)" || { echo "usage: make sweep RUN='folder-or-hub-id [...]' OUT=out [REVISIONS='step*'] [CLUSTER=tcp://host:8786]"; exit 2; }
	$(BIN)/python -m report sweep $(foreach r,$(RUN),--run $(r)) --out $(OUT) --device $(DEVICE) $(if $(REVISIONS),--revisions '$(REVISIONS)') $(if $(CLUSTER),--cluster $(CLUSTER)) $(if $(CORPUS),--corpus $(CORPUS))

# Every claim's verdict on null and planted synthetic models, through the report's own sections: writes
# report/calibration.json and the table in docs/calibration.md. Resumes from .calibration-runs/; CLUSTER=tcp://host:8786 runs on Dask.
calibrate: $(STAMP)
	$(BIN)/python -m report calibrate $(if $(CLUSTER),--cluster $(CLUSTER))

# Fonts for token strings in any script (CJK, Noto core for Devanagari, Thai, Arabic, …, Symbola for emoji), HarfBuzz's
# subsetter (WeasyPrint embeds fonts with it in C; without it, in Python with fontTools, ~1 s slower per PDF and with a
# warning per font), pdftoppm for page checks, chromium for browser checks.
sysdeps:
	@missing=""; \
	{ ! command -v ldconfig >/dev/null 2>&1 || ldconfig -p | grep -q "libharfbuzz-subset\.so"; } || missing="$$missing libharfbuzz-subset0"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans Devanagari" || missing="$$missing fonts-noto-core"; \
	fc-list 2>/dev/null | grep -qi "Symbola" || missing="$$missing fonts-symbola"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	elif [ -n "$(SYSDEPS_OPTIONAL)" ] && [ "$$CI" != "true" ]; then \
	  echo "note: some checks and glyphs need system packages; run: sudo apt-get install$$missing"; \
	else \
	  echo "missing system packages; run: sudo apt-get install$$missing"; exit 1; \
	fi

clean:
	rm -rf $(VENV) out build *.egg-info
