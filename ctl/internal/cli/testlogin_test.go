package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHelper stands in for recd-pam-test: it prints its arguments and exits with the status
// named by the user ("user-0", "user-1", ...).
const fakeHelper = `#!/bin/sh
echo "helper args: $*"
for last; do :; done
echo "to stderr" >&2
exit "${last#user-}"
`

func TestTestLogin(t *testing.T) {
	e := newEnv(t, "")
	e.app.PAMTestPath = filepath.Join(e.dir, "recd-pam-test")
	if err := os.WriteFile(e.app.PAMTestPath, []byte(fakeHelper), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		want     int
		wantArgs string
	}{
		{[]string{"user-0"}, ExitOK, "--service login -- user-0"},
		{[]string{"user-1", "--service", "su"}, ExitNegative, "--service su -- user-1"},
		{[]string{"--service=sshd", "--confdir", "/tmp/x", "user-0"}, ExitOK, "--service sshd --confdir /tmp/x -- user-0"},
		{[]string{"user-2"}, ExitUsage, "--service login -- user-2"},
		{[]string{"user-9"}, ExitUsage, "--service login -- user-9"},
		{[]string{"-dash-user-0"}, ExitUsage, ""},
	}
	for _, tc := range tests {
		got := e.run(append([]string{"test-login"}, tc.args...)...)
		if got != tc.want {
			t.Errorf("test-login %v: exit %d, want %d\n%s%s", tc.args, got, tc.want, e.stdout, e.stderr)
		}
		if tc.wantArgs != "" && (!strings.Contains(e.stdout.String(), "helper args: "+tc.wantArgs+"\n") ||
			!strings.Contains(e.stderr.String(), "to stderr")) {
			t.Errorf("test-login %v: output not passed through or wrong arguments:\n%s%s", tc.args, e.stdout, e.stderr)
		}
	}
	for _, args := range [][]string{{}, {"a", "b"}} {
		if got := e.run(append([]string{"test-login"}, args...)...); got != ExitUsage {
			t.Errorf("test-login %v: exit %d, want %d", args, got, ExitUsage)
		}
	}
}

func TestTestLoginWithoutHelper(t *testing.T) {
	e := newEnv(t, "")
	e.app.PAMTestPath = filepath.Join(e.dir, "nothing-here")
	if got := e.run("test-login", "alice"); got != ExitUsage {
		t.Fatalf("exit %d, want %d", got, ExitUsage)
	}
	for _, want := range []string{e.app.PAMTestPath + " is missing", "make install", "pam_recd.so", "cgo"} {
		if !strings.Contains(e.stderr.String(), want) {
			t.Errorf("error lacks %q:\n%s", want, e.stderr)
		}
	}
	e.app.UID = 1000
	if got := e.run("test-login", "alice"); got != ExitNotRoot {
		t.Fatalf("as uid 1000: exit %d, want %d", got, ExitNotRoot)
	}
}
