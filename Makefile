# istio-source-ip — `make help` lists the targets.
STACK  ?= dev
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))

# Local file state and an empty passphrase: no Pulumi account needed. Override either to use yours.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?=

.PHONY: help venv test lint render render-all check-render stack preview up destroy verify kind
help:
	@echo "make test                 lint + unit tests (makes .venv from requirements-dev.txt)"
	@echo "make render STACK=name    offline render of a stack into render/<name>"
	@echo "make check-render         render every stack, check it against the upstream schemas, expand its charts"
	@echo "make preview STACK=name   pulumi preview --diff (needs the Pulumi CLI and a kube context)"
	@echo "make up STACK=name        pulumi up"
	@echo "make verify STACK=name    prove the client IP arrives (after up)"
	@echo "make destroy STACK=name   pulumi destroy"
	@echo "make kind                 create the kind cluster the dev stack expects"
	@echo "stacks: $(STACKS)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest

render: venv
	$(PY) -m tools.render --stack $(STACK) --out render/$(STACK)

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

stack: venv
	@mkdir -p .pulumi-state
	pulumi stack select --create $(STACK)

preview: stack
	pulumi preview --diff --stack $(STACK)

up: stack
	pulumi up --stack $(STACK)

destroy: stack
	pulumi destroy --stack $(STACK)

verify: venv
	$(PY) -m tools.verify --stack $(STACK)

kind:
	kind create cluster --config hack/kind.yaml
