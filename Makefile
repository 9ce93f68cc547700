# zkd — see README.md. Targets are short enough for CI except where noted.
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 30s

.PHONY: build run test test-short vet fuzz bench bench-table bench-go crash difftest-long sim clean

build:
	$(GO) build -o bin/zkd ./cmd/zkd
	$(GO) build -o bin/zkbench ./cmd/zkbench

# Standalone on 127.0.0.1:2181 with data in ./zkd-data.
run:
	$(GO) run ./cmd/zkd

# The CI suite: vet, then every test with the race detector. Tests against
# Apache ZooKeeper need the Debian packages zookeeper and zookeeper-bin.
test: vet
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	# The client end-to-end suite again, against a follower of a 3-server ensemble.
	ZKD_E2E_ENSEMBLE=1 $(GO) test -race -count=1 -timeout 10m ./netio/

test-short:
	$(GO) test -count=1 -short $(PKGS)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet $(PKGS)

# Every fuzz target for FUZZTIME each (long; not part of test).
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Long campaigns (not part of test).
crash:
	$(GO) test -count=1 -run TestCrashRecovery -timeout 60m ./cmd/zkd/ -args -crash.rounds=300

# The Zab simulation over many seeds (about 3 minutes per 1,000 seeds on
# 2 cores); rerun one failure with -zab.n=N -zab.seed=S as it prints.
SIMSEEDS ?= 1000
sim:
	$(GO) test -count=1 -run TestSimulation -timeout 2h ./broadcast/zab/ -args -zab.seeds=$(SIMSEEDS) -zab.seed0=$$(date +%s)

difftest-long:
	$(GO) test -count=1 -timeout 60m ./tools/difftest/ -args -difftest.seeds=20000

# Go micro-benchmarks of the hot paths.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Side-by-side load test against Apache ZooKeeper (see BENCHMARKS.md).
bench:
	$(GO) run ./cmd/zkbench -target both

# The paper's throughput table (servers x write fractions), zkd and Apache
# ZooKeeper side by side, plus the create/delete latency benchmark; reports
# (Markdown, CSV, JSON, SVG, capacity) go to bench/results. Long: ~20 min.
bench-table:
	$(GO) run ./cmd/zkbench table -warmup 30s -out bench/results
	$(GO) run ./cmd/zkbench latency -out bench/results

clean:
	rm -rf bin zkd-data
