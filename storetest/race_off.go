//go:build !race

package storetest

// raceDetector tells whether the race detector is on: it slows the
// transpiled SQLite some fiftyfold, so volume tests run smaller under it
// (CI runs them full size without it as well).
const raceDetector = false
