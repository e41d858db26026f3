# `make demo` and `make test` each set everything up from nothing (a Python 3.11+ on PATH).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo segments test lint bench bench-quick bench-ablation bench-reference clean

$(STAMP): pyproject.toml bench/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,serve]"
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

segments: $(STAMP)
	$(BIN)/python examples/segments.py

test: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy src/learnloop
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy src/learnloop
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench

bench-reference: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench.reference

bench-quick: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench --quick

bench-ablation: $(STAMP)
	$(BIN)/python -m bench --systems learnloop --ablate refit,cv_look,local,ensemble,portfolio \
		--seeds 0 --difficulty easy --budget 15 --scaling none --out bench/ABLATION.md

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
