//go:build !linux

package realtime

func thpDisabled() (bool, error) { return true, nil }

func setTHPDisabled(off bool) error { return nil }

// availableMemory is unknown here: Prepare does not check HeapBytes.
func availableMemory() (int64, error) { return -1, nil }
