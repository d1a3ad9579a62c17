// Package malloc is an off-heap allocator for Go: glibc's malloc family,
// redesigned so that Go programs can keep memory outside the garbage-collected
// heap. (The design essay is being written; see the issue.)
package malloc
