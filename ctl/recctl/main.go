// Command recctl is the administrator's tool for recd: it shows and edits
// the recording policy, says whether a user is recorded and imports SSSD's
// session recording configuration. Run `recctl --help` for usage.
package main

import (
	"os"

	"github.com/recd-dev/recd/ctl/internal/cli"
)

func main() {
	os.Exit(cli.New().Run(os.Args[1:]))
}
