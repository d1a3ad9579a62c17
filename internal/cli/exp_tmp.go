//go:build linux

package cli

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vmkit/vmkit/internal/pagecache"
)

func envInt(k string, d int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return d
}

var expMode = os.Getenv("VMKIT_TOUCH_MODE")

func expRead(fd int, off, n int64, buf []byte) (int64, error) {
	switch expMode {
	case "populate":
		b, err := unix.Mmap(fd, off, int(n), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return 0, err
		}
		err = unix.Madvise(b, unix.MADV_POPULATE_READ)
		unix.Munmap(b)
		return n, err
	case "willneed":
		unix.Fadvise(fd, off, n, unix.FADV_WILLNEED)
		return pagecache.ReadSpan(fd, off, n, buf)
	case "seq":
		unix.Fadvise(fd, off, n, unix.FADV_SEQUENTIAL)
		return pagecache.ReadSpan(fd, off, n, buf)
	}
	return pagecache.ReadSpan(fd, off, n, buf)
}
