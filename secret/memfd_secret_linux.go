//go:build linux && (amd64 || arm64 || riscv64)

package secret

import "golang.org/x/sys/unix"

// memfdSecret is memfd_secret(2), which the kernel has on these
// architectures only.
func memfdSecret(flags int) (int, error) { return unix.MemfdSecret(flags) }
