## The single entry point. Every target installs what it needs itself (tools/lab/setup.sh) and reuses
## what is already there, so each works on a fresh Debian machine as root and is fast the second time.
##
##   make test        set up, then every check: lint, sanity (current and oldest ansible-core), unit
##                    tests, while every molecule scenario (in parallel lanes) and a converge on the
##                    oldest supported ansible-core run behind them; prints each step's and scenario's time
##   make demo        set up, bring up the two-host lab, run site.yml and verify.yml, show a curl call
##   make demo-down   remove the demo lab
##   make bench       benchmark the tunnel in the lab (markdown + JSON under build/bench/)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
ENV = . tools/ci/env.sh
# Molecule lanes: the lanes run side by side, the scenarios of a lane in turn (tools/ci/molecule_lanes.sh).
# roles and roles@oldest share containers, so they share a lane; e2e, the longest, has one to itself.
LANES ?= "roles roles@oldest" "e2e" "firewall https monitor"

.PHONY: help setup test lint sanity unit molecule oldest demo demo-down bench clean

help:
	@sed -n 's/^## \{0,1\}//p' Makefile

setup:
	@tools/lab/setup.sh all

test: setup
	@tools/ci/make_test.sh

lint:
	@echo "==> yamllint"; $(ENV) current; yamllint --strict .
	@echo "==> ansible-lint (production profile)"; $(ENV) current; ansible-lint --profile production

sanity:
	@echo "==> ansible-test sanity on the current ansible-core"; tools/ci/sanity.sh current
	@echo "==> ansible-test sanity on the oldest supported ansible-core"; tools/ci/sanity.sh oldest

unit:
	@echo "==> unit tests (real local HTTP servers, the home inventory offline)"; $(ENV) current; \
	  python -m pytest tests/unit -q -p no:cacheprovider
	@echo "==> offline role checks: architecture mapping, argument_specs vs defaults, download path"; \
	  $(ENV) current; for p in arch_mapping argument_specs download; do \
	    ansible-playbook -i localhost, -c local -e ansible_python_interpreter="$$(command -v python)" \
	      tests/playbooks/$$p.yml; done

# The roles scenario runs on Debian 13 (trixie), and roles@oldest converges it on Debian 12 (bookworm)
# with the oldest supported ansible-core; every other scenario runs on bookworm. So each role is
# converged on both releases. One scenario: make molecule LANES=e2e
molecule:
	@$(ENV) current; tools/ci/molecule_lanes.sh $(LANES)

# The oldest supported ansible-core alone: sanity, and one converge of the roles scenario (converge, then
# a second run that must change nothing). The behaviour tests run once, on the current core.
oldest:
	@echo "==> ansible-test sanity on the oldest supported ansible-core"; tools/ci/sanity.sh oldest
	@$(ENV) current; tools/ci/molecule_lanes.sh roles@oldest

demo: setup
	@tools/demo.sh up

demo-down:
	@tools/demo.sh down

bench: setup
	@$(ENV) current; python tools/bench/bench.py --out build/bench

clean: demo-down
	rm -rf build .pytest_cache tests/output
