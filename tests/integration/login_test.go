package integration

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// stubRecorder stands in for the recorder in the login tests: it shows what it was started
// with, then runs the real shell the way a recorder would.
const stubRecorder = `#!/bin/sh
echo "stub-recorder argv: $0 $*"
echo "stub-recorder TLOG_REC_SESSION_SHELL=$TLOG_REC_SESSION_SHELL"
[ "$1" = "-c" ] && exec "$TLOG_REC_SESSION_SHELL" -c "$2"
exec "$TLOG_REC_SESSION_SHELL"
`

const stubPath = "/usr/local/bin/stub-recorder"

// loginHost is a test host with recd installed and wired in: `passwd: recd files` in
// nsswitch.conf and pam_recd in sshd's session stack, a stub recorder, and these users:
// alice (listed), carol (primary group wheel, which lists nobody), dave (listed member of
// ops), bob and erin (neither).
func loginHost(t *testing.T) *testhost.Host {
	t.Helper()
	h := testhost.New(t)
	h.StartJournald()
	h.Install()
	h.AddGroup("wheel", 1500)
	h.AddGroup("ops", 1501)
	h.AddUser("alice", testhost.UserShell("/bin/bash"))
	h.AddUser("bob", testhost.UserShell("/bin/sh"))
	h.AddUser("carol", testhost.UserPrimaryGroup("wheel"), testhost.UserShell("/bin/bash"))
	h.AddUser("dave", testhost.UserGroups("ops"), testhost.UserShell("/bin/bash"))
	h.AddUser("erin", testhost.UserShell("/bin/bash"))
	h.WriteFile(stubPath, []byte(stubRecorder), 0o755)
	h.RecdFirstInPasswd()
	h.AddPAMRecd("sshd")
	return h
}

func writePolicy(t *testing.T, h *testhost.Host, policy, recorder string) {
	t.Helper()
	h.WriteFile("/etc/recd/recd.conf", []byte("[session_recording]\n"+policy+"\n[recorder]\nrecorder = "+recorder+"\n"), 0o644)
}

// shellOf returns the shell glibc's NSS gives name (by name, or by uid when byUID).
func shellOf(t *testing.T, h *testhost.Host, key string) string {
	t.Helper()
	out, err := h.Run("getent", "passwd", key)
	if err != nil {
		t.Fatalf("getent passwd %s: %v", key, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	if len(f) != 7 {
		t.Fatalf("getent passwd %s: %q", key, out)
	}
	return f[6]
}

// Every policy rule, through the real glibc NSS: the shell a lookup returns by name and by
// uid agrees with `recctl check` for every user.
func TestNSSAgreesWithCheck(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	users := []string{"root", "alice", "bob", "carol", "dave", "erin"}
	policies := []struct {
		policy   string
		recorded string
	}{
		{"scope = none\nusers = alice", ""},
		{"scope = some\nusers = alice", "alice"},
		{"scope = Some\nusers =  alice , erin ,alice", "alice erin"},
		{"scope = some\ngroups = wheel", "carol"},
		{"scope = some\ngroups = ops\nexclude_users = dave", "dave"},
		{"scope = all\nexclude_users = root, bob\nusers = nobody", "alice carol dave erin"},
		{"scope = all\nexclude_groups = wheel, ops\nexclude_users = root", "alice bob erin"},
		{"scope = some\nusers =\ngroups =", ""},
	}
	for _, p := range policies {
		writePolicy(t, h, p.policy, stubPath)
		if out, err := h.Run("recctl", "reload"); err != nil {
			t.Fatalf("recctl reload with %q: %v\n%s", p.policy, err, out)
		}
		for _, u := range users {
			want := strings.Contains(" "+p.recorded+" ", " "+u+" ")
			out, err := h.Run("recctl", "check", u)
			checkSays := err == nil
			if err != nil && exitCode(err) != 1 {
				t.Fatalf("recctl check %s: %v\n%s", u, err, out)
			}
			byName := shellOf(t, h, u) == stubPath
			byUID := shellOf(t, h, fmt.Sprint(h.LookupUser(u).UID)) == stubPath
			if checkSays != want || byName != want || byUID != want {
				t.Errorf("policy %q, user %s: want recorded=%v; recctl check says %v (%s), NSS by name %v, by uid %v",
					p.policy, u, want, checkSays, strings.TrimSpace(string(out)), byName, byUID)
			}
		}
	}
}

// A running recd activates an edit made with recctl or by hand on its own, and refuses a
// broken one while the last good policy keeps answering.
func TestReloadWhileRunning(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", stubPath)
	recd := h.Start("recd", "/usr/sbin/recd")
	waitUntil(t, 5*time.Second, "recd answers", func() bool {
		_, err := h.Run("recctl", "status")
		return err == nil
	})
	if shellOf(t, h, "alice") != stubPath || shellOf(t, h, "bob") == stubPath {
		t.Fatalf("initial policy not in force\n%s", recd.Log())
	}

	// recctl users add: seen by the next lookups.
	h.MustRun(t, "recctl", "users", "add", "bob")
	took := waitUntil(t, time.Second, "bob recorded after recctl users add", func() bool { return shellOf(t, h, "bob") == stubPath })
	t.Logf("recctl users add bob → NSS answer changed after %v", took)

	// A hand edit, with no recctl involved: recd notices by itself.
	writePolicy(t, h, "scope = some\nusers = erin", stubPath)
	took = waitUntil(t, time.Second, "hand edit picked up", func() bool {
		return shellOf(t, h, "erin") == stubPath && shellOf(t, h, "alice") != stubPath
	})
	t.Logf("hand edit → NSS answer changed after %v", took)

	// Adding a user to a group in /etc/group takes effect without touching the policy.
	writePolicy(t, h, "scope = some\ngroups = ops", stubPath)
	waitUntil(t, time.Second, "groups policy", func() bool { return shellOf(t, h, "dave") == stubPath })
	h.MustRun(t, "gpasswd", "-a", "erin", "ops")
	waitUntil(t, 1500*time.Millisecond, "new group member recorded", func() bool { return shellOf(t, h, "erin") == stubPath })

	// A broken edit is not activated; reload names file, line and key; status shows it.
	writePolicy(t, h, "scope = some\ngroups = ops\nexclude_user = dave", stubPath)
	out, err := h.Run("recctl", "reload")
	if exitCode(err) != 2 ||
		!strings.Contains(string(out), "/etc/recd/recd.conf:4: [session_recording] exclude_user: unknown key (did you mean exclude_users?)") {
		t.Fatalf("recctl reload of a broken file: %v\n%s", err, out)
	}
	out, err = h.Run("recctl", "status")
	if exitCode(err) != 1 || !strings.Contains(string(out), "exclude_user: unknown key") {
		t.Fatalf("recctl status after a broken edit: %v\n%s", err, out)
	}
	if shellOf(t, h, "dave") != stubPath || shellOf(t, h, "erin") != stubPath {
		t.Fatal("the last good policy stopped answering after a broken edit")
	}
	if !strings.Contains(recd.Log(), "refused") {
		t.Errorf("recd did not log the refused reload:\n%s", recd.Log())
	}

	// Stopping recd changes nothing for lookups.
	recd.Stop()
	if shellOf(t, h, "dave") != stubPath || shellOf(t, h, "bob") == stubPath {
		t.Fatal("lookups changed when recd stopped")
	}
}

// No snapshot at all: nobody is recorded and no lookup fails.
func TestNoSnapshotRecordsNobody(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = all", stubPath)
	h.Run("rm", "-f", "/var/lib/recd/policy")
	for _, u := range []string{"root", "alice", "bob"} {
		if s := shellOf(t, h, u); s == stubPath {
			t.Errorf("%s recorded without a snapshot", u)
		}
	}
	h.WriteFile("/var/lib/recd/policy", []byte("recd-policy 1\nscope all\ngarbage\n"), 0o644)
	if s := shellOf(t, h, "alice"); s != "/bin/bash" {
		t.Errorf("corrupt snapshot: alice's shell is %q, want her own", s)
	}
}

// Real sshd: a recorded user's login starts the recorder with the real shell exported by
// pam_recd; an unrecorded user gets their own shell.
func TestSSHStartsRecorder(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", stubPath)
	h.MustRun(t, "recctl", "reload")
	h.StartSSHD(testhost.SSHDOptions{})

	stdout, stderr, code, err := h.SSH("alice", "echo ran-as-$(id -un)")
	if err != nil || code != 0 {
		t.Fatalf("ssh alice: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	for _, want := range []string{
		"stub-recorder argv: " + stubPath + " -c echo ran-as-$(id -un)",
		"stub-recorder TLOG_REC_SESSION_SHELL=/bin/bash",
		"ran-as-alice",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("ssh alice: output lacks %q:\n%s", want, stdout)
		}
	}

	stdout, stderr, code, err = h.SSH("bob", "echo $0; echo TLOG=$TLOG_REC_SESSION_SHELL")
	if err != nil || code != 0 || strings.Contains(stdout, "stub-recorder") || !strings.Contains(stdout, "TLOG=\n") {
		t.Fatalf("ssh bob: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
}

// exitCode is the exit status behind a command's error (-1 when it did not exit).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// waitUntil polls cond until it holds or limit passes, and says how long it took.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}
