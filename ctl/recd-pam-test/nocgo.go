//go:build !(linux && cgo)

// Command recd-pam-test needs cgo and libpam (see main.go); without them it only says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "recd-pam-test: built without cgo; rebuild with CGO_ENABLED=1 and libpam's headers (make)")
	os.Exit(2)
}
