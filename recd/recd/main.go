// Command recd is the recording daemon: the only writer of recordings to the journal,
// owner of the session locks and the place where policy reloads happen.
//
// This is the foundation's placeholder; the daemon lands with the recorder issue.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "recd: the daemon is not implemented yet in this build")
	os.Exit(1)
}
