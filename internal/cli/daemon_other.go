//go:build !unix

package cli

import "syscall"

// daemonAttr has nothing to set where there are no sessions; lock fails
// there before it gets this far.
func daemonAttr() *syscall.SysProcAttr { return nil }
