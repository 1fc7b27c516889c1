//go:build linux && cgo

// Command recd-pam-test runs one real PAM session for a user, as a login program would
// (pam_start, pam_acct_mgmt, pam_open_session, pam_close_session, pam_end, with no
// authentication step), prints the PAM environment the session stack yields and says
// whether the login would be recorded. `recctl test-login` runs it.
//
// Why a separate program: recctl is a static binary built with CGO_ENABLED=0, so one build
// runs on every supported system from CentOS 7 on. Running a PAM session needs libpam, that
// is cgo (github.com/msteinert/pam/v2) and the system's own libpam.so.0 at run time. So the
// PAM part lives here, built with CGO_ENABLED=1 on (or for) the target system and installed
// next to pam_recd.so's other files as PREFIX/libexec/recd/recd-pam-test; recctl execs it.
//
// Usage:
//
//	recd-pam-test [--service NAME] [--confdir DIR] [--tty TTY] [--rhost HOST] USER
//
// --confdir reads the service from DIR instead of /etc/pam.d (pam_start_confdir, Linux-PAM
// 1.4 and later); --tty and --rhost set PAM_TTY and PAM_RHOST as sshd or login would.
// Exit status: 0 the login would be recorded, 1 it would not, 2 error. Must run as root.
package main

/*
#include <pwd.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

// shell_of returns a malloc'd copy of name's shell as the system's NSS gives it (so through
// libnss_recd when nsswitch.conf lists it), or NULL with *err set (0: no such user).
static char *shell_of(const char *name, int *err) {
	struct passwd pw, *res = NULL;
	size_t len = 4096;
	for (;;) {
		char *buf = malloc(len);
		if (!buf) { *err = ENOMEM; return NULL; }
		int r = getpwnam_r(name, &pw, buf, len, &res);
		if (r == ERANGE && len < (1u << 20)) { free(buf); len *= 2; continue; }
		char *out = NULL;
		*err = r;
		if (r == 0 && res)
			out = strdup(pw.pw_shell ? pw.pw_shell : "");
		free(buf);
		return out;
	}
}
*/
import "C"

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"unsafe"

	"github.com/msteinert/pam/v2"

	"github.com/recd-dev/recd/internal/snapshot"
)

// Exit codes, as recctl test-login documents them.
const (
	exitRecorded    = 0
	exitNotRecorded = 1
	exitError       = 2
)

// init locks the main goroutine, which runs every PAM call, to the process's main thread.
// PAM modules act on the process through /proc/self as if it had one thread:
// pam_loginuid writes /proc/self/loginuid, and the kernel takes that write only from the
// thread group's leader (EPERM from any other thread), so the sshd stack failed with
// "Cannot make/remove an entry for the specified session" whenever Go had moved the
// goroutine to another thread, which it does more often on a busy machine.
func init() { runtime.LockOSThread() }

func main() {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "recd-pam-test: must be run as root (you are uid %d)\n", os.Geteuid())
		os.Exit(exitError)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, snapshot.Path))
}

// shellOf returns name's login shell through the system's NSS.
func shellOf(name string) (string, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var cerr C.int
	out := C.shell_of(cs, &cerr)
	if out == nil {
		if cerr == 0 {
			return "", fmt.Errorf("no such user %q", name)
		}
		return "", fmt.Errorf("getpwnam_r(%s): %w", name, syscall.Errno(cerr))
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoString(out), nil
}

// run is the program; snapshotPath is the compiled policy whose recorder counts.
func run(args []string, stdout, stderr io.Writer, snapshotPath string) int {
	fs := flag.NewFlagSet("recd-pam-test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	service := fs.String("service", "login", "PAM service `name` (a file in the PAM configuration directory)")
	confdir := fs.String("confdir", "", "read the service from `dir` instead of /etc/pam.d")
	tty := fs.String("tty", "", "set PAM_TTY")
	rhost := fs.String("rhost", "", "set PAM_RHOST")
	// Flags may follow the user: recd-pam-test alice --service su.
	var users []string
	for rest := args; len(rest) > 0; {
		if !strings.HasPrefix(rest[0], "-") || rest[0] == "-" {
			users = append(users, rest[0])
			rest = rest[1:]
			continue
		}
		if err := fs.Parse(rest); err != nil {
			return exitError
		}
		rest = fs.Args()
	}
	if len(users) != 1 {
		fmt.Fprintln(stderr, "usage: recd-pam-test [--service NAME] [--confdir DIR] [--tty TTY] [--rhost HOST] USER")
		return exitError
	}
	user := users[0]
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "recd-pam-test: "+format+"\n", a...)
		return exitError
	}

	conv := pam.ConversationFunc(func(s pam.Style, msg string) (string, error) {
		switch s {
		case pam.TextInfo, pam.ErrorMsg:
			fmt.Fprintf(stdout, "  (PAM message) %s\n", strings.TrimRight(msg, "\n"))
			return "", nil
		}
		return "", errors.New("no authentication step: prompts are not answered")
	})
	where := "/etc/pam.d"
	var tx *pam.Transaction
	var err error
	if *confdir != "" {
		where = *confdir
		tx, err = pam.StartConfDir(*service, user, conv, *confdir)
	} else {
		tx, err = pam.Start(*service, user, conv)
	}
	if err != nil {
		return fail("pam_start(%s, %s): %v", *service, user, err)
	}
	defer tx.End()
	for _, it := range []struct {
		item pam.Item
		val  string
	}{{pam.Tty, *tty}, {pam.Rhost, *rhost}} {
		if it.val != "" {
			if err := tx.SetItem(it.item, it.val); err != nil {
				return fail("pam_set_item: %v", err)
			}
		}
	}
	fmt.Fprintf(stdout, "PAM session for %s, service %s (%s/%s)\n", user, *service, where, *service)
	if err := tx.AcctMgmt(0); err != nil {
		fmt.Fprintf(stdout, "  pam_acct_mgmt: %v\nVerdict: not recorded: the account stack refuses the login\n", err)
		return exitNotRecorded
	}
	fmt.Fprintln(stdout, "  pam_acct_mgmt: ok")
	if err := tx.OpenSession(0); err != nil {
		return fail("pam_open_session(%s, %s): %v", *service, user, err)
	}
	fmt.Fprintln(stdout, "  pam_open_session: ok")
	env, err := tx.GetEnvList()
	closeErr := tx.CloseSession(0)
	if err != nil {
		return fail("pam_getenvlist: %v", err)
	}
	fmt.Fprintln(stdout, "PAM environment:")
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %s=%s\n", k, env[k])
	}
	if len(keys) == 0 {
		fmt.Fprintln(stdout, "  (empty)")
	}
	if closeErr != nil {
		fmt.Fprintf(stdout, "  pam_close_session: %v\n", closeErr)
	} else {
		fmt.Fprintln(stdout, "  pam_close_session: ok")
	}

	shell, err := shellOf(user)
	if err != nil {
		return fail("%v", err)
	}
	recorder := ""
	if snap, err := snapshot.Read(snapshotPath); err != nil {
		fmt.Fprintf(stdout, "Policy: %v (nobody is recorded)\n", err)
	} else {
		recorder = snap.Rules.Recorder
		fmt.Fprintf(stdout, "Recorder of the policy in force: %s\n", recorder)
	}
	realShell, haveShell := env["TLOG_REC_SESSION_SHELL"]
	fmt.Fprintf(stdout, "Login shell from NSS: %s\n", shell)
	switch {
	case recorder != "" && shell == recorder && haveShell && realShell != "":
		fmt.Fprintf(stdout, "Verdict: recorded: %s starts the recorder %s, which runs %s\n", *service, recorder, realShell)
		return exitRecorded
	case recorder != "" && shell == recorder:
		fmt.Fprintf(stdout, "Verdict: BROKEN: NSS gives the recorder as the shell but the session stack of %s did not set "+
			"TLOG_REC_SESSION_SHELL: add `session optional pam_recd.so` to %s/%s\n", *service, where, *service)
	case haveShell:
		fmt.Fprintf(stdout, "Verdict: not recorded: PAM set TLOG_REC_SESSION_SHELL but NSS gives %s, not the recorder: "+
			"is `recd` missing from the passwd line of /etc/nsswitch.conf?\n", shell)
	default:
		fmt.Fprintf(stdout, "Verdict: not recorded: the policy does not record %s\n", user)
	}
	return exitNotRecorded
}
