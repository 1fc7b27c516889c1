package sysconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Runner runs a program of the host (pam-auth-update, authselect, systemctl, semodule) and
// returns its combined output and exit status. err is set only when the program could not
// be run at all (not found, killed, timed out); a non-zero exit is reported in code.
type Runner func(env []string, name string, args ...string) (out string, code int, err error)

// commandTimeout bounds every program recctl runs.
const commandTimeout = 2 * time.Minute

// ExecRunner runs programs on the running system, with a clean PATH and env added to
// recctl's environment.
func ExecRunner(env []string, name string, args ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return buf.String(), 0, nil
	case errors.As(err, &ee) && ee.ExitCode() >= 0 && ctx.Err() == nil:
		return buf.String(), ee.ExitCode(), nil
	case ctx.Err() != nil:
		return buf.String(), -1, fmt.Errorf("%s did not finish within %s", name, commandTimeout)
	}
	return buf.String(), -1, err
}

// NoRunner refuses to run anything: the runner for a --root tree, whose programs must not
// run against the machine's own files.
func NoRunner(_ []string, name string, args ...string) (string, int, error) {
	return "", -1, fmt.Errorf("cannot run %q on a --root tree (it would act on this machine)",
		strings.TrimSpace(name+" "+strings.Join(args, " ")))
}

// CommandLine renders a command for messages.
func CommandLine(env []string, argv []string) string {
	parts := append([]string{}, env...)
	for _, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\;&|<>*?()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
