# Gradium token broker: `make invoke` runs the built function locally, `make serve` serves its HTTP API
# on localhost with a working Cognito authorizer, `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
VENV_LAMBDA := .venv-lambda
VENV_CHECKOV := .venv-checkov
BIN := $(VENV)/bin
FUNCTION ?= TokenFunction
EVENT ?=

# The samconfig.toml environment of deploy, smoke, logs, config and put-key: default (dev) or prod. Their
# stack and region come from there; no region is forced here (local targets use moto's own).
ENV ?=
DEPLOY_ENV = $(or $(ENV),default)
# `python -m` a module of this checkout (local/, ops/, tests/); `broker` comes from the editable install.
RUN_MODULE := $(BIN)/python -m

export SAM_CLI_TELEMETRY := 0

# The function runs on python3.13. Where pyenv holds a 3.13 that is not the active version,
# select it, so that both our virtualenv and `sam build` find python3.13.
PYENV_313 := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | tail -n 1)
ifneq ($(PYENV_313),)
export PYENV_VERSION := $(PYENV_313)
endif
PYTHON313 ?= python3.13
# Our virtualenv's python3.13 first on PATH: `sam build` then finds the runtime's Python there.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv build docs invoke standins sam-env serve demo unit clients test lint format validate bench chaos smoke smoke-user config put-key publish deploy-tools deploy-lock deploy deploy-prod pause resume logs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

NODE_MODULES := tests/clients/node_modules

# What `make build`, `invoke` and `serve` need: the tools' virtualenv and the emulated runtime's.
LOCAL_TOOLS := $(VENV)/.installed $(VENV_LAMBDA)/.installed

venv: $(LOCAL_TOOLS) $(VENV_CHECKOV)/.installed $(NODE_MODULES)/.installed ## Create the virtualenvs (tools and tests, emulated runtime, checkov) and the client tests' node_modules

# Every virtualenv starts here: no python3.13 is one line saying how to get one, not "command not found".
NEED_PYTHON313 = @command -v $(PYTHON313) >/dev/null 2>&1 || { echo "make: $(PYTHON313) not found: install \
	Python 3.13 (python.org, your package manager, or pyenv install 3.13), or name one: make PYTHON313=/path/to/python3.13 ..." >&2; exit 2; }

$(VENV)/.installed: tests/requirements.txt pyproject.toml
	$(NEED_PYTHON313)
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r tests/requirements.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

$(VENV_LAMBDA)/.installed: local/requirements-runtime.txt
	$(NEED_PYTHON313)
	$(PYTHON313) -m venv $(VENV_LAMBDA)
	$(VENV_LAMBDA)/bin/pip install --quiet -r local/requirements-runtime.txt
	touch $@

$(VENV_CHECKOV)/.installed: tests/requirements-checkov.txt
	$(NEED_PYTHON313)
	$(PYTHON313) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/pip install --quiet -r tests/requirements-checkov.txt
	touch $@

$(NODE_MODULES)/.installed: tests/clients/package-lock.json
	cd tests/clients && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# What `sam build` reads: a build runs only when one of these changed since the last one.
BUILD_SOURCES := template.yaml $(shell find functions layers -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' -not -name '*.pyc' 2>/dev/null)
BUILT := .aws-sam/build/template.yaml

build: $(BUILT) ## sam build into .aws-sam/build when the sources changed, then compile it as Lambda cannot (docs/local-development.md)
	@:

# sam build's 40 lines (and its advice to run `sam deploy --guided`, which is not how this project
# deploys) go to .aws-sam/build.log; they are printed only when the build fails. /var/task and /opt are
# read-only in Lambda, so Python compiles every module on every cold start unless the package ships .pyc
# files: compileall makes them, unchecked-hash ones staying valid whatever the zip's mtimes.
$(BUILT): $(VENV)/.installed $(BUILD_SOURCES)
	@mkdir -p .aws-sam
	@echo "sam build: building .aws-sam/build (log: .aws-sam/build.log)"
	@$(BIN)/sam build > .aws-sam/build.log 2>&1 || { cat .aws-sam/build.log; exit 1; }
	@$(BIN)/python -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build/TokenFunction .aws-sam/build/CreditsMonitorFunction .aws-sam/build/DependenciesLayer .aws-sam/build/TracingLayer
	@touch $@

# GRADIUM=real calls api.gradium.ai with your key, read from GRADIUM_API_KEY_FILE or a hidden prompt.
GRADIUM ?=
REAL_GRADIUM = $(if $(filter real,$(GRADIUM)),--real-gradium)

# DOCKER=1: through the real `sam local invoke` (SAM=the SAM CLI command, SAM_FLAGS=more flags, ARCH=x86_64
# to run natively on an x86_64 machine), against the stand-ins of `make standins`.
DOCKER ?=
SAM ?= $(BIN)/sam
SAM_FLAGS ?=
ARCH ?=
invoke: build $(VENV_LAMBDA)/.installed ## Run EVENT through the built FUNCTION (default TokenFunction, or CreditsMonitorFunction) under the Lambda emulator; DOCKER=1: through sam local invoke (ARCH=x86_64); GRADIUM=real
	$(RUN_MODULE) local.invoke --function $(FUNCTION) $(if $(EVENT),--event $(EVENT)) $(REAL_GRADIUM) \
		$(if $(DOCKER),--docker --sam "$(SAM)" --sam-flags="$(SAM_FLAGS)" $(if $(ARCH),--architecture $(ARCH)))

standins: $(VENV)/.installed ## For sam local invoke with Docker: moto (the secret, the quota table) and the Gradium stand-in, reachable from SAM's containers; writes .aws-sam/sam-local-env.json; GRADIUM=real
	$(RUN_MODULE) local.sam_local $(REAL_GRADIUM)

PORT ?= 3000
HOST ?= 127.0.0.1
PARAMETER_OVERRIDES ?=
serve: build $(VENV_LAMBDA)/.installed ## The template's API on http://HOST:PORT (default 127.0.0.1:3000) with a Cognito authorizer; PARAMETER_OVERRIDES="Key=Value ..."; GRADIUM=real; FRESH=1
	$(RUN_MODULE) local.serve --host "$(HOST)" --port "$(PORT)" --parameter-overrides "$(PARAMETER_OVERRIDES)" $(REAL_GRADIUM) $(if $(FRESH),--fresh)

DEMO_PORT ?= 8080
demo: build $(VENV_LAMBDA)/.installed $(NODE_MODULES)/.installed ## The browser demo, a page to use: http://127.0.0.1:DEMO_PORT (default 8080) against make serve's local API; GRADIUM=real
	$(RUN_MODULE) local.demo --port "$(DEMO_PORT)" $(REAL_GRADIUM)

docs: $(VENV)/.installed ## docs/configuration.md's parameter table from template.yaml (meanings, defaults, bounds) and config.py (variables)
	@$(RUN_MODULE) ops.parameter_table

lint: $(VENV)/.installed ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: $(VENV)/.installed $(VENV_CHECKOV)/.installed ## sam validate --lint, cfn-lint with the serverless rules, and checkov on template.yaml
	$(BIN)/sam validate --lint
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(VENV_CHECKOV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

# The fast loop: tests that need no build, browser or Docker, on four workers (they often wait on the
# loopback sockets of moto and the Gradium stand-in, so more workers than cores still pay); worksteal hands
# the waiting tests' leftovers to idle workers. The ops commands run in-process there (tests/ops/command.py).
unit: $(VENV)/.installed ## The function's, the docs' and the ops commands' tests (tests/unit, tests/docs, tests/ops; moto and the stand-in on loopback): no build, browser or Docker; under 20 s
	$(BIN)/pytest -q -n 4 --dist worksteal -m "not build" tests/unit tests/docs tests/ops

test: lint build venv ## Everything CI runs: lint, build, then every test (unit, built function, template, local API, clients, chaos)
	$(BIN)/pytest

clients: build venv ## The TypeScript, Swift and Kotlin clients' tests against make serve's local API (tests/clients; the Swift and Kotlin toolchains install into ~/.cache on first use)
	$(BIN)/pytest tests/clients

bench: build $(VENV_LAMBDA)/.installed ## Cold start, warm latency, memory and cost of the built function against a floor handler
	$(RUN_MODULE) tests.bench.bench

chaos: build $(VENV_LAMBDA)/.installed ## The built function while Secrets Manager, Gradium and DynamoDB misbehave, and a 5,000-call soak
	$(RUN_MODULE) tests.chaos.chaos

smoke: $(VENV)/.installed ## With ENV=default|prod (or STACK=name): smoke-test that deployed stack (SMOKE_FLAGS="--create-user --delete-user"); else its tests against `make serve`'s local API
	@if [ -n "$(ENV)$(STACK)" ]; then \
		$(RUN_MODULE) ops.smoke $(if $(STACK),--stack "$(STACK)",--env "$(DEPLOY_ENV)") $(SMOKE_FLAGS); \
	else \
		$(MAKE) --no-print-directory build $(VENV_LAMBDA)/.installed && $(BIN)/pytest tests/smoke; \
	fi

smoke-user: $(VENV)/.installed ## Once per environment, as an administrator: ENV's smoke-test user, its password kept for the pipeline alone
	@$(RUN_MODULE) ops.smoke_user --env "$(DEPLOY_ENV)"

config: $(VENV)/.installed ## Keep parameter overrides in samconfig.toml for ENV, checked against the template: SET="Key=Value ..." UNSET="Key ..." REGION=eu-west-1
	@$(RUN_MODULE) ops.samconfig --env "$(DEPLOY_ENV)" --set "$(SET)" --unset "$(UNSET)" $(if $(REGION),--region "$(REGION)")

put-key: $(VENV)/.installed ## Put the Gradium API key into ENV's secret (or SECRET_ID) from a hidden prompt (or stdin), never argv or history
	@$(RUN_MODULE) ops.put_api_key --env "$(DEPLOY_ENV)" $(if $(SECRET_ID),--secret-id "$(SECRET_ID)")

publish: build ## A "Launch stack" link: sam package into BUCKET (readable by your users) in REGION, template included
	$(RUN_MODULE) ops.publish --bucket "$(BUCKET)" --region "$(REGION)"

# The deploy job installs its tools before it holds any credentials, from a lock that pins every transitive
# dependency with its hashes (pip refuses any file whose hash differs); `make deploy` then finds .venv ready.
DEPLOY_LOCK := pipeline/requirements-deploy.txt
deploy-tools: ## The deploy job's tools into .venv from the hash lock (pipeline/requirements-deploy.txt), nothing else
	$(NEED_PYTHON313)
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(DEPLOY_LOCK)
	touch $(VENV)/.installed

deploy-lock: ## Regenerate the hash lock from pipeline/requirements-deploy.in (pip-tools, in a throwaway virtualenv)
	rm -rf .venv-lock && $(PYTHON313) -m venv .venv-lock && .venv-lock/bin/pip install --quiet pip-tools==7.6.2
	.venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links \
		--no-emit-index-url -o $(DEPLOY_LOCK) pipeline/requirements-deploy.in
	rm -rf .venv-lock

# The guard reads SAM_DEPLOY_FLAGS too: its --parameter-overrides replace samconfig's for that run.
export SAM_DEPLOY_FLAGS
deploy: build ## Guarded sam deploy of ENV (default: dev; ENV=prod): shows the parameter diff, refuses what weakens the stack (FORCE=1 deploys anyway)
	$(RUN_MODULE) ops.deploy_guard --env "$(DEPLOY_ENV)" $(if $(FORCE),--force)
	$(BIN)/sam deploy --config-env "$(DEPLOY_ENV)" $(SAM_DEPLOY_FLAGS)

deploy-prod: ## make deploy ENV=prod
	$(MAKE) --no-print-directory deploy ENV=prod

pause: $(VENV)/.installed ## Emergency: stop minting tokens in ENV at once (reserved concurrency 0, no deploy)
	@$(RUN_MODULE) ops.emergency pause --env "$(DEPLOY_ENV)"

resume: $(VENV)/.installed ## Undo make pause: the stack's own ReservedConcurrency again
	@$(RUN_MODULE) ops.emergency resume --env "$(DEPLOY_ENV)"

sam-env: $(VENV)/.installed ## For sam local invoke against ENV's deployed stack: its functions' variables and a caller it accepts, into .aws-sam/
	@$(RUN_MODULE) ops.sam_env --env "$(DEPLOY_ENV)"

logs: $(VENV)/.installed ## Tail ENV's token function logs (stack and region from samconfig.toml)
	@$(RUN_MODULE) ops.preflight --env "$(DEPLOY_ENV)"
	$(BIN)/sam logs --config-env "$(DEPLOY_ENV)" --name TokenFunction --tail

clean: ## Remove the virtualenvs and build output
	rm -rf $(VENV) $(VENV_LAMBDA) $(VENV_CHECKOV) $(NODE_MODULES) .aws-sam .pytest_cache .ruff_cache
