# The two set-up commands: `make up` runs the engine, `make test` runs every check.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: up test bench provision services clean

provision:
	@devstack/provision.sh

up: provision
	@$(PY) -m devstack up

test: provision
	@$(PY) -m devstack test $(PYTEST_ARGS)

bench: provision
	@$(PY) -m bench $(BENCH_ARGS)

services: provision
	@$(PY) -m devstack services

clean:
	rm -rf var/up var/test
