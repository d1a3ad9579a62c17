//go:build !linux

package realtime

func thpDisabled() (bool, error) { return true, nil }

func setTHPDisabled(off bool) error { return nil }
