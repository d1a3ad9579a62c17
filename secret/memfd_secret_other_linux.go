//go:build linux && !(amd64 || arm64 || riscv64)

package secret

import "golang.org/x/sys/unix"

// memfdSecret reports ENOSYS: the kernel has no memfd_secret(2) on this
// architecture, and buffers asking for it get the same error as on a kernel
// without it.
func memfdSecret(flags int) (int, error) { return -1, unix.ENOSYS }
