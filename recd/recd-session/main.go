// Command recd-session is the recorder that NSS hands out as a recorded user's shell.
//
// This is the foundation's placeholder: it does not record yet; it starts the real shell
// (TLOG_REC_SESSION_SHELL, else /bin/bash) so that a login is never stranded.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	shell := os.Getenv("TLOG_REC_SESSION_SHELL")
	if shell == "" {
		shell = "/bin/bash"
	}
	argv0 := shell
	if len(os.Args[0]) > 0 && os.Args[0][0] == '-' {
		argv0 = "-" + filepath.Base(shell)
	}
	os.Setenv("SHELL", shell)
	args := append([]string{argv0}, os.Args[1:]...)
	err := syscall.Exec(shell, args, os.Environ())
	fmt.Fprintf(os.Stderr, "recd-session: cannot start %s: %v\n", shell, err)
	os.Exit(127)
}
