# crishim — build, run and test. `make help` lists the targets.
GO       ?= go
OUT      ?= _output
TAGS     ?= seccomp
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
CONFIG   ?=

SHELL    := /bin/bash
export CGO_ENABLED = 1

.PHONY: help deps build run test unit e2e test-cgroupv2 lint bench clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: ## install the Debian packages crishim needs (idempotent, quiet when present)
	@bash hack/install-deps.sh

build: ## build $(OUT)/shim and the per-pod monitor $(OUT)/crishim-monitor with -tags seccomp
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(OUT)/shim ./cmd/shim
	$(GO) build -tags $(TAGS) -o $(OUT)/crishim-monitor ./cmd/crishim-monitor

run: deps build ## install deps, build, run the daemon in the foreground (embedded defaults; CONFIG=file to override)
	exec $(OUT)/shim daemon $(if $(CONFIG),--config $(CONFIG))

test: ## install deps, run unit + root integration tests, the critest e2e, then the cgroup v2 guest
	@CRISHIM_E2E=1 bash hack/install-deps.sh
	$(MAKE) lint unit e2e
	CGV2_LOCK=0 $(MAKE) test-cgroupv2

unit: ## unit tests (and, as root, the integration tests next to the code)
	$(GO) test -tags $(TAGS) -count=1 -p 2 -timeout 20m $$($(GO) list ./... | grep -v /test/e2e)

e2e: build ## critest + daemon-level tests against the built daemon, fully offline
	@CRISHIM_E2E=1 bash hack/install-deps.sh
	SHIM_BIN=$(CURDIR)/$(OUT)/shim $(GO) test -tags $(TAGS) -count=1 -timeout 60m -v ./test/e2e/ 2>&1 | tee $(OUT)/e2e.log; exit $${PIPESTATUS[0]}

test-cgroupv2: ## root tests on a real cgroup v2 kernel in a QEMU guest (TCG); CGV2_E2E=1 adds critest
	bash hack/cgroupv2.sh

bench: build ## crishim vs containerd side by side (installs containerd): table + JSON in $(OUT)/bench/
	@CRISHIM_BENCH=1 bash hack/install-deps.sh
	bash hack/bench.sh

lint: ## gofmt + go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...

clean: ## remove build outputs
	rm -rf $(OUT)
