// Command vmkit shows and changes what the page cache holds of files, locks
// files in memory, and lists a process's memory map. See doc.go, or run
// vmkit with no arguments for the list of commands.
package main

import (
	"os"

	"github.com/vmkit/vmkit/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
