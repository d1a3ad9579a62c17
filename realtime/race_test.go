//go:build race

package realtime_test

// raceEnabled: the race detector maps its shadow memory and its own
// metadata lazily, on first touch, where no Prepare can reach.
const raceEnabled = true
