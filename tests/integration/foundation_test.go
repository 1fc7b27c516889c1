package integration

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// A user logs in over real OpenSSH (with PAM) on a test host where recd is installed,
// both with a command and interactively through a pseudo-terminal.
func TestSSHLoginRunsCommand(t *testing.T) {
	t.Parallel()
	h := testhost.New(t)
	h.StartJournald()
	h.Install()
	h.AddUser("alice")
	h.StartSSHD(testhost.SSHDOptions{})

	stdout, stderr, code, err := h.SSH("alice", "echo hello-$((6*7)); id -un")
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || stdout != "hello-42\nalice\n" {
		t.Fatalf("ssh alice: exit %d, stdout %q, stderr %q; want exit 0, %q", code, stdout, stderr, "hello-42\nalice\n")
	}

	// A command's exit status comes back through ssh.
	if _, _, code, err := h.SSH("alice", "exit 7"); err != nil || code != 7 {
		t.Fatalf("ssh alice 'exit 7': exit %d, err %v; want 7", code, err)
	}

	s := h.SSHInteractive("alice")
	if err := s.Send("echo tty-$((6*7)); tty\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("tty-42", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExpectRegexp(regexp.MustCompile(`/dev/pts/\d+`), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Resize(40, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("stty size\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("40 100", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("exit 0\r"); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Wait(15 * time.Second); err != nil || code != 0 {
		t.Fatalf("interactive ssh: exit %d, err %v; want 0\ntranscript:\n%s", code, err, s.Transcript())
	}

	// Installed for real inside the host, and nowhere else.
	for _, p := range []string{"/usr/sbin/recd", "/usr/bin/recctl", "/usr/bin/recd-session",
		"/usr/lib/x86_64-linux-gnu/libnss_recd.so.2", "/usr/lib/x86_64-linux-gnu/security/pam_recd.so"} {
		if !h.Exists(p) {
			t.Errorf("%s missing inside the host after Install", p)
		}
	}
}

// Everything a test does to /etc inside a host stays there: the machine's own user
// database, PAM stack, NSS configuration and module directories are byte-identical.
func TestHostFilesUntouched(t *testing.T) {
	t.Parallel()
	before, err := snapshotMachine()
	if err != nil {
		t.Fatal(err)
	}
	h := testhost.New(t)
	h.Install()
	h.AddGroup("auditors", 0)
	h.AddUser("carol", testhost.UserGroups("auditors"), testhost.UserPassword("s3cret-pw"))
	h.AddGroup("wheel2", 4242, "carol")
	h.WriteFile("/etc/pam.d/recd-test", []byte("session optional pam_recd.so\n"), 0o644)
	h.WriteFile("/etc/nsswitch.conf", []byte("passwd: recd files\ngroup: files\nshadow: files\n"), 0o644)
	h.WriteFile("/usr/lib/x86_64-linux-gnu/security/pam_recd_extra.so", []byte("not a module"), 0o644)
	h.WriteFile("/etc/systemd/journald.conf.d/extra.conf", []byte("[Journal]\n"), 0o644)
	h.MustRun(t, "bash", "-c", "echo 'testline' >> /etc/pam.d/common-session; rm -f /etc/pam.d/login")
	h.StartSSHD(testhost.SSHDOptions{PasswordAuthentication: true})

	// The changes are real inside the host…
	if got := string(h.ReadFile("/etc/nsswitch.conf")); !strings.HasPrefix(got, "passwd: recd files") {
		t.Errorf("nsswitch.conf inside the host = %q", got)
	}
	if out := h.MustRun(t, "getent", "group", "wheel2"); !strings.Contains(out, "4242") || !strings.Contains(out, "carol") {
		t.Errorf("getent group wheel2 inside the host = %q", out)
	}
	if h.Exists("/etc/pam.d/login") {
		t.Error("/etc/pam.d/login still exists inside the host after rm")
	}
	if shadow := string(h.ReadFile("/etc/shadow")); !strings.Contains(shadow, "carol:$") {
		t.Error("carol has no password hash in the host's /etc/shadow")
	}

	// …and invisible outside, while the host is still running.
	after, err := snapshotMachine()
	if err != nil {
		t.Fatal(err)
	}
	delete(before, "mounts (overlay or test host)") // other tests' hosts run in parallel
	delete(after, "mounts (overlay or test host)")
	if diff := diffSnapshots(before, after); diff != "" {
		t.Fatalf("the machine's own files changed:\n%s", diff)
	}
	for _, p := range []string{"/etc/pam.d/recd-test", "/usr/lib/x86_64-linux-gnu/security/pam_recd_extra.so"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists on the machine itself (stat: %v)", p, err)
		}
	}
	if _, err := exec.Command("getent", "passwd", "carol").Output(); err == nil {
		t.Error("getent passwd carol succeeds on the machine itself")
	}
}

// journald runs inside the host: a message sent there is in the host's journal with
// the host's machine id and hostname, and not in the machine's own journal.
func TestJournalInsideHost(t *testing.T) {
	t.Parallel()
	h := testhost.New(t, testhost.WithHostname("journalhost"))
	h.StartJournald()

	token := "recd-journal-test-" + randomToken(t)
	h.MustRun(t, "systemd-cat", "-t", "recd-test", "echo", token)
	// Control characters make journald store MESSAGE as a byte array in JSON.
	h.MustRun(t, "bash", "-c", `printf 'bin\001%s\n' "$1" | systemd-cat -t recd-test-bin`, "x", token)

	var found, foundBin bool
	deadline := time.Now().Add(10 * time.Second)
	for !(found && foundBin) && time.Now().Before(deadline) {
		for _, e := range h.JournalJSON("-t", "recd-test", "-t", "recd-test-bin") {
			switch testhost.Field(e, "MESSAGE") {
			case token:
				found = true
				if got := testhost.Field(e, "_MACHINE_ID"); got != h.MachineID() {
					t.Errorf("_MACHINE_ID = %q, want the host's %q", got, h.MachineID())
				}
				if got := testhost.Field(e, "_HOSTNAME"); got != "journalhost" {
					t.Errorf("_HOSTNAME = %q, want journalhost", got)
				}
			case "bin\x01" + token:
				foundBin = true
			}
		}
		if !(found && foundBin) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !found || !foundBin {
		t.Fatalf("journal inside the host lacks the messages (plain %v, binary %v):\n%s", found, foundBin,
			h.Journal("-n", "30"))
	}

	// The journal files are in the host's persistent storage, named for its machine id.
	if !h.Exists("/var/log/journal/" + h.MachineID() + "/system.journal") {
		t.Errorf("no persistent journal for machine id %s inside the host", h.MachineID())
	}

	// The machine's own journal (if it keeps one) never saw it.
	for _, dir := range []string{"/var/log/journal/" + h.MachineID(), "/run/log/journal/" + h.MachineID()} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s exists on the machine itself", dir)
		}
	}
	if _, err := exec.LookPath("journalctl"); err == nil {
		out, _ := exec.Command("journalctl", "--no-pager", "--merge", "-o", "cat", "-t", "recd-test").CombinedOutput()
		if strings.Contains(string(out), token) {
			t.Errorf("the machine's own journal has the test host's message")
		}
	}
}

// Two hosts at once have their own hostname, machine id, users, processes, journal
// and network (both run sshd on the same port).
func TestTwoHostsAreIsolated(t *testing.T) {
	t.Parallel()
	type box struct {
		h     *testhost.Host
		name  string
		user  string
		token string
	}
	boxes := []*box{{name: "alpha", user: "ann"}, {name: "beta", user: "ben"}}
	for _, b := range boxes {
		b.h = testhost.New(t, testhost.WithHostname(b.name))
		b.token = b.name + "-only-" + randomToken(t)
	}
	if boxes[0].h.MachineID() == boxes[1].h.MachineID() {
		t.Fatal("both hosts have the same machine id")
	}
	for _, b := range boxes {
		b.h.StartJournald()
		b.h.AddUser(b.user)
		b.h.StartSSHD(testhost.SSHDOptions{})
		b.h.MustRun(t, "systemd-cat", "-t", "recd-iso", "echo", b.token)
	}
	for i, b := range boxes {
		other := boxes[1-i]
		if got := strings.TrimSpace(b.h.MustRun(t, "hostname")); got != b.name {
			t.Errorf("hostname on %s = %q", b.name, got)
		}
		if got := strings.TrimSpace(string(b.h.ReadFile("/etc/machine-id"))); got != b.h.MachineID() {
			t.Errorf("/etc/machine-id on %s = %q, want %q", b.name, got, b.h.MachineID())
		}
		if out, err := b.h.Run("getent", "passwd", other.user); err == nil {
			t.Errorf("%s sees %s's user %s: %s", b.name, other.name, other.user, out)
		}
		stdout, _, _, err := b.h.SSH(b.user, "hostname; id -un")
		if err != nil {
			t.Fatal(err)
		}
		if want := b.name + "\n" + b.user + "\n"; stdout != want {
			t.Errorf("ssh on %s printed %q, want %q", b.name, stdout, want)
		}
		if n := strings.Count(b.h.MustRun(t, "ps", "-eo", "comm="), "sshd"); n < 1 {
			t.Errorf("%s runs no sshd", b.name)
		}
		if n := strings.Count(b.h.MustRun(t, "ps", "-eo", "comm="), "systemd-journal"); n != 1 {
			t.Errorf("%s sees %d journald processes, want its own 1", b.name, n)
		}
		journal := b.h.Journal("-o", "cat", "-t", "recd-iso")
		if !strings.Contains(journal, b.token) {
			t.Errorf("%s's journal lacks its own message %s:\n%s", b.name, b.token, journal)
		}
		if strings.Contains(b.h.Journal("--merge", "-o", "cat", "-t", "recd-iso"), other.token) {
			t.Errorf("%s's journal has %s's message", b.name, other.name)
		}
	}
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
