//go:build unix

package cli

import "syscall"

// daemonAttr starts the daemon in a session of its own, detached from the
// terminal.
func daemonAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
