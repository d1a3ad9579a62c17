package cli

func runMaps(e *env, args []string) int   { return 0 }
func runStatus(e *env, args []string) int { return 0 }
func runReport(e *env, args []string) int { return 0 }
