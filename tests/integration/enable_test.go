package integration

import (
	"sort"
	"strings"
	"testing"

	"github.com/recd-dev/recd/tests/testhost"
)

// wiredFiles reads every file and link of /etc/pam.d and /etc/nsswitch.conf, which
// recctl enable and disable change.
func wiredFiles(t *testing.T, h *testhost.Host) map[string]string {
	t.Helper()
	out := map[string]string{"/etc/nsswitch.conf": string(h.ReadFile("/etc/nsswitch.conf"))}
	list := h.Shell(`cd /etc/pam.d && for f in *; do if [ -L "$f" ]; then printf 'L %s %s\n' "$f" "$(readlink "$f")"; elif [ -f "$f" ]; then printf 'F %s\n' "$f"; fi; done`)
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "L":
			out["/etc/pam.d/"+f[1]] = "-> " + f[2]
		case len(f) == 2 && f[0] == "F":
			out["/etc/pam.d/"+f[1]] = string(h.ReadFile("/etc/pam.d/" + f[1]))
		}
	}
	return out
}

func changedFiles(before, after map[string]string) []string {
	var out []string
	for p, b := range before {
		if a, ok := after[p]; !ok || a != b {
			out = append(out, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// TestEnableDoctorDisable runs `recctl enable` and `recctl doctor` on a Debian test host
// with the real pam-auth-update, glibc NSS and libpam: the dry run changes nothing; enable
// wires PAM (through the installed profile) and nsswitch.conf, so that a policy edit gives
// the recorder as shell and sshd's real PAM stack hands over the real shell; doctor finds
// the wiring in order; enable twice = once; disable restores both byte for byte.
func TestEnableDoctorDisable(t *testing.T) {
	t.Parallel()
	h := testhost.New(t)
	h.StartJournald()
	h.Install()
	h.AddUser("alice", testhost.UserShell("/bin/bash"))
	before := wiredFiles(t, h)

	run := func(args ...string) (string, int) {
		out, err := h.Run("recctl", args...)
		code := 0
		if err != nil {
			code = exitCode(err)
		}
		return string(out), code
	}

	out, code := run("enable", "--dry-run", "--scope", "some")
	if code != 0 || !strings.Contains(out, "run: DEBIAN_FRONTEND=noninteractive pam-auth-update --enable recd") ||
		!strings.Contains(out, "+passwd:") || !strings.Contains(out, "+scope = some") {
		t.Fatalf("enable --dry-run: exit %d\n%s", code, out)
	}
	if ch := changedFiles(before, wiredFiles(t, h)); len(ch) > 0 {
		t.Fatalf("the dry run changed %v", ch)
	}

	out, code = run("enable", "--scope", "some")
	if code != 0 || !strings.Contains(out, "recd is wired in.") {
		t.Fatalf("enable: exit %d\n%s", code, out)
	}
	t.Logf("recctl enable:\n%s", out)
	enabled := wiredFiles(t, h)
	ch := changedFiles(before, enabled)
	if strings.Join(ch, " ") != "/etc/nsswitch.conf /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive" {
		t.Errorf("enable changed %v", ch)
	}
	if !strings.Contains(enabled["/etc/pam.d/common-session"], "pam_recd.so") {
		t.Errorf("common-session after enable:\n%s", enabled["/etc/pam.d/common-session"])
	}
	for _, l := range strings.Split(enabled["/etc/nsswitch.conf"], "\n") {
		if strings.HasPrefix(l, "passwd:") && !strings.HasPrefix(strings.Join(strings.Fields(l), " "), "passwd: recd ") {
			t.Errorf("nsswitch.conf passwd line after enable: %q", l)
		}
	}
	if !h.Exists("/var/lib/recd/enable-state.json") {
		t.Error("no enable state")
	}

	// The wiring works: a policy edit hands alice the recorder through glibc's NSS, and
	// the host's real sshd stack runs pam_recd.
	h.MustRun(t, "recctl", "users", "add", "alice")
	if sh := shellOf(t, h, "alice"); sh != "/usr/bin/recd-session" {
		t.Errorf("alice's shell after enable + users add alice: %s", sh)
	}
	startRecd(t, h)
	if out, code := run("test-login", "alice", "--service", "sshd"); code != 0 || !strings.Contains(out, "TLOG_REC_SESSION_SHELL=/bin/bash") {
		t.Errorf("test-login alice --service sshd: exit %d\n%s", code, out)
	}

	out, code = run("doctor")
	t.Logf("recctl doctor:\n%s", out)
	for _, want := range []string{"[ok]      nsswitch: recd is the first passwd source",
		"[ok]      pam: pam_recd.so in the session stacks of sshd, login, su, su-l",
		"[ok]      recorder: /usr/bin/recd-session", "[ok]      recd: recd answers on /run/recd/recd.sock"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q", want)
		}
	}
	if problems := strings.Contains(out, "[PROBLEM]"); problems != (code == 1) || code > 1 {
		t.Errorf("doctor exit %d does not match its findings", code)
	}

	out, code = run("enable")
	if code != 0 || !strings.Contains(out, "already wired") {
		t.Errorf("second enable: exit %d\n%s", code, out)
	}
	if ch := changedFiles(enabled, wiredFiles(t, h)); len(ch) > 0 {
		t.Errorf("second enable changed %v", ch)
	}

	out, code = run("disable")
	if code != 0 {
		t.Fatalf("disable: exit %d\n%s", code, out)
	}
	t.Logf("recctl disable:\n%s", out)
	if ch := changedFiles(before, wiredFiles(t, h)); len(ch) > 0 {
		t.Fatalf("disable did not restore %v", ch)
	}
	if sh := shellOf(t, h, "alice"); sh != "/bin/bash" {
		t.Errorf("alice's shell after disable: %s", sh)
	}
	out, code = run("doctor")
	if code != 1 || !strings.Contains(out, "[PROBLEM] nsswitch: recd is not a passwd source") ||
		!strings.Contains(out, "[PROBLEM] pam: pam_recd.so is not in the session stack of sshd") {
		t.Errorf("doctor after disable: exit %d\n%s", code, out)
	}
}
