// Package cli is the vmkit command: cmd/vmkit/main.go calls Main, and the
// tests run the built binary. The user's documentation is cmd/vmkit/doc.go;
// this is the design.
//
// # Structures
//
// Main dispatches to one function per subcommand, each with its own pflag
// set (POSIX flags, combined shorts). An env carries the three streams; its
// mutex serialises stderr, where errors, warnings and the progress line
// meet. The walking commands (resident, touch, evict, lock) share
// walkFlags, which turn into pagecache.Options and the list of roots, and a
// collector, which sums the results of the concurrent visits with atomics
// and keeps a fileReport per file only when something will list files
// (--json, -v, --pages). The JSON document and its field names live in
// output.go and are a contract.
//
// # The commands, as steps
//
//  1. resident: one parallel walk; each file is measured where it is found
//     (cachestat, or mincore when a page set is needed).
//  2. evict: one walk; each file is measured, written back if it has dirty
//     pages, dropped with POSIX_FADV_DONTNEED and measured again, so the
//     report is of what actually left.
//  3. touch: a walk that only collects the files, then reading in chunks of
//     16 MiB by 8 workers (a large file is read by several at once, and the
//     totals give the progress line an ETA), then a measurement of each file.
//  4. lock: the collecting walk, the up-front checks (RLIMIT_MEMLOCK against
//     the total unless CAP_IPC_LOCK; vm.max_map_count against the number of
//     files plus the mappings the process has), then mapping and locking in
//     parallel, a measurement, the summary, and the wait for a signal. With
//     -d the same binary is started again in a new session as the daemon;
//     until it is ready it sends what it prints and its verdict to the parent
//     through a pipe (daemon.go), so refusals reach the user's terminal and
//     exit status.
//  5. maps, status, report: read package proc and mem and print; report's
//     round trip maps 1 MiB, locks it, reads Resident and VmLck, unlocks and
//     closes it.
//
// Errors about single paths are printed as they happen and counted; the
// exit status is 1 when any happened. Command-line mistakes are one line on
// stderr and exit status 2. Main watches every write to stdout: output that
// did not arrive (a full disk) is reported once and makes the status 1.
package cli
