# CodeExec. `make run` and `make test` do all the set-up on a machine with Docker.
CONFIG ?= config.yaml
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build images push-images run test test-unit test-integration vet clean bench bench-ab runsc

all: build

build: bin/codeexec bin/codeexec-agent

bin/codeexec: playground/static/app.js FORCE
	$(GO) build -o $@ ./cmd/codeexec

# The browser playground (GET /): CodeMirror 6 and esbuild, pinned by package-lock.json, bundled
# into playground/static/app.js, which the server embeds.
playground/static/app.js: playground/web/node_modules playground/web/src/main.js
	cd playground/web && npm run --silent build

playground/web/node_modules: playground/web/package.json playground/web/package-lock.json
	cd playground/web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The agent runs inside the sandbox images: static, so it works on any base.
bin/codeexec-agent: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./cmd/codeexec-agent

images: build
	bash images/build.sh $(CONFIG)

# Pushes every configured language's image (built by make images) to REGISTRY, where workers
# with pool.registry set pull what they lack.
push-images:
	@test -n "$(REGISTRY)" || { echo "usage: make push-images REGISTRY=host:port"; exit 2; }
	bin/codeexec -config $(CONFIG) -list-images | while read -r name image; do \
	  docker tag "$$image" "$(REGISTRY)/$$image" && docker push "$(REGISTRY)/$$image" || exit 1; \
	done

run: build images
	bin/codeexec -config $(CONFIG)

vet:
	$(GO) vet ./...

test: build images runsc test-unit test-integration

test-unit: playground/static/app.js
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Real engine, real containers, real HTTP (build tag integration). The execution log's tests
# also run bin/ferretdb, a real MongoDB wire protocol server; the live sessions' tests a Node
# client (e2e/node); the playground's a headless Chromium (Debian's chromium, driven by chromedp).
test-integration: bin/ferretdb bin/nats-server e2e/node/node_modules playground/static/app.js
	$(GO) test -tags integration -count=1 -timeout 30m ./e2e/...

# gVisor: installs runsc from Debian and registers it with the Docker engine as the runtime
# "runsc" (reloading dockerd); idempotent. Needed for pool.runtime: runsc (SECURITY.md "gVisor")
# and for the runsc suite of `make test`.
runsc:
	bash tools/runsc/setup.sh

# The Node clients of the e2e tests (the ws package, pinned by package-lock.json).
e2e/node/node_modules: e2e/node/package.json e2e/node/package-lock.json
	cd e2e/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Latency and throughput report (bench/README.md): starts its own server, ~6 minutes, writes
# bench/results/latest/{report.md,report.json,chart.svg}. BENCH_FLAGS passes options (-runs 50).
# Then the job queue's cost and the coordinator's ceiling (bench/queue, ~1 minute):
# bench/results/queue/report.md.
bench: build images runsc
	$(GO) run ./bench -config $(CONFIG) $(BENCH_FLAGS)
	$(GO) run ./bench/queue -config $(CONFIG)

# The same bench with a second server built from BASE beside ours, measured interleaved in the one
# run (issues 12 and 20: "against the commit before"). BASE's server and agent are built in a
# temporary git worktree, removed afterwards; the agent must be BASE's, as the protocol changes.
# Writes bench/results/ab-<date>/ unless BENCH_FLAGS gives -out.
BASE ?= f0c3f00
bench-ab: build images
	@set -e; tmp=$$(mktemp -d); \
	trap 'git worktree remove --force "$$tmp/src" 2>/dev/null || true; rm -rf "$$tmp"' EXIT; \
	name=$$(git rev-parse --short "$(BASE)^{commit}"); \
	git worktree add --detach "$$tmp/src" "$$name" >/dev/null; \
	(cd "$$tmp/src" && $(GO) build -o "$$tmp/codeexec" ./cmd/codeexec && \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o "$$tmp/codeexec-agent" ./cmd/codeexec-agent); \
	$(GO) run ./bench -config $(CONFIG) -out bench/results/ab-$$(date -u +%Y-%m-%d) \
		-baseline-server "$$tmp/codeexec" -baseline-agent "$$tmp/codeexec-agent" -baseline-name "$$name" $(BENCH_FLAGS)

# FerretDB v1.24.2 with its SQLite backend (tools/ferretdb: its own module, so the server does
# not depend on it): `bin/ferretdb -listen 127.0.0.1:27017 -dir DATA` serves DB=mongodb://127.0.0.1:27017/codeexec.
bin/ferretdb: FORCE
	cd tools/ferretdb && $(GO) build -o ../../bin/ferretdb .

# The real NATS server for the queue's cluster tests (role all embeds the same server; a
# multi-host setup runs three of these: README "Scaling out").
NATS_SERVER_VERSION = v2.15.2
bin/nats-server:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

clean:
	rm -rf bin playground/static/app.js

FORCE:
