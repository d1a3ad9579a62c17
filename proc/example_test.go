package proc_test

import (
	"fmt"
	"strings"

	"github.com/vmkit/vmkit/proc"
)

func ExampleParseSmaps() {
	text := `00400000-004ab000 r-xp 00000000 fe:00 9978272    /usr/bin/prog
004ab000-004b0000 rw-p 000ab000 fe:00 9978272    /usr/bin/prog
004b0000-004c0000 rw-p 00000000 00:00 0 
Size:                 64 kB
Rss:                   8 kB
VmFlags: rd wr mr mw me ac 
7ffee5943000-7ffee5964000 rw-p 00000000 00:00 0  [stack]
`
	regions, err := proc.ParseSmaps(strings.NewReader(text))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range regions {
		fmt.Printf("%x-%x %s %-5s %q\n", r.Start, r.End, r.Perms, r.Kind, r.Path)
	}
	fmt.Println("rss of all:", proc.Total(regions).Rss)
	// Output:
	// 400000-4ab000 r-xp text  "/usr/bin/prog"
	// 4ab000-4b0000 rw-p data  "/usr/bin/prog"
	// 4b0000-4c0000 rw-p bss   ""
	// 7ffee5943000-7ffee5964000 rw-p stack "[stack]"
	// rss of all: 8192
}

func ExampleParseStat() {
	s, err := proc.ParseStat([]byte("3791 (a) b (c)) S 3744 3744 2730 0 -1 4194304 134 0 0 0 0 0 0 0 20 0 1 0 34043 2990080 424 18446744073709551615"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q minflt=%d majflt=%d\n", s.Comm, s.MinFlt, s.MajFlt)
	// Output: "a) b (c)" minflt=134 majflt=0
}
