// Command recctl is the administrator's tool for recd.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "recctl: placeholder")
	os.Exit(2)
}
