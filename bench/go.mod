module github.com/vmkit/vmkit/bench

go 1.26.0

require (
	github.com/vmkit/vmkit v0.0.0
	golang.org/x/sys v0.49.0
)

replace github.com/vmkit/vmkit => ..
