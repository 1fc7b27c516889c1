package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PAMTestPath is where `make install` (PREFIX=/usr) puts recd-pam-test, the helper that runs
// a real PAM session for `recctl test-login`.
//
// recctl cannot do that itself: it is a static binary built with CGO_ENABLED=0 (one build
// runs on every supported system, CentOS 7 included), and running a PAM session needs the
// system's libpam through cgo (github.com/msteinert/pam/v2). So that part is the small cgo
// program ctl/recd-pam-test, built against libpam on the target system and installed with
// pam_recd.so; recctl execs it and passes its output and exit status through.
const PAMTestPath = "/usr/libexec/recd/recd-pam-test"

// pamTestPath is PAMTestPath, or PREFIX/libexec/recd/recd-pam-test when recctl itself runs
// from PREFIX/bin and the helper is there (make install PREFIX=/usr/local).
func pamTestPath() string {
	exe, err := os.Executable()
	if err != nil {
		return PAMTestPath
	}
	p := filepath.Join(filepath.Dir(filepath.Dir(exe)), "libexec", "recd", "recd-pam-test")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return PAMTestPath
}

func (a *App) cmdTestLogin(fs *flag.FlagSet, args []string) int {
	// Flags may also follow the user: recctl test-login alice --service su.
	var users []string
	for len(args) > 0 {
		if !strings.HasPrefix(args[0], "-") || args[0] == "-" {
			users = append(users, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			return a.errorf("test-login: %v", err)
		}
		args = fs.Args()
	}
	if len(users) != 1 {
		return a.errorf("test-login: name exactly one user (recctl test-login USER [--service NAME])")
	}
	helper := a.PAMTestPath
	if helper == "" {
		helper = PAMTestPath
	}
	if _, err := os.Stat(helper); errors.Is(err, os.ErrNotExist) {
		return a.errorf("test-login: %s is missing. It runs the PAM session for recctl (which is static, "+
			"without libpam) and is installed with pam_recd.so: run `make install` in the recd source tree "+
			"(it builds build/recd-pam-test with cgo and libpam's headers, libpam0g-dev or pam-devel), "+
			"or install the recd package that provides pam_recd.so", helper)
	} else if err != nil {
		return a.errorf("test-login: %v", err)
	}
	hargs := []string{"--service", fs.Lookup("service").Value.String()}
	if dir := fs.Lookup("confdir").Value.String(); dir != "" {
		hargs = append(hargs, "--confdir", dir)
	}
	cmd := exec.Command(helper, append(hargs, "--", users[0])...)
	cmd.Stdout, cmd.Stderr = a.Stdout, a.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee) && ee.ExitCode() == ExitNegative:
		return ExitNegative
	case errors.As(err, &ee):
		if ee.ExitCode() < 0 {
			fmt.Fprintf(a.Stderr, "recctl: test-login: %s: %v\n", helper, err)
		}
		return ExitUsage
	default:
		return a.errorf("test-login: running %s: %v", helper, err)
	}
}
