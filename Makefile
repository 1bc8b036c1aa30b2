# gyre — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KSERVE_STAMP := .venv-kserve/.installed
MLFLOW_STAMP := .venv-mlflow/.installed

.PHONY: demo demo-quickstart test lint unit bench bench-pipelines bench-data bench-compute bench-serving bench-run-search bench-ci bench-releases bench-monitoring clean

$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/lock.txt -e '.[dev,data,postgres,s3,serve,sklearn,torch,onnx,ray,monitor]'
	$(PY) -m compileall -q src > /dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/seer/demo.py

demo-quickstart: $(STAMP)
	bash scripts/demo.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests examples benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_import_time.py

test: lint $(KSERVE_STAMP) $(MLFLOW_STAMP)
	bash scripts/run_tests.sh

# KServe's REST client for the protocol tests, in a venv of its own (it pins pandas < 3).
$(KSERVE_STAMP): requirements/kserve-client.txt requirements/kserve-client.lock
	$(PYTHON) -m venv .venv-kserve
	.venv-kserve/bin/python -m pip install -q -c requirements/kserve-client.lock -r requirements/kserve-client.txt
	touch $(KSERVE_STAMP)

# MLflow's client (mlflow-skinny) for the MLflow endpoint test, in a venv of its own.
$(MLFLOW_STAMP): requirements/mlflow-client.txt requirements/mlflow-client.lock
	$(PYTHON) -m venv .venv-mlflow
	.venv-mlflow/bin/python -m pip install -q -c requirements/mlflow-client.lock -r requirements/mlflow-client.txt
	touch $(MLFLOW_STAMP)

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

bench: bench-pipelines bench-data bench-compute bench-serving bench-run-search bench-ci bench-releases bench-monitoring bench-server

bench-pipelines: $(STAMP)
	$(PY) benchmarks/pipelines/run.py

bench-data: $(STAMP)
	$(PY) benchmarks/data/run.py

clean:
	rm -rf $(VENV) .venv-kserve .venv-mlflow .demo .bench-cache

bench-compute: $(STAMP)
	$(PY) benchmarks/compute/run.py

bench-serving: $(STAMP)
	$(PY) benchmarks/serving/run.py

bench-run-search: $(STAMP)
	$(PY) benchmarks/run_search/run.py

bench-ci: $(STAMP)
	$(PY) benchmarks/ci/run.py

bench-releases: $(STAMP)
	$(PY) benchmarks/releases/run.py

bench-monitoring: $(STAMP)
	$(PY) benchmarks/monitoring/run.py

bench-server: $(STAMP)
	$(PY) benchmarks/server/run.py
