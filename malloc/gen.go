package malloc

//go:generate go run ./internal/mksizeclasses -o sizeclasses.go
