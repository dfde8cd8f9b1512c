//go:build race

package dashboard_test

// raceSlowdown scales the latency bounds of tests: the race detector makes
// CPU-bound code (argon2id above all) several times slower.
const raceSlowdown = 3
