# spillover.lambda_ecs: every command a developer or CI runs.
#   make demo   set everything up and deploy the stack to the local AWS (the README's first command)
#   make test   set everything up and run every gate and test (the README's second command; CI runs it)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LOCAL_AWS_PORT ?= 45660
LOCAL_AWS_HOST ?= 127.0.0.1
LOCAL_REGISTRY_PORT ?= 45670
export LOCAL_AWS_PORT LOCAL_AWS_HOST LOCAL_REGISTRY_PORT VENV
# The same collections path as the committed ansible.cfg: collections/ansible_collections/spillover/lambda_ecs is a
# committed link to this working tree.
COLLECTIONS := $(CURDIR)/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(abspath $(VENV))/bin:$(PATH)
PYTEST_ARGS ?=
IMPORTER_VENV := build/importer-venv

.PHONY: help venv importer-venv lock debs collection-link local-aws-up local-aws-down local-registry-up local-registry-down \
	lint ruff ansible-lint hadolint \
	sanity pytest molecule aws-quirks test demo build collection bench-app bench-alb bench-scaler lab lab-compare \
	lab-compare-aws lab-sweep clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# The venvs install only from the locks (make lock writes them): every file's hash checked, no dependency resolved at
# install time (a lock names them all; pip check says so after). The requirements files stay prerequisites: one edited
# and not locked again fails check-locks.py here, before anything is installed.
$(VENV)/.installed: requirements/pip.lock requirements/dev.lock requirements/*.txt files/*/requirements*.txt \
		examples/*/requirements.txt scripts/check-locks.py scripts/find-python.sh
	@python=$$(scripts/find-python.sh) && echo "using $$python" && "$$python" -m venv $(VENV)
	@$(PY) scripts/check-locks.py requirements/pip.txt requirements/pip.lock requirements/dev.txt requirements/dev.lock
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/pip.lock
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/pip check
	@touch $@

venv: $(VENV)/.installed ## Create .venv (Python >= 3.12, ansible 14.x, boto3, test and lint tools)

# galaxy-importer's pins (attrs<24, ansible-lint<=26.10.1) conflict with requirements/dev.txt: it gets its own venv.
$(IMPORTER_VENV)/.installed: requirements/pip.lock requirements/importer.lock requirements/pip.txt \
		requirements/importer.txt requirements/runtime.txt scripts/check-locks.py scripts/find-python.sh
	@python=$$(scripts/find-python.sh) && "$$python" -m venv $(IMPORTER_VENV)
	@$(IMPORTER_VENV)/bin/python scripts/check-locks.py requirements/pip.txt requirements/pip.lock \
		requirements/importer.txt requirements/importer.lock
	$(IMPORTER_VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements/pip.lock
	$(IMPORTER_VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements/importer.lock
	$(IMPORTER_VENV)/bin/pip check
	@touch $@

importer-venv: $(IMPORTER_VENV)/.installed ## Create build/importer-venv with Galaxy's importer (tests use it)

lock: ## Write the locks (requirements/*.lock, files/*/requirements*.lock) from their .txt; UPGRADE=1: newest allowed
	@scripts/lock.sh

debs: ## Install the Debian packages the tests use, when missing (buildah, docker-registry)
	@scripts/ensure-debs.sh

collection-link: ## Check (or restore) the committed link that makes the working tree spillover.lambda_ecs
	@mkdir -p $(COLLECTIONS)/ansible_collections/spillover
	@[ "$$(readlink $(COLLECTIONS)/ansible_collections/spillover/lambda_ecs)" = ../../.. ] \
		|| ln -sfn ../../.. $(COLLECTIONS)/ansible_collections/spillover/lambda_ecs

local-aws-up: venv ## Start the local AWS (moto server on $(LOCAL_AWS_HOST):$(LOCAL_AWS_PORT))
	@scripts/local-aws.sh up

local-aws-down: ## Stop the local AWS started by local-aws-up
	@scripts/local-aws.sh down

local-registry-up: venv debs ## Start the local OCI registry (127.0.0.1:$(LOCAL_REGISTRY_PORT)) and build the base image
	@scripts/local-registry.sh up

local-registry-down: ## Stop the local registry started by local-registry-up
	@scripts/local-registry.sh down

ruff: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

ansible-lint: venv collection-link
	$(BIN)/ansible-lint --offline

hadolint: venv
	$(BIN)/hadolint files/container/Dockerfile

lint: ruff ansible-lint hadolint ## ruff (format + lint), ansible-lint (production), hadolint

sanity: venv ## ansible-test sanity for the collection's plugins (no docker)
	@scripts/sanity.sh

pytest: venv collection-link importer-venv ## Unit and integration tests (pytest): two workers, then the slow ones alone
	$(BIN)/pytest -n 2 -m "not slow" --durations=25 $(PYTEST_ARGS)
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

molecule: venv collection-link debs ## Molecule scenarios against the local AWS
	@scripts/molecule.sh

aws-quirks: venv collection-link debs ## First run on a fresh account through the real-AWS behaviour layer, per quirk
	$(PY) -m tests.support.aws_quirks

# The aws-quirks gate runs last: a first run on a fresh account through the real-AWS behaviour layer.
test: venv debs lint sanity pytest molecule aws-quirks ## Set everything up and run every gate and test

build: venv ## Build the collection tarball into build/
	@mkdir -p build
	$(BIN)/ansible-galaxy collection build --force --output-path build .

demo: venv collection-link debs ## Set up, start the local AWS and registry, deploy site.yml, show status
	@scripts/demo.sh

bench-app: venv ## Benchmark the app: zip size, cold import, handler overhead, container servers vs wsgiref, memory
	$(PY) -m benchmarks.bench_app

bench-alb: venv collection-link ## Benchmark alb_weighted_forward against amazon.aws.elb_application_lb
	$(PY) -m benchmarks.bench_alb

bench-scaler: venv ## Benchmark the scaler: cold import, decision time, AWS calls per invocation
	$(PY) -m benchmarks.bench_scaler

lab: venv collection-link debs ## Deploy the lab stack and run one burst through the local data plane
	$(PY) -m lab run

lab-compare: venv collection-link debs ## Same burst with four scalers: off, seed, project, fast (lab clock)
	$(PY) -m lab compare

lab-compare-aws: venv collection-link debs ## The four scalers on AWS's clock (minute metrics, 45 s tasks; ~50 min)
	$(PY) -m lab compare --profile aws

lab-sweep: venv collection-link debs ## AWS's clock, standby 0, 1, 2: failed requests against task-hours (~40 min)
	$(PY) -m lab sweep --profile aws --standby 0,1,2

clean: ## Remove build outputs (keeps .venv)
	rm -rf build tests/output lab/output .pytest_cache .ruff_cache
