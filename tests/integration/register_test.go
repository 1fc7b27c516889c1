package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// startRecd starts recd in h and waits until it answers.
func startRecd(t *testing.T, h *testhost.Host) *testhost.Daemon {
	t.Helper()
	recd := h.Start("recd", "/usr/sbin/recd")
	waitUntil(t, 5*time.Second, "recd answers", func() bool {
		_, err := h.Run("recctl", "status")
		return err == nil
	})
	return recd
}

// withDevLog gives h a /dev/log (journald's syslog socket), so that what PAM modules send
// to syslog reaches the host's journal. A test host shares the machine's /dev, which may
// have no /dev/log and must not get one from a test: so the host's /dev is replaced, in its
// own mount namespace only, by a tmpfs holding bind mounts of every entry of the original
// (submounts such as the host's devpts included) plus the /dev/log symlink.
func withDevLog(t *testing.T, h *testhost.Host) {
	t.Helper()
	h.Shell(`
mkdir -p /run/testhost-olddev
mount --rbind /dev /run/testhost-olddev
mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
cd /run/testhost-olddev
for e in * .[!.]*; do
	[ -e "$e" ] || [ -L "$e" ] || continue
	if [ -L "$e" ]; then cp -P "$e" "/dev/$e"
	elif [ -d "$e" ]; then mkdir "/dev/$e"; mount --rbind "$e" "/dev/$e"
	else touch "/dev/$e"; mount --bind "$e" "/dev/$e"
	fi
done
rm -f /dev/log
ln -s /run/systemd/journal/dev-log /dev/log
test -S /run/systemd/journal/dev-log
logger -t testhost-devlog probe
`)
	waitUntil(t, 5*time.Second, "syslog through /dev/log reaches the journal", func() bool {
		return strings.Contains(h.Journal("-t", "testhost-devlog"), "probe")
	})
}

// pam_recd registers a recorded user's ssh login and logout with recd (service, tty, remote
// host, the sshd process recd sees through SO_PEERCRED); an unrecorded user's login is not
// registered; recctl status counts the logins open.
func TestPAMRegistersSSHLogin(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", stubPath)
	h.MustRun(t, "recctl", "reload")
	recd := startRecd(t, h)
	h.StartSSHD(testhost.SSHDOptions{})

	if stdout, stderr, code, err := h.SSH("alice", "echo ran-as-$(id -un)"); err != nil || code != 0 || !strings.Contains(stdout, "ran-as-alice") {
		t.Fatalf("ssh alice: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	login := regexp.MustCompile(`(?m)^(?:recd: )?login: user=alice service=sshd tty=ssh rhost=127\.0\.0\.1 pid=(\d+) audit_session=(?:\d+|unset)$`)
	var pid string
	waitUntil(t, 5*time.Second, "login and logout lines in recd's log", func() bool {
		m := login.FindStringSubmatch(recd.Log())
		if m == nil {
			return false
		}
		pid = m[1]
		return strings.Contains(recd.Log(), "logout: user=alice service=sshd tty=ssh rhost=127.0.0.1 pid="+pid+" ")
	})
	if strings.Contains(recd.Log(), "no matching login") {
		t.Errorf("the logout did not match the login:\n%s", recd.Log())
	}

	// Interactively: the login stays in recd's table until the user logs out. (OpenSSH opens
	// the PAM session before it allocates the pty, so PAM_TTY is "ssh" here too.)
	s := h.SSHInteractive("alice")
	if err := s.Send("echo inside-$((6*7))\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("inside-42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if out := h.MustRun(t, "recctl", "status"); !strings.Contains(out, "logins:          1 open") {
		t.Errorf("recctl status during the interactive login:\n%s", out)
	}
	if err := s.Send("exit\r"); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Wait(15 * time.Second); err != nil || code != 0 {
		t.Fatalf("interactive ssh: exit %d, %v\n%s", code, err, s.Transcript())
	}
	waitUntil(t, 5*time.Second, "no login open after logout", func() bool {
		return strings.Contains(h.MustRun(t, "recctl", "status"), "logins:          0 open")
	})

	// bob is not recorded: his login is none of recd's business.
	if _, _, code, err := h.SSH("bob", "true"); err != nil || code != 0 {
		t.Fatalf("ssh bob: exit %d, %v", code, err)
	}
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(recd.Log(), "user=bob") {
		t.Errorf("bob's login was registered:\n%s", recd.Log())
	}
}

// With recd stopped, a recorded user still logs in, without waiting for it, and sshd's
// process logs one warning that the login went unregistered.
func TestPAMLoginWithoutRecd(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	withDevLog(t, h)
	writePolicy(t, h, "scope = some\nusers = alice", stubPath)
	h.MustRun(t, "recctl", "reload")
	recd := startRecd(t, h)
	recd.Stop() // leaves no socket, or a dead one
	h.StartSSHD(testhost.SSHDOptions{})

	start := time.Now()
	stdout, stderr, code, err := h.SSH("alice", "echo ran-as-$(id -un)")
	took := time.Since(start)
	if err != nil || code != 0 || !strings.Contains(stdout, "ran-as-alice") {
		t.Fatalf("ssh alice without recd: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	t.Logf("ssh login with recd stopped took %v", took)
	if took > 5*time.Second {
		t.Fatalf("ssh login with recd stopped took %v (a hang?)", took)
	}
	var warnings []string
	waitUntil(t, 5*time.Second, "pam_recd's warning in the journal", func() bool {
		warnings = nil
		for _, e := range h.JournalJSON() {
			if msg := testhost.Field(e, "MESSAGE"); strings.Contains(msg, "pam_recd: cannot register") {
				warnings = append(warnings, testhost.Field(e, "SYSLOG_IDENTIFIER")+": "+msg)
			}
		}
		return len(warnings) > 0
	})
	time.Sleep(300 * time.Millisecond) // a second warning (from the logout) would be there by now
	warnings = nil
	for _, e := range h.JournalJSON() {
		if msg := testhost.Field(e, "MESSAGE"); strings.Contains(msg, "pam_recd: cannot register") {
			warnings = append(warnings, testhost.Field(e, "SYSLOG_IDENTIFIER")+": "+msg)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "session-open of alice") {
		t.Fatalf("want one warning about the session-open of alice, got %d:\n%s", len(warnings), strings.Join(warnings, "\n"))
	}
	t.Logf("warning: %s", warnings[0])

	// A recd that accepts but never answers costs a login pam_recd's budget (250 ms for the
	// open, as much for the close), not a hang.
	h.Start("silent-recd", "python3", "-c", `
import os, socket
os.makedirs("/run/recd", exist_ok=True)
s = socket.socket(socket.AF_UNIX)
s.bind("/run/recd/recd.sock")
s.listen(64)
conns = []
while True:
    conns.append(s.accept())
`)
	waitUntil(t, 5*time.Second, "silent listener up", func() bool { return h.Exists("/run/recd/recd.sock") })
	start = time.Now()
	stdout, stderr, code, err = h.SSH("alice", "echo ran-as-$(id -un)")
	took = time.Since(start)
	if err != nil || code != 0 || !strings.Contains(stdout, "ran-as-alice") {
		t.Fatalf("ssh alice with a silent recd: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	t.Logf("ssh login with a recd that never answers took %v", took)
	if took > 5*time.Second {
		t.Fatalf("ssh login with a silent recd took %v (a hang?)", took)
	}
	waitUntil(t, 5*time.Second, "the timeout warning", func() bool {
		return strings.Contains(h.Journal("-g", "pam_recd: cannot register"), "(answer: Connection timed out)")
	})
}

// recctl test-login and recd-pam-test run real PAM sessions through libpam (msteinert/pam)
// with the real pam_recd and NSS: for a login-style and an su-style stack read with
// pam_start_confdir, and for the host's own sshd stack. A recorded user gets
// TLOG_REC_SESSION_SHELL (and, with recorder = tlog, TLOG_REC_SESSION_CONF_TEXT); an
// unrecorded one neither. The session is registered with recd, PAM items escaped on the
// way.
func TestTestLoginPAMStacks(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", "tlog")
	h.MustRun(t, "recctl", "reload")
	recd := startRecd(t, h)
	const confdir = "/tmp/pam-test.d"
	h.WriteFile(confdir+"/recd-login", []byte("account required pam_unix.so\n"+
		"session required pam_unix.so\nsession optional pam_recd.so debug\n"), 0o644)
	h.WriteFile(confdir+"/recd-su", []byte("auth sufficient pam_rootok.so\nauth required pam_deny.so\n"+
		"account required pam_unix.so\nsession required pam_env.so readenv=1\n"+
		"session required pam_unix.so\nsession optional pam_recd.so\n"), 0o644)
	h.WriteFile(confdir+"/recd-none", []byte("account required pam_unix.so\nsession required pam_unix.so\n"), 0o644)

	type result struct {
		out  string
		code int
	}
	run := func(name string, args ...string) result {
		out, err := h.Run(name, args...)
		code := 0
		if err != nil {
			code = exitCode(err)
		}
		return result{string(out), code}
	}
	cases := []struct {
		name    string
		cmd     []string
		want    int
		present []string
		absent  []string
	}{
		{"recctl, login stack, alice", []string{"recctl", "test-login", "alice", "--service", "recd-login", "--confdir", confdir}, 0,
			[]string{"TLOG_REC_SESSION_SHELL=/bin/bash\n", "TLOG_REC_SESSION_CONF_TEXT={", "Verdict: recorded"}, nil},
		{"recctl, su stack, alice", []string{"recctl", "test-login", "--service=recd-su", "--confdir", confdir, "alice"}, 0,
			[]string{"TLOG_REC_SESSION_SHELL=/bin/bash\n", "TLOG_REC_SESSION_CONF_TEXT={", "Verdict: recorded"}, nil},
		{"recctl, login stack, bob", []string{"recctl", "test-login", "bob", "--service", "recd-login", "--confdir", confdir}, 1,
			[]string{"Verdict: not recorded"}, []string{"TLOG_REC_SESSION"}},
		{"recctl, su stack, bob", []string{"recctl", "test-login", "bob", "--service", "recd-su", "--confdir", confdir}, 1,
			[]string{"Verdict: not recorded"}, []string{"TLOG_REC_SESSION"}},
		{"recctl, sshd stack of the host, alice", []string{"recctl", "test-login", "alice", "--service", "sshd"}, 0,
			[]string{"TLOG_REC_SESSION_SHELL=/bin/bash\n", "Verdict: recorded"}, nil},
		{"helper, stack without pam_recd, alice", []string{"/usr/libexec/recd/recd-pam-test", "--service", "recd-none", "--confdir", confdir, "alice"}, 1,
			[]string{"Verdict: BROKEN", "add `session optional pam_recd.so`"}, []string{"TLOG_REC_SESSION_SHELL="}},
		{"helper, unknown user", []string{"/usr/libexec/recd/recd-pam-test", "--service", "recd-login", "--confdir", confdir, "nosuchuser"}, 1,
			nil, []string{"TLOG_REC_SESSION"}},
	}
	for _, tc := range cases {
		r := run(tc.cmd[0], tc.cmd[1:]...)
		if r.code != tc.want {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, r.code, tc.want, r.out)
			continue
		}
		for _, p := range tc.present {
			if !strings.Contains(r.out, p) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, p, r.out)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(r.out, a) {
				t.Errorf("%s: output has %q:\n%s", tc.name, a, r.out)
			}
		}
	}

	// Each recorded session was registered and closed; PAM items that need JSON escapes
	// (quote, backslash, a control character, a byte that is not UTF-8, valid UTF-8) reach
	// recd intact or as U+FFFD, and recd logs them quoted.
	if r := run("/usr/libexec/recd/recd-pam-test", "--service", "recd-login", "--confdir", confdir,
		"--tty", "a\"b\\c\x01\xffé", "--rhost", "host one", "alice"); r.code != 0 {
		t.Fatalf("recd-pam-test with odd PAM items: exit %d\n%s", r.code, r.out)
	}
	log := recd.Log()
	for _, want := range []string{
		"login: user=alice service=recd-login tty=\"\" rhost=\"\" pid=",
		"login: user=alice service=recd-su tty=\"\" rhost=\"\" pid=",
		"logout: user=alice service=recd-su tty=\"\" rhost=\"\" pid=",
		"login: user=alice service=sshd tty=\"\" rhost=\"\" pid=",
		fmt.Sprintf("login: user=alice service=recd-login tty=%q rhost=\"host one\" pid=", "a\"b\\c\x01\uFFFDé"),
		fmt.Sprintf("logout: user=alice service=recd-login tty=%q rhost=\"host one\" pid=", "a\"b\\c\x01\uFFFDé"),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("recd's log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "user=bob") || strings.Contains(log, "no matching login") {
		t.Errorf("recd's log has bob or an unmatched logout:\n%s", log)
	}
}
