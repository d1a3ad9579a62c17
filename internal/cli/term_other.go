//go:build !linux

package cli

import "os"

// isTerminal reports false: progress bars are drawn on Linux only.
func isTerminal(f *os.File) bool { return false }
