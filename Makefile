# crishim — build, run and test. `make help` lists the targets.
GO       ?= go
OUT      ?= _output
TAGS     ?= seccomp
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
CONFIG   ?=
# make install / uninstall (hack/install.sh): DESTDIR stages a package tree.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR    ?=
PURGE      ?= 0

SHELL    := /bin/bash
export CGO_ENABLED = 1

.PHONY: help deps build run test unit e2e lint bench clean install uninstall check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install the Debian packages crishim needs (idempotent, quiet when present)
	@bash hack/install-deps.sh

build: ## build $(OUT)/shim and the per-pod monitor $(OUT)/crishim-monitor with -tags seccomp
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(OUT)/shim ./cmd/shim
	$(GO) build -tags $(TAGS) -o $(OUT)/crishim-monitor ./cmd/crishim-monitor

run: deps build ## install deps, build, run the daemon in the foreground (embedded defaults; CONFIG=file to override)
	exec $(OUT)/shim daemon $(if $(CONFIG),--config $(CONFIG))

install: build ## install shim + crishim-monitor in $(PREFIX)/bin, the config (when absent), the systemd unit, CNI plugins
	OUT=$(OUT) DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) bash hack/install.sh install

uninstall: ## remove what install put; pods and state stay unless PURGE=1
	OUT=$(OUT) DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) PURGE=$(PURGE) bash hack/install.sh uninstall

check: build ## preflight: can this host run crishim? (shim check)
	$(OUT)/shim check $(if $(CONFIG),--config $(CONFIG))

test: ## install deps, run unit + root integration tests, then the critest e2e
	@CRISHIM_E2E=1 bash hack/install-deps.sh
	$(MAKE) lint unit e2e

unit: ## unit tests (and, as root, the integration tests next to the code)
	$(GO) test -tags $(TAGS) -count=1 -p 2 -timeout 20m $$($(GO) list ./... | grep -v /test/e2e)

e2e: build ## critest + daemon-level tests against the built daemon, fully offline
	@CRISHIM_E2E=1 bash hack/install-deps.sh
	SHIM_BIN=$(CURDIR)/$(OUT)/shim $(GO) test -tags $(TAGS) -count=1 -timeout 60m -v ./test/e2e/ 2>&1 | tee $(OUT)/e2e.log; exit $${PIPESTATUS[0]}

bench: build ## crishim vs containerd side by side (installs containerd): table + JSON in $(OUT)/bench/
	@CRISHIM_BENCH=1 bash hack/install-deps.sh
	bash hack/bench.sh

lint: ## gofmt + go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...

clean: ## remove build outputs
	rm -rf $(OUT)
