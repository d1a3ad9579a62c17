package cli

// SetTestHookBeforeLock makes lock run fn between its walk and its locking,
// until the returned function restores the previous hook.
func SetTestHookBeforeLock(fn func()) (restore func()) {
	old := testHookBeforeLock
	testHookBeforeLock = fn
	return func() { testHookBeforeLock = old }
}
