module github.com/vmkit/vmkit/bench

go 1.26.0

require (
	github.com/vmkit/vmkit v0.0.0
	golang.org/x/sys v0.49.0
	modernc.org/memory v1.12.1
)

require (
	github.com/awnumar/memcall v0.4.0 // indirect
	github.com/awnumar/memguard v0.23.0
	golang.org/x/crypto v0.58.0 // indirect
)

replace github.com/vmkit/vmkit => ..
