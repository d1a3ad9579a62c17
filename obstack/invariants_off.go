//go:build !invariants

package obstack

// invariants is true when built with -tags invariants: every slow path then
// checks the obstack's invariants, and freed memory is filled with poison.
const invariants = false
