package cli

const daemonEnv = "VMKIT_LOCK_DAEMON"

func runLock(e *env, args []string) int            { return 0 }
func runLockDaemonChild(e *env, args []string) int { return 0 }
func runMaps(e *env, args []string) int            { return 0 }
func runStatus(e *env, args []string) int          { return 0 }
func runReport(e *env, args []string) int          { return 0 }
