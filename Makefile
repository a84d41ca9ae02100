# kling-lambda — two commands do all set-up: `make demo` and `make test`.

SHELL := /bin/bash
PYTHON ?= python3
CARGO ?= cargo
PIP_INSTALL := $(PYTHON) -m pip install --quiet --disable-pip-version-check
# Console scripts installed by pip (cfn-lint, cargo-lambda) land here.
PY_SCRIPTS := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)
export PATH := $(PY_SCRIPTS):$(HOME)/.local/bin:$(PATH)

API_PORT ?= 9000
MOTO_PORT ?= 4566
KLING_SIM_PORT ?= 9100
export API_PORT MOTO_PORT KLING_SIM_PORT

.PHONY: test demo dev lint build bench template-checks package deploy tools-moto tools-lint tools-lambda

## Install what is missing, from the package registries.
tools-moto:
	@$(PYTHON) -c 'import moto.server, flask, flask_cors' 2>/dev/null || $(PIP_INSTALL) 'moto[server]'
tools-lint:
	@command -v cfn-lint >/dev/null 2>&1 || $(PIP_INSTALL) cfn-lint
	@$(PYTHON) -c 'import cfn_lint_serverless' 2>/dev/null || $(PIP_INSTALL) cfn-lint-serverless || true
tools-lambda:
	@command -v cargo-lambda >/dev/null 2>&1 || $(PIP_INSTALL) cargo-lambda

build:
	$(CARGO) build --workspace --bins

## Format, lint, every test (unit and end to end against moto and kling-sim), template lint.
test: tools-moto tools-lint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory template-checks

## cfn-lint (with the serverless rules when that package is available) and least privilege.
template-checks: tools-lint
	@if $(PYTHON) -c 'import cfn_lint_serverless' 2>/dev/null; then \
		cfn-lint --append-rules cfn_lint_serverless.rules -- infra/template.yaml; \
	else cfn-lint infra/template.yaml; fi
	AWS_DEFAULT_REGION=us-east-1 $(PYTHON) infra/checks/least_privilege.py infra/template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(PYTHON) infra/checks/least_privilege_selftest.py

## Start the local stack, run one text-to-video task through the API, print the result, stop.
demo: tools-moto tools-lambda build
	./target/debug/devstack demo

## Keep the local stack running (API on 127.0.0.1:$(API_PORT)); prints a token.
dev: tools-moto tools-lambda build
	./target/debug/devstack up

lint: tools-lint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(MAKE) --no-print-directory template-checks

## Stream a 1 GiB video through the real finalize binary and print its peak memory.
bench: tools-moto build
	BENCH_BIN_DIR=target/debug ./target/debug/bench-finalize $(or $(MIB),1024)

FUNCTIONS := create-task webhook-receiver finalize status-query reconcile

## Release arm64 zips for Lambda (provided.al2023), with their sizes.
package: tools-lambda
	cargo lambda build --release --arm64 --output-format zip $(addprefix -p ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do printf '%-18s %s bytes\n' $$f $$(stat -c %s target/lambda/$$f/bootstrap.zip); done

## Deploy the packaged zips with AWS SAM (needs AWS credentials and the SAM CLI).
deploy: package
	cd infra && sam deploy
