//go:build linux && race

package cli_test

// Under go test -race the vmkit binary is built with the race detector too,
// so that the parallel walk, the collector and the daemon's pipe run under
// it in every test.
func init() { raceBuild = true }
