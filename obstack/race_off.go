//go:build !race

package obstack

// raceEnabled is true in builds with the race detector; see blockSize.
const raceEnabled = false
