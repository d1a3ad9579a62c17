package realtime_test

import (
	"fmt"
	"log"

	"github.com/vmkit/vmkit/realtime"
)

// Prepare once, at start-up; then run each deadline-bound step through Run
// and check that it took no page fault. (Not run as a test: Prepare locks
// the whole process. TestPreparedSectionTakesNoFaults runs it in a child.)
func ExamplePrepare() {
	err := realtime.Prepare(realtime.Options{
		StackBytes: 256 << 10, // the section's deepest call chain fits in this
		HeapBytes:  64 << 20,  // and its allocations in this
		GCPercent:  -1,        // no collection while the deadline runs
	})
	if err != nil {
		log.Fatal(err) // names RLIMIT_MEMLOCK, the process size and the remedies
	}
	defer realtime.Release()

	faults, err := realtime.Run(func() {
		// the time-critical work
	})
	if err != nil {
		log.Fatal(err)
	}
	if faults.Minor+faults.Major > 0 {
		log.Printf("section took %v page faults: enlarge the reserves", faults)
	}
}

// Options are checked before anything is locked.
func ExampleOptions_Validate() {
	fmt.Println(realtime.Options{}.Validate())
	fmt.Println(realtime.Options{GCPercent: -3}.Validate())
	// Output:
	// <nil>
	// realtime: GCPercent -3: give 0 to leave the GC alone, -1 to turn it off, or a percentage
}
