# The everyday commands. CI runs .ci/run, which sets up PostgreSQL and
# Chromium on a fresh machine first and then runs what `make ci` runs.
PG ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
STATICCHECK = go run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test test-short test-pg lint bench ci reliability fuzz

run:  ## the server on http://127.0.0.1:8080 with SQLite in ./linkd-data
	go run ./cmd/linkd serve

test:  ## every test, SQLite only unless LINKD_TEST_POSTGRES_URL is set
	go test ./...

test-short:  ## the quick loop: no browser, kill -9 or volume tests
	go test -short ./...

test-pg:  ## every test on SQLite and PostgreSQL, with the race detector
	LINKD_TEST_POSTGRES_URL='$(PG)' go test -race -count=1 ./...

lint:
	go mod tidy -diff
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	$(STATICCHECK) ./...

bench:  ## every benchmark; figures go to docs/BENCHMARKS.md
	go run ./bench

ci:
	.ci/run

reliability:  ## the reliability suite at full length (docs/RELIABILITY.md), SQLite and PostgreSQL
	LINKD_TEST_LONG=1 LINKD_TEST_POSTGRES_URL='$(PG)' go test -count=1 -timeout 60m \
		-run 'Kill9|Survive|Backup|KeyRotate|Upgrade|InstancesStart|Reliability' ./cmd/linkd ./sqlite ./postgres

fuzz:  ## every fuzz target for FUZZTIME each (default 3000x: 3,000 inputs)
	.ci/fuzz
