# authdoctor — every target installs what a fresh Debian machine with Swift lacks, then builds.
#   make demo   diagnose the sample connections against the local Sandbox (no internet needed)
#   make test   run every test (unit, CLI, rule examples)
#   make bench  the speed benchmarks quoted in closing notes
#   make fuzz   hostile inputs through the real binary for FUZZ_SECONDS (default 60); fails on a crash,
#               a hang past 10 s or a leaked secret, the input kept under fuzz-failures/
SHELL := /bin/bash
SWIFT ?= swift
SYSTEM_PACKAGES := libcurl4-openssl-dev libssl-dev pkg-config openssl ca-certificates libpq-dev libsqlite3-dev postgresql python3
BENCH_PACKAGES := jq python3 hyperfine nginx-light
# The tests only: gdb shows that OpenSSL's exit handler is never registered (HostileInputTests).
TEST_PACKAGES := gdb
# The link flow in a real browser (Tests/browser/link_flow_test.py): headless Chromium through chromedriver.
BROWSER_PACKAGES := chromium chromium-driver python3
DEBUG_BIN := .build/debug/authdoctor
# Debian's python3-selenium serves /usr/bin/python3; a python3 found first on PATH (pyenv, a venv) does not see it.
PYTHON := $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
RELEASE_BIN := .build-static/release/authdoctor

FUZZ_SECONDS ?= 60

.PHONY: deps deps-test deps-bench deps-browser embed build release test test-browser demo classify-demo bench fuzz install clean

# Installs the Debian packages that are missing (nothing when all are there).
deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

# make test installs gdb too (TEST_PACKAGES) through the same loop as deps.
deps-test: SYSTEM_PACKAGES += $(TEST_PACKAGES)
deps-test: deps

deps-bench: deps
	@missing=""; for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

# Chromium, chromedriver and selenium (Debian's python3-selenium, else selenium from PyPI).
deps-browser:
	@missing=""; for p in $(BROWSER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	if ! $(PYTHON) -c 'import selenium' 2>/dev/null; then \
	  echo "installing: selenium"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq python3-selenium >/dev/null 2>&1 || \
	    $(PYTHON) -m pip install -q selenium 2>/dev/null || $(PYTHON) -m pip install -q --break-system-packages selenium; \
	fi

# rules/ and fixtures/ are embedded by a SwiftPM plugin that SwiftPM does not re-run on its own
# when files are added or removed; dropping its output makes the next build embed them afresh.
# SwiftPM 6.3 sometimes plans the first build after that with the old output list and stops with
# "missing inputs"; the second attempt (re-planned, plugin re-run) builds, so builds retry once.
embed:
	@rm -rf .build/plugins/outputs/*/EmbeddedResources .build-static/plugins/outputs/*/EmbeddedResources

build: deps embed
	$(SWIFT) build || $(SWIFT) build

# A release binary with the Swift runtime linked in: starts in a third of the time.
release: deps embed
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static || \
	  $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static

test: deps-test embed
	$(SWIFT) build || $(SWIFT) build
	$(DEBUG_BIN) rules lint
	$(DEBUG_BIN) rules test
	@# Accuracy on the real corpus (docs/RULES.md): the tuning set must stay at 95% or more; the held-out set is only reported.
	@$(DEBUG_BIN) rules score --min 95 fixtures/real/*.jsonl > .build/score-tuning.txt || { cat .build/score-tuning.txt; exit 1; }
	@echo "real corpus, tuning:   $$(sed -n 2p .build/score-tuning.txt)"
	@echo "real corpus, held out: $$($(DEBUG_BIN) rules score fixtures/real/holdout/*.jsonl | sed -n 2p)"
	@echo "real corpus, pending:  $$($(DEBUG_BIN) rules score fixtures/real/pending/*.jsonl | sed -n 2p)"
	@# A throwaway PostgreSQL on 127.0.0.1 for the database diagnosis and PostgreSQL store tests (scripts/pg-test-server.sh).
	@set -e; pgenv=$$(bash scripts/pg-test-server.sh start); eval "$$pgenv"; trap 'bash scripts/pg-test-server.sh stop "$$PGTEST_DIR"' EXIT; \
	  AUTHDOCTOR_PG_TEST_PORT=$$PGTEST_PORT AUTHDOCTOR_PG_TEST_LOADER_PASSWORD=$$PGTEST_LOADER_PASSWORD \
	  AUTHDOCTOR_PG_TEST_READER_PASSWORD=$$PGTEST_READER_PASSWORD AUTHDOCTOR_PG_TEST_BLOCKED_PASSWORD=$$PGTEST_BLOCKED_PASSWORD \
	  AUTHDOCTOR_PG_TEST_PLAINONLY_PASSWORD=$$PGTEST_PLAINONLY_PASSWORD AUTHDOCTOR_PG_TEST_TLSONLY_PASSWORD=$$PGTEST_TLSONLY_PASSWORD \
	  AUTHDOCTOR_PG_TEST_CA_FILE=$$PGTEST_CA_FILE AUTHDOCTOR_PG_TEST_OTHER_CA_FILE=$$PGTEST_OTHER_CA_FILE \
	  AUTHDOCTOR_PG_TEST_STORE_PASSWORD=$$PGTEST_STORE_PASSWORD AUTHDOCTOR_PG_TEST_DIR=$$PGTEST_DIR \
	  $(SWIFT) test --disable-swift-testing
	@# Every command of the README, verbatim, from a copy of the repository root (loopback only; the
	@# ones that need the internet or a running server are listed as skipped, with the reason).
	python3 scripts/readme-commands.py $(DEBUG_BIN)
	$(MAKE) --no-print-directory test-browser
	@# A minute of mutated hostile inputs (responses, HARs, text, batch lines, connections and rule files).
	.build/debug/authdoctor-bench fuzz $(FUZZ_SECONDS) $(DEBUG_BIN)

# The link flow in headless Chromium: issue, open, Start, Connect x2 (Sandbox OAuth), Finish, a second
# browser refused; then the operator console (sign in, overview, a connection, links, paste evidence);
# screenshots of every page under .build/browser-test/ (the folders are printed).
test-browser: deps-browser
	@[ -x $(DEBUG_BIN) ] && [ -x $(DEBUG_BIN)-serve ] || { $(SWIFT) build || $(SWIFT) build; }
	$(PYTHON) Tests/browser/link_flow_test.py $(DEBUG_BIN)
	$(PYTHON) Tests/browser/console_test.py $(DEBUG_BIN)

fuzz: build
	.build/debug/authdoctor-bench fuzz $(FUZZ_SECONDS) $(DEBUG_BIN)

# The PostgreSQL connections of the demo need a local server: started when the postgresql package is there.
demo: build
	@pgenv=$$(bash scripts/pg-test-server.sh start 2>/dev/null) || pgenv=""; eval "$$pgenv"; \
	  if [ -n "$${PGTEST_DIR:-}" ]; then trap 'bash scripts/pg-test-server.sh stop "$$PGTEST_DIR"' EXIT; fi; \
	  AUTHDOCTOR_PG_TEST_PORT=$${PGTEST_PORT:-} AUTHDOCTOR_PG_TEST_LOADER_PASSWORD=$${PGTEST_LOADER_PASSWORD:-} \
	  AUTHDOCTOR_PG_TEST_READER_PASSWORD=$${PGTEST_READER_PASSWORD:-} AUTHDOCTOR_PG_TEST_BLOCKED_PASSWORD=$${PGTEST_BLOCKED_PASSWORD:-} \
	  $(DEBUG_BIN) demo

# Offline classification of real-shaped provider answers from fixtures/.
classify-demo: build
	@bash Benchmarks/classify-demo.sh $(DEBUG_BIN)

bench: deps-bench
	@bash Benchmarks/run.sh

# The release binary, its man page and bash/zsh/fish completions (generated from its help):
# PREFIX=/usr/local by default; DESTDIR for staging (packages).
PREFIX ?= /usr/local
install: release
	bash scripts/install.sh $(RELEASE_BIN) "$(DESTDIR)$(PREFIX)"

clean:
	rm -rf .build .build-static
