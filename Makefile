## The single entry point. Every target installs what it needs itself (tools/lab/setup.sh) and reuses
## what is already there, so each works on a fresh Debian machine as root and is fast the second time.
##
##   make test        set up, then every check: lint, sanity, unit tests, all molecule scenarios on the
##                    current ansible-core, sanity and a converge on the oldest supported ansible-core
##   make demo        set up, bring up the two-host lab, run site.yml and verify.yml, show a curl call
##   make demo-down   remove the demo lab
##   make bench       benchmark the tunnel in the lab (markdown + JSON under build/bench/)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
ENV = . tools/ci/env.sh
SCENARIOS ?= roles firewall e2e

.PHONY: help setup test lint sanity unit molecule oldest demo demo-down bench clean

help:
	@sed -n 's/^## \{0,1\}//p' Makefile

setup:
	@tools/lab/setup.sh all

test: setup
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint sanity unit molecule oldest; \
	echo "==> make test: all checks passed in $$(( $$(date +%s) - start )) s"

lint:
	@echo "==> yamllint"; $(ENV) current; yamllint --strict .
	@echo "==> ansible-lint (production profile)"; $(ENV) current; ansible-lint --profile production

sanity:
	@echo "==> ansible-test sanity on the current ansible-core"; tools/ci/sanity.sh current

unit:
	@echo "==> unit tests (real local HTTP servers, the home inventory offline)"; $(ENV) current; \
	  python -m pytest tests/unit -q -p no:cacheprovider
	@echo "==> offline role checks: architecture mapping, argument_specs vs defaults, download path"; \
	  $(ENV) current; for p in arch_mapping argument_specs download; do \
	    ansible-playbook -i localhost, -c local -e ansible_python_interpreter="$$(command -v python)" \
	      tests/playbooks/$$p.yml; done

molecule:
	@$(ENV) current; for s in $(SCENARIOS); do \
	  echo "==> molecule test -s $$s (ansible-core $$(ansible --version | sed -n '1s/.*core \(.*\)\]/\1/p'))"; \
	  molecule test -s $$s; \
	done

oldest:
	@echo "==> ansible-test sanity on the oldest supported ansible-core"; tools/ci/sanity.sh oldest
	@$(ENV) oldest; echo "==> molecule test -s roles on ansible-core $$(ansible --version | sed -n '1s/.*core \(.*\)\]/\1/p')"; \
	  molecule test -s roles

demo: setup
	@tools/demo.sh up

demo-down:
	@tools/demo.sh down

bench: setup
	@$(ENV) current; python tools/bench/bench.py --out build/bench

clean: demo-down
	rm -rf build .pytest_cache tests/output
