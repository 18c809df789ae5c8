# CodeExec. `make run` and `make test` do all the set-up on a machine with Docker.
CONFIG ?= config.yaml
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build images run test test-unit test-integration vet clean bench runsc

all: build

build: bin/codeexec bin/codeexec-agent

bin/codeexec: FORCE
	$(GO) build -o $@ ./cmd/codeexec

# The agent runs inside the sandbox images: static, so it works on any base.
bin/codeexec-agent: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./cmd/codeexec-agent

images: build
	bash images/build.sh $(CONFIG)

run: build images
	bin/codeexec -config $(CONFIG)

vet:
	$(GO) vet ./...

test: build images runsc test-unit test-integration

test-unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Real engine, real containers, real HTTP (build tag integration). The execution log's tests
# also run bin/ferretdb, a real MongoDB wire protocol server.
test-integration: bin/ferretdb
	$(GO) test -tags integration -count=1 -timeout 15m ./e2e/...

# gVisor: installs runsc from Debian and registers it with the Docker engine as the runtime
# "runsc" (reloading dockerd); idempotent. Needed for pool.runtime: runsc (SECURITY.md "gVisor")
# and for the runsc suite of `make test`.
runsc:
	bash tools/runsc/setup.sh

# Latency and throughput report (bench/README.md): starts its own server, ~6 minutes, writes
# bench/results/latest/{report.md,report.json,chart.svg}. BENCH_FLAGS passes options (-runs 50).
bench: build images runsc
	$(GO) run ./bench -config $(CONFIG) $(BENCH_FLAGS)

# FerretDB v1.24.2 with its SQLite backend (tools/ferretdb: its own module, so the server does
# not depend on it): `bin/ferretdb -listen 127.0.0.1:27017 -dir DATA` serves DB=mongodb://127.0.0.1:27017/codeexec.
bin/ferretdb: FORCE
	cd tools/ferretdb && $(GO) build -o ../../bin/ferretdb .

clean:
	rm -rf bin

FORCE:
