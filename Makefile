.PHONY: test bench bench-quick

# The README's test command.
test:
	go test ./...

# Every benchmark and load harness of docs/BENCHMARKS.md; rewrites its
# generated summary (about 15 minutes on 2 cores; PostgreSQL and Redis
# as for the tests).
bench:
	go run ./cmd/gatehouse-benchreport

# The same, shorter runs and the small scale sizes (about 5 minutes).
bench-quick:
	go run ./cmd/gatehouse-benchreport -quick
