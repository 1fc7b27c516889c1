//go:build linux && cgo

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msteinert/pam/v2"

	"github.com/recd-dev/recd/internal/snapshot"
)

// The verdict logic through the real libpam (pam_start_confdir via msteinert/pam), with a
// test stack whose pam_env stands in for pam_recd: the real module, NSS and sshd are
// exercised on a test host (tests/integration TestTestLoginPAMStacks).
func TestRunVerdicts(t *testing.T) {
	if !pam.CheckPamHasStartConfdir() {
		t.Skip("libpam has no pam_start_confdir (Linux-PAM < 1.4)")
	}
	dir := t.TempDir()
	envConf := filepath.Join(dir, "env.conf")
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("env.conf", "TLOG_REC_SESSION_SHELL DEFAULT=/bin/sh\n")
	write("exports", "account required pam_permit.so\nsession required pam_env.so readenv=0 user_readenv=0 conffile="+envConf+"\n")
	write("plain", "account required pam_permit.so\nsession required pam_permit.so\n")
	write("refuses", "account required pam_deny.so\nsession required pam_permit.so\n")

	shell, err := shellOf("root")
	if err != nil {
		t.Fatal(err)
	}
	recorderIsRootShell := filepath.Join(dir, "policy")
	if err := snapshot.Write(recorderIsRootShell, &snapshot.Snapshot{Rules: snapshot.Rules{Scope: snapshot.ScopeNone, Recorder: shell}}); err != nil {
		t.Fatal(err)
	}
	noPolicy := filepath.Join(dir, "missing")
	tests := []struct {
		name, service, policy string
		want                  int
		says                  string
	}{
		{"recorder shell and TLOG var", "exports", recorderIsRootShell, exitRecorded, "Verdict: recorded"},
		{"recorder shell without TLOG var", "plain", recorderIsRootShell, exitNotRecorded, "Verdict: BROKEN"},
		{"TLOG var, shell not the recorder", "exports", noPolicy, exitNotRecorded, "is `recd` missing from the passwd line"},
		{"neither", "plain", noPolicy, exitNotRecorded, "the policy does not record root"},
		{"account refused", "refuses", recorderIsRootShell, exitNotRecorded, "account stack refuses"},
		{"no such service", "nothing", noPolicy, exitError, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			got := run([]string{"root", "--confdir", dir, "--service", tc.service}, &out, &errOut, tc.policy)
			if got != tc.want || !strings.Contains(out.String(), tc.says) {
				t.Fatalf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", got, tc.want, tc.says, &out, &errOut)
			}
		})
	}
	var out, errOut bytes.Buffer
	if got := run([]string{"a", "b"}, &out, &errOut, noPolicy); got != exitError || !strings.Contains(errOut.String(), "usage") {
		t.Fatalf("two users: exit %d\n%s", got, &errOut)
	}
}
