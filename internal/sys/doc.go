// Package sys holds the raw Linux system calls that golang.org/x/sys/unix
// lacks: mincore(2), mlock2(2) and brk(2), and the one runtime fact vmkit needs
// (whether the binary runs with cgo, which decides who owns the program break).
//
// It is the only package in vmkit that issues unix.Syscall directly; every
// other package goes through golang.org/x/sys/unix or through this one. Each
// function here is a thin, allocation-free wrapper: callers do the page
// rounding, the validation and the error wrapping.
package sys
