// The examples are programs that e2e sends to the server one at a time (one is a compile error):
// this file keeps them out of the repository module's `go build ./...` and `go vet ./...`.
module examples

go 1.19
