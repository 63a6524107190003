# perceiver_lite: set-up, tests and reproduction. Every target creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast reproduce notebooks experiments long-context ar-context export lab bench docs clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

export: $(STAMP)  # the package is generated: nbdev writes it, ruff sorts its imports and formats it
	$(BIN)/python tools/check_export.py --write

test: $(STAMP)
	bash tools/install_chromium.sh || echo "Chromium unavailable: the browser test skips here (and fails under CI=true)"
	$(BIN)/python tools/check_export.py
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	PERCEIVER_LITE_TEST_SIZE=1 MPLBACKEND=agg $(BIN)/python -m pytest tests notebooks \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
		--nbval-sanitize-with tools/nbval_sanitize.cfg -p no:cacheprovider

test-fast: $(STAMP)  # day-to-day: the tests not marked slow, without the notebooks (a few minutes)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	PERCEIVER_LITE_TEST_SIZE=1 MPLBACKEND=agg $(BIN)/python -m pytest tests -m "not slow" -p no:cacheprovider -q

reproduce: $(STAMP)  # the sweeps first: notebook 11 shows the results/*.csv they write
	$(MAKE) experiments
	$(MAKE) long-context
	$(MAKE) ar-context
	$(MAKE) notebooks
	$(BIN)/python tools/reproduce.py --times

notebooks: $(STAMP)
	MPLBACKEND=agg $(BIN)/python tools/reproduce.py

experiments: $(STAMP)
	MPLBACKEND=agg $(BIN)/python -m perceiver_lite.runner.experiments reproduce --workers 2

bench: $(STAMP)
	$(BIN)/python benchmarks/compare.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/augment_cost.py

docs: $(STAMP)
	$(BIN)/python tools/build_docs.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

clean-venv:
	rm -rf $(VENV)

long-context: $(STAMP)  # notebook 06b's sweep: 27 runs, 81 CPU minutes of training; a run already in the CSV is skipped
	$(BIN)/python -m perceiver_lite.runner.long_context --windows 2048 --budgets 60 --seeds 0 \
		--lrs 0.001 0.003 --latents 64 128 --no-test --out results/06_long_context_choice.csv
	$(BIN)/python -m perceiver_lite.runner.long_context --windows 2048 1024 512 --budgets 240 180 120 \
		--seeds 0 1 2 --choose-from results/06_long_context_choice.csv --out results/06_long_context.csv

ar-context: $(STAMP)  # notebook 12's sweep over context lengths: about an hour of CPU time in all
	$(BIN)/python -m perceiver_lite.runner.ar_context --contexts 128 256 512 1024 --seeds 0 1 2 \
		--transformer-contexts 128 256 --out results/12_context.csv
	$(BIN)/python -m perceiver_lite.runner.ar_context --contexts 128 1024 --seeds 0 1 \
		--transformer-contexts --steps 3000 --out results/12_context.csv
