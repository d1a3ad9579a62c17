/*
Vmkit shows and changes what the page cache holds of files, locks files in
memory, and shows a process's memory map. It replaces vmtouch, util-linux
fincore, pcstat and pmap with one binary that tells the truth about
residency and prints JSON. Built with CGO_ENABLED=0 it is static:

	CGO_ENABLED=0 go build -o vmkit ./cmd/vmkit

Usage:

	vmkit                            short help (also vmkit help, -h, --help)
	vmkit help COMMAND               a command's flags (also vmkit COMMAND --help)
	vmkit resident [flags] [PATH...] how much of the files is in the page cache (default path .)
	vmkit touch    [flags] PATH...   read the files into the page cache
	vmkit evict    [flags] PATH...   drop the files from the page cache
	vmkit lock     [flags] PATH...   map and lock the files until SIGTERM, SIGINT or SIGHUP
	vmkit maps     [--json] [PID]    the regions of a process (default: vmkit itself), pmap -x style
	vmkit status   [--json] [PID]    VmSize, VmRSS, VmLck, VmSwap, faults, RLIMIT_MEMLOCK; machine settings
	vmkit report   [--json]          a short report on vmkit's own process

Flags are POSIX style and short flags combine (-fFv); a boolean flag also
takes a value (--json=false). Run 'vmkit help COMMAND' or 'vmkit COMMAND
--help' for a command's flags.

# Walking

resident, touch, evict and lock take files and directories, walk directories
recursively and in parallel, and accept vmtouch's options:

	-f, --follow            follow symbolic links inside directories (links named on the command line are always followed); a file met under several names counts once, under its own name or the smallest link
	-F, --one-file-system   do not cross into other filesystems
	-h, --hard-links        count every hard link (default: each device and inode once, under its smallest path)
	-i, --ignore GLOB       skip files and directories whose name matches (repeatable)
	-I, --include GLOB      only files whose name matches (repeatable)
	-m, --max-size SIZE     skip files larger than SIZE (such as 500M; at least 1 byte)
	-p, --range RANGE       only part of each file: A-B, A-, -B or B (the same as -B), sizes or percentages (such as 10k-50%)
	-b, --batch FILE        more paths from FILE, one a line ('-' for stdin)
	-0, --null              paths in the -b file are separated by NUL bytes
	-v, --verbose           a residency bar per file
	-q, --quiet             print nothing but errors
	    --json              one JSON document
	    --method M          auto (default), cachestat or mincore

A SIZE is a decimal number of bytes (digits, at most one decimal point)
with an optional unit k, m, g, t or p, binary (1k = 1024) and
case-insensitive, which may be followed by B or iB: 4096, 64k, 1.5G, 10MiB.
A fraction of a byte is dropped. Exponents (1e3), hexadecimal (0x10, 0x1p3)
and signs are refused, although vmtouch's strtod takes them. A bound of a
RANGE is a SIZE or a percentage of each file's size (0% to 100%, such as
12.5%); the range is widened to whole pages. -m 0 and a range that ends at
0 (-p 0, -p 0-0, -p 10k-0%) are refused: vmtouch reads 0 there as "no
limit" and "to the end of the file", where vmkit would select nothing; leave
-m out for no limit, and write A- for the rest of each file. A flag given
with an empty value (-p "", -m "" or -b "", as from an unset shell variable)
is refused, never taken as the flag left out. Each of these is a one-line
usage error, exit status 2, that says what form is accepted.

In a -b list a carriage return before each newline is dropped, so that a
list with CRLF line ends (written on Windows, or by such a tool) names its
files, as most line-reading tools take it; empty lines are skipped. With -0
the bytes between NULs are the names, '\r' included.

A path on the command line that cannot be used (missing, unreadable, a FIFO,
socket or device, a file of /proc or /sys) is reported once on stderr and
skipped, and the exit status is 1. Inside a tree, unreadable entries are
reported the same way; special files, symbolic links (without -f), repeated
hard links, directories on pseudo filesystems and directories entered twice
(symlink loops) are skipped and counted. Data goes to stdout; errors and the
progress line (only on a terminal, only after a second) go to stderr.

Exit status: 0 when everything was handled, 1 when something could not be
(the rest was), 2 for a wrong command line.

# Truthful residency

mincore(2) answers truthfully about a file only to its owner, to a process
with CAP_FOWNER, or to one that may write the file; to anyone else it claims
every page is resident (Linux 5.2+, CVE-2019-5489). vmkit detects that case
(cachestat(2) refuses it with EPERM; without cachestat the same rule is
checked by hand) and prints "unknown", or null in JSON, instead of a wrong
100%. Counts come from cachestat (Linux 6.5+), one system call per file;
page sets (-v, --pages) from mmap and mincore. On hugetlbfs the allocated
blocks are the resident pages.

# resident

Prints vmtouch's summary: files, directories, resident pages over total pages,
resident size over total size, and the percentage (0% for empty files, never
NaN). Files whose residency the kernel hides are counted on an "Unknown" line
and left out of the resident figures. -v adds per file the path and a bar of
at most 60 cells, 'O' where every page is resident, 'o' where some are, ' '
where none is, '?' where the kernel will not tell, followed by
resident/total. --pages lists the resident page ranges of every file.

# touch, evict

touch reads every page of the files (16 MiB chunks, 8 readers, pread), then
prints the throughput and the residency after. evict writes dirty pages back
when there are any, drops the files with POSIX_FADV_DONTNEED and prints the
residency actually left: pages locked or mapped by another process stay, as
do those of files on tmpfs or ramfs, which have no other copy.

# lock

Maps every file (MAP_SHARED, read-only), locks it with mlock(2) (or
mlock2(MLOCK_ONFAULT) with --on-fault, which locks the pages cached now and
reads nothing more) and holds the locks until SIGTERM, SIGINT or SIGHUP,
then unlocks and exits 0, or 1 when some file could not be used or locked.
Before locking anything it refuses, naming the numbers and the remedies,
when the total exceeds RLIMIT_MEMLOCK without CAP_IPC_LOCK, or when the
files need more mappings than vm.max_map_count leaves free. A file that
shrank between the walk and its lock is reported as changed ("the file
shrank from A to B bytes since it was listed") and is not locked.

	-d, --daemon        run in the background (a new session); the command returns
	                    once the daemon has passed the checks, with their verdict
	-w, --wait          with -d: return only when everything is locked, with the summary
	                    and the exit status of the locking
	-P, --pidfile FILE  write the locker's process id to FILE (removed at exit)
	    --on-fault      lock with MLOCK_ONFAULT

Without -w, paths that cannot be used are found before the daemon detaches
and make the command exit 1 (the daemon locks the rest); errors that happen
after it detached, while mapping and locking, show only in its exit status.

# JSON

resident, touch, evict and lock print with --json one document:

	{
	  "files": [
	    {"path": "dir/a", "size": 65536, "pages": 16, "resident": 4,
	     "ranges": [{"start": 0, "count": 4}]}
	  ],
	  "summary": {
	    "files": 4, "directories": 2, "size": 487524, "pages": 120, "resident": 58,
	    "unknown": 0, "unknown_pages": 0,
	    "skipped": 3, "skipped_by": {"hard_links": 1, "special": 1, "symlinks": 1},
	    "errors": 0, "page_size": 4096, "method": "cachestat"
	  }
	}

files is sorted by path. A file's "resident" is null when the kernel will not
tell; "pages" counts the pages measured (the part -p selects); "ranges" is
present only with --pages and a known residency. The summary's "resident"
sums the known files and is null when every file is unknown; "unknown" and
"unknown_pages" count the others. "skipped_by" keys are symlinks, special,
hard_links, ignored, too_large, other_filesystems, pseudo_filesystems and
visited. "method" is "cachestat" or "mincore". touch adds "touch": {"bytes",
"seconds", "bytes_per_second"}; evict adds "evict": {"before", "evicted"};
lock adds "lock": {"bytes", "files", "failed", "on_fault", "pid"}, all
inside "summary". lock --daemon prints the document only with --wait; without
it the command prints the daemon's verdict on stderr. These names are a
contract: fields are added, never renamed.

maps --json prints {"pid", "command", "regions": [{"start", "end", "kind", "segment",
"perms", "offset", "dev", "inode", "path", "size", "rss", "pss", "dirty",
"swap", "locked", "anon_huge_pages", "vm_flags"}], "by_kind": [...], "total":
{...}}; status --json and report --json print the figures of their text
output under snake_case names. Sizes are bytes everywhere.
*/
package main
