package shm

// ParseSysVIPC exposes the /proc/sysvipc/shm parser to the external tests.
var ParseSysVIPC = parseSysVIPC
