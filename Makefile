# canary-guard. Everything the targets need is built from pinned Go modules
# into bin/ (git-ignored) and rebuilt only when a pin changes.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

BIN := $(CURDIR)/bin
export GOWORK := off

# Pinned tool versions.
OPA_VERSION := v1.22.3
GOLANGCI_LINT_VERSION := v2.15.0
HELM_VERSION := v3.19.5
# The Kubernetes version helm assumes where no cluster is asked (helm
# template, helm lint): its release builds take it from the client-go they
# are built with (v0.34 for helm v3.19.5); a plain go install says 1.20.
HELM_KUBE_VERSION := 1.34
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da

# Versioned names: changing a pin builds the new version.
OPA := $(BIN)/opa-$(OPA_VERSION)
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM := $(BIN)/helm-$(HELM_VERSION)-k8s$(HELM_KUBE_VERSION)
BENCHSTAT := $(BIN)/benchstat-$(BENCHSTAT_VERSION)
CANARY_GUARD := $(BIN)/canary-guard

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Unit tests: every package but the end-to-end suite, which needs the
# control-plane binaries (make e2e).
UNIT_PACKAGES = $(shell go list ./... | grep -v /e2e)

.PHONY: build
build: ## Build bin/canary-guard.
	go build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(CANARY_GUARD) ./cmd/canary-guard

.PHONY: demo
demo: build envtest-assets $(HELM) ## Walk through a guarded canary rollout on a local control plane (KEEP=1 leaves it running).
	go run ./e2e/demo --repo $(CURDIR) $(if $(KEEP),--keep)

.PHONY: test
test: test-unit test-rego e2e ## Run every test: Go unit tests, Rego tests and the end-to-end suite.

.PHONY: test-unit
test-unit: envtest-assets $(HELM) ## Go unit tests (with the Rego tests; the certificate tests run on a real API server).
	@# One package at a time: the fault tests (bench/faults) load a server and
	@# count requests that fall behind, and a control plane the certificate
	@# tests start beside them on two cores stalled it for over a second.
	go test -count=1 -p 1 $(UNIT_PACKAGES)

.PHONY: e2e
e2e: build envtest-assets $(HELM) ## End-to-end tests on a real kube-apiserver with KServe's controller.
	go test -count=1 -timeout 30m ./e2e/...

.PHONY: test-rego
test-rego: $(OPA) build ## Rego unit tests of the bundle and of each example, and the examples' verify suites.
	$(OPA) test rego/canary_guard.rego rego/canary_guard_test.rego
	@for d in rego/examples/*; do \
		echo "opa test rego/canary_guard.rego $$d"; $(OPA) test rego/canary_guard.rego $$d || exit 1; \
		if [[ -f $$d/suite.yaml ]]; then $(CANARY_GUARD) verify $$d/suite.yaml || exit 1; fi; \
	done

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet, golangci-lint and opa check.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$unformatted" ]]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...
	$(MAKE) --no-print-directory $(OPA)
	$(OPA) check --strict rego/canary_guard.rego rego/canary_guard_test.rego
	@for d in rego/examples/*/; do $(OPA) check --strict rego/canary_guard.rego $$d || exit 1; done

.PHONY: bench
bench: ## Every benchmark: Go benchmarks, load against the no-op baseline, API-server latency (docs/performance.md).
	@status=0; for target in bench-go bench-load bench-apiserver; do \
		$(MAKE) --no-print-directory $$target || status=1; \
	done; exit $$status

.PHONY: bench-go
bench-go: ## Go benchmarks of the request path (bin/bench.txt; compare runs with benchstat).
	@mkdir -p bin
	go test -run '^$$' -bench . -benchmem -count=6 ./policy/ ./webhook/ | tee bin/bench.txt

OLD ?= bin/bench-old.txt

.PHONY: benchstat
benchstat: $(BENCHSTAT) ## Compare two bench-go runs: OLD (default bin/bench-old.txt) against bin/bench.txt.
	$(BENCHSTAT) $(OLD) bin/bench.txt

SOAK ?= 5m
ROUNDS ?= 4
FIXED_ROUNDS ?= 5

.PHONY: bench-load
bench-load: build ## Load canary-guard serve and the no-op baseline over HTTPS; check the targets (ROUNDS: alternated maximum-throughput runs, default 4; SOAK: continuous fixed-rate run, default 5m; FIXED_ROUNDS: alternated 30-s fixed-rate runs, default 5).
	go build -o $(BIN)/bench-noop ./bench/noop
	go run ./bench/loadtest --guard $(CANARY_GUARD) --noop $(BIN)/bench-noop --rounds $(ROUNDS) --soak $(SOAK) --fixed-rounds $(FIXED_ROUNDS) --out $(BIN)/bench-load.md

.PHONY: bench-apiserver
bench-apiserver: build envtest-assets $(HELM) ## InferenceService update latency on the local API server, with and without canary-guard.
	go build -o $(BIN)/bench-noop ./bench/noop
	@status=0; for update in annotation scaling spec pod-annotation step; do \
		go run ./bench/apiserver --repo $(CURDIR) --noop $(BIN)/bench-noop --update $$update --out $(BIN)/bench-apiserver-$$update.md || status=1; \
	done; exit $$status

FUZZTIME ?= 30s
# Go minimises each input that finds new coverage for up to 60 s by
# default; with handlers that take a millisecond a run, that spent the
# whole FUZZTIME minimising (34 runs in 30 s against about 3,000 at 3 s).
FUZZMINIMIZETIME ?= 3s
FUZZ = go test -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME)

.PHONY: fuzz
fuzz: ## Run each Go fuzz target for FUZZTIME (default 30s), minimising new inputs for FUZZMINIMIZETIME (3s); crashes land in testdata/fuzz.
	$(FUZZ) -fuzz '^FuzzBuildFacts$$' ./policy/
	$(FUZZ) -fuzz '^FuzzOnlyPercentsDiffer$$' ./policy/
	$(FUZZ) -fuzz '^FuzzValidateHandler$$' ./webhook/
	$(FUZZ) -fuzz '^FuzzMutateHandler$$' ./webhook/
	$(FUZZ) -fuzz '^FuzzRawSpecFacts$$' ./webhook/
	$(FUZZ) -fuzz '^FuzzParseSecretAndDecide$$' ./certs/

$(OPA):
	@echo "==> building opa $(OPA_VERSION) into bin/ (first build takes a few minutes)" >&2
	GOBIN=$(BIN)/.build-opa go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	mv $(BIN)/.build-opa/opa $@

$(GOLANGCI_LINT):
	@echo "==> building golangci-lint $(GOLANGCI_LINT_VERSION) into bin/ (first build takes a few minutes)" >&2
	GOBIN=$(BIN)/.build-golangci-lint go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.build-golangci-lint/golangci-lint $@

$(BENCHSTAT):
	GOBIN=$(BIN)/.build-benchstat go install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)
	mv $(BIN)/.build-benchstat/benchstat $@

$(HELM):
	@echo "==> building helm $(HELM_VERSION) into bin/ (first build takes a few minutes)" >&2
	GOBIN=$(BIN)/.build-helm go install -ldflags "-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) $(foreach p,chartutil lint/rules,\
		-X helm.sh/helm/v3/pkg/$(p).k8sVersionMajor=$(word 1,$(subst ., ,$(HELM_KUBE_VERSION))) \
		-X helm.sh/helm/v3/pkg/$(p).k8sVersionMinor=$(word 2,$(subst ., ,$(HELM_KUBE_VERSION))))" \
		helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.build-helm/helm $@

.PHONY: tools
tools: $(OPA) $(GOLANGCI_LINT) $(HELM) ## Build the pinned tools into bin/.

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd, kubectl and the KServe manager into bin/.
	hack/envtest-assets.sh

.PHONY: clean
clean: ## Remove build outputs (keeps the cached tool builds).
	rm -f $(CANARY_GUARD) $(BIN)/bench-noop $(BIN)/bench.txt $(BIN)/bench-load.md $(BIN)/bench-apiserver-*.md

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
