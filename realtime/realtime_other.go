//go:build !linux

package realtime

func disableTHP() error { return nil }
