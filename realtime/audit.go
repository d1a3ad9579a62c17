package realtime

// A Finding is a system setting that can still make a locked section fault.
type Finding struct {
	// Setting is the sysctl or sysfs file, such as
	// "/proc/sys/vm/compact_unevictable_allowed".
	Setting string
	// Value is what it holds now.
	Value string
	// Advice says what it does and what to set instead.
	Advice string
}

// String reads like "/proc/sys/vm/compact_unevictable_allowed = 1: ...".
func (f Finding) String() string { return f.Setting + " = " + f.Value + ": " + f.Advice }
