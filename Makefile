# netsight.async: `make demo` runs the demo site, `make test` the whole suite,
# `make check` the in-process tests only (under a minute).
# Everything is installed into .venv with the versions of constraints.txt.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --constraint constraints.txt
TEST_ARGS ?=
DEMO := var/instance
DEMO_URL := http://localhost:8080/plone/fibonacci

.PHONY: help
help:
	@echo "make demo   install, create the demo Zope instance and Plone site, serve it"
	@echo "            on $(DEMO_URL) (login admin:admin, Ctrl-C stops it)"
	@echo "make demo-cluster  the demo on a ZEO server: front-ends on :8080 and :8081,"
	@echo "            a worker instance that runs the jobs (Ctrl-C stops them all)"
	@echo "make test   install and run the whole test suite"
	@echo "make check  the in-process tests only, under a minute: all but the system"
	@echo "            tests (tests/system/tests: ZEO, Zope instances, RelStorage,"
	@echo "            Chromium, builds), which make test runs too"
	@echo "make docs   install and build the documentation (Sphinx, offline) into"
	@echo "            docs/_build/html"
	@echo "make bench  install and run the benchmarks (bench/all.py: a ZEO server, Zope"
	@echo "            instances, Chromium; a few minutes), one table of figures and goals;"
	@echo "            then the package beside RQ, Procrastinate, Django Tasks and Huey"
	@echo "make clean  remove the virtualenv and what the demo made under var/"
	@echo "            (and what bin/buildout made: bin/ parts/ develop-eggs/ ...)"
	@echo "make versions.cfg  the [versions] of buildout.cfg, from constraints.txt"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python setup.py constraints.txt demo/setup.py
	$(PIP) pip setuptools wheel
	$(PIP) -e ".[test]" -e demo
	touch $@

.PHONY: install
install: $(VENV)/.installed

.PHONY: test
test: install /usr/bin/chromium postgresql
	$(BIN)/zope-testrunner --test-path src --test-path demo/src $(TEST_ARGS) 2>&1 \
	  | $(BIN)/python tools/test_summary.py

# The in-process tests: every test module but those of a tests/system/tests
# package (a ZEO server, Zope instance subprocesses, RelStorage, Chromium,
# mounted databases, buildout and wheel builds), for the edit-test loop:
# tools/check.py runs them in a few zope-testrunner processes at once (one
# more than the cores), each module in one. `make test` runs them all in
# one process, the system tests too.
.PHONY: check
check: install
	$(BIN)/python tools/check.py $(TEST_ARGS) 2>&1 \
	  | $(BIN)/python tools/test_summary.py

# The documentation: Sphinx, offline (no intersphinx, the built-in alabaster
# theme), warnings as errors; tests/test_docs.py builds it too.
.PHONY: docs
docs: install
	$(BIN)/python -m sphinx -W --keep-going -b html -d docs/_build/doctrees docs docs/_build/html
	@echo "The documentation: docs/_build/html/index.html"

# The benchmarks: bench/heavy.py (a ZEO server and Zope instances of their
# own, wrk for the request rates), bench/scheduled.py (scheduled and
# prioritized starts, a due job's claim latency) and bench/latency.py
# (Chromium), in one table; then bench/compare.py, the package beside RQ, Procrastinate,
# Django Tasks and Huey (Debian's redis-server, a throwaway PostgreSQL);
# docs/performance.rst has a run's figures. The peers live in a virtualenv
# of their own, $(BENCH_VENV) (Django 6 needs Python 3.12), with the
# versions of bench/peers/requirements.txt: none is a dependency of the package.
BENCH_PYTHON ?= $(firstword $(wildcard /usr/bin/python3.12 $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.12)
BENCH_VENV := .venv-bench

.PHONY: bench
bench: install /usr/bin/chromium /usr/bin/wrk /usr/bin/redis-server postgresql $(BENCH_VENV)/.installed
	$(BIN)/python bench/all.py

$(BENCH_VENV)/.installed: bench/peers/requirements.txt
	$(BENCH_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --no-deps -r bench/peers/requirements.txt
	touch $@

/usr/bin/redis-server:
	apt-get update && apt-get install -y --no-install-recommends redis-server

/usr/bin/wrk:
	apt-get update && apt-get install -y --no-install-recommends wrk

# The Chromium tests (test_chromium.py) drive Debian's chromium with
# Playwright for Python; Playwright's own browser download is not used.
/usr/bin/chromium:
	apt-get update && apt-get install -y --no-install-recommends chromium

# test_relstorage.py runs a throwaway server of Debian's PostgreSQL (initdb
# and postgres from /usr/lib/postgresql/<version>/bin) for RelStorage.
.PHONY: postgresql
postgresql:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || { apt-get update && apt-get install -y --no-install-recommends postgresql; }

.PHONY: clean
clean:
	rm -rf $(VENV) $(BENCH_VENV) var etc
	rm -rf .venv-buildout bin parts develop-eggs eggs .installed.cfg .mr.developer.cfg

# The demo: a Zope instance in $(DEMO) (made by mkwsgiinstance; its zope.conf
# comes from demo/instance/zope.conf.in), the ZODB in var/filestorage and
# var/blobstorage, the Plone site "plone" with netsight.asyncdemo installed.
.PHONY: demo
demo: install $(DEMO)/etc/zope.conf
	NETSIGHT_ASYNC_JOB_THREADS=0 $(BIN)/zconsole run $(DEMO)/etc/zope.conf demo/instance/create_site.py
	@echo
	@echo "The demo: $(DEMO_URL)"
	@echo "Log in as admin, password admin (a Manager), or member, password member-demo. Ctrl-C stops the server."
	@echo
	exec $(BIN)/runwsgi $(DEMO)/etc/zope.ini

$(DEMO)/etc/zope.conf: $(VENV)/.installed demo/instance/zope.conf.in
	test -f $(DEMO)/etc/site.zcml || $(BIN)/mkwsgiinstance --dir $(DEMO) --user admin:admin
	mkdir -p var/filestorage var/blobstorage var/cache
	sed -e 's|@INSTANCE@|$(CURDIR)/$(DEMO)|' -e 's|@VAR@|$(CURDIR)/var|' \
	  demo/instance/zope.conf.in > $@

# The demo cluster (demo/cluster.py): a ZEO server and three instances in
# var/cluster, front-ends on 127.0.0.1:8080 and :8081 (pool-size 0) and a
# worker (pool-size 2), the same Plone site; Ctrl-C stops them all.
.PHONY: demo-cluster
demo-cluster: install
	exec $(BIN)/python demo/cluster.py

# buildout.cfg builds the same instance with zc.buildout; versions.cfg gives
# it the versions of constraints.txt.
versions.cfg: constraints.txt
	{ echo "# The versions of constraints.txt, for buildout.cfg."; \
	  echo "# Written by \`make versions.cfg\`: edit constraints.txt, not this file."; \
	  echo "[versions]"; \
	  sed -n -e 's/^\([A-Za-z0-9_.-]*\)==\([^ ;]*\)$$/\1 = \2/p' constraints.txt; \
	} > $@
