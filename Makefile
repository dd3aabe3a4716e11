# The two set-up commands: `make up` runs the engine, `make test` runs every check.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: up test bench chaos provision services lock clean

provision:
	@devstack/provision.sh

up: provision
	@$(PY) -m devstack up

# The suite tests the libraries too: it installs them (LIBRARIES for `make up`: see README).
test: export LIBRARIES = python-numpy
test: provision
	@$(PY) -m devstack test $(PYTEST_ARGS)

bench: provision
	@$(PY) -m bench $(BENCH_ARGS)

# Faults injected one after another into a private stack (STACK_BASE_PORT=47092); a few minutes.
chaos: provision
	@$(PY) -m chaos $(CHAOS_ARGS)

services: provision
	@$(PY) -m devstack services

# Regenerates requirements.lock from pyproject.toml, keeping every pin that still fits;
# LOCK_ARGS="--upgrade-package NAME" moves one package. pip-tools lives in its own venv.
PIP_TOOLS := var/cache/pip-tools
lock:
	@test -x $(PIP_TOOLS)/bin/pip-compile || { "$${PYTHON:-python3}" -m venv $(PIP_TOOLS) \
		&& $(PIP_TOOLS)/bin/pip install -q pip-tools==7.6.2; }
	@CUSTOM_COMPILE_COMMAND="make lock" $(PIP_TOOLS)/bin/pip-compile -q --generate-hashes \
		--allow-unsafe --strip-extras --no-emit-find-links --extra test \
		-o requirements.lock pyproject.toml $(LOCK_ARGS)

clean:
	rm -rf var/up var/test var/chaos
