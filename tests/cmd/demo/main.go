// Command demo (make demo) shows recd at work on an isolated test host: it starts a host,
// installs recd into it, wires it in with `recctl enable`, records a demo user, starts
// OpenSSH's sshd and recd, runs a scripted interactive ssh session, then lists, verifies
// and plays the recording back, printing each step.
//
// It needs root (for the namespaces) and touches nothing outside the test host, which
// it removes before exiting. Exit status 0 means every step worked.
package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

func main() {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root to create the isolated test host (run: sudo make demo)")
		os.Exit(1)
	}
	start := time.Now()
	st := &testhost.Standalone{Log: os.Stdout}
	err := st.Run(demo)
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\ndemo: done in %.1fs; the test host and its state directory are gone, nothing outside it was touched.\n",
		time.Since(start).Seconds())
}

func step(n int, format string, args ...any) {
	fmt.Printf("\n== %d. %s\n", n, fmt.Sprintf(format, args...))
}

func demo(t testhost.T) {
	step(1, "starting an isolated test host")
	h := testhost.New(t, testhost.WithHostname("recd-demo"))
	fmt.Printf("   hostname %s, machine-id %s\n", h.Hostname(), h.MachineID())
	fmt.Println("   private mount, network, PID, UTS and IPC namespaces; /etc /usr /var /root are")
	fmt.Println("   copy-on-write overlays, /run /home /tmp are empty tmpfs: the machine's own files stay as they are.")

	step(2, "starting systemd-journald inside the host")
	h.StartJournald()
	fmt.Println("   journald is up; systemd-cat -> journalctl round-trips")

	step(3, "installing recd inside the host (make install PREFIX=/usr)")
	h.Install()
	fmt.Print(indent(h.MustRun(t, "ls", "-l", "/usr/sbin/recd", "/usr/bin/recctl", "/usr/bin/recd-session",
		"/usr/lib/x86_64-linux-gnu/libnss_recd.so.2", "/usr/lib/x86_64-linux-gnu/security/pam_recd.so")))

	step(4, "adding the demo user \"demo\" with an SSH key, and recording demo's sessions")
	u := h.AddUser("demo", testhost.UserShell("/bin/bash"))
	fmt.Printf("   uid %d, home %s\n", u.UID, u.Home)
	fmt.Print(indent(h.MustRun(t, "recctl", "enable", "--scope", "some")))
	fmt.Print(indent(h.MustRun(t, "recctl", "users", "add", "demo")))
	fmt.Print(indent(h.MustRun(t, "recctl", "check", "demo")))
	fmt.Print(indent(h.MustRun(t, "getent", "passwd", "demo")))
	// There is no systemd inside the test host: start recd by hand, as recd.service would.
	h.Start("recd", "/usr/sbin/recd")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := h.Run("recctl", "status"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recd did not start")
		}
	}
	fmt.Print(indent(h.MustRun(t, "recctl", "status")))

	step(5, "starting OpenSSH sshd on 127.0.0.1:%d inside the host (UsePAM yes)", testhost.DefaultSSHPort)
	h.StartSSHD(testhost.SSHDOptions{})
	fmt.Println("   sshd is listening")

	step(6, "a scripted interactive ssh session (ssh -tt through a pseudo-terminal)")
	s := h.SSHInteractive("demo")
	for _, c := range []struct{ cmd, want string }{
		{"echo hello from $(hostname) as $(id -un) with $SHELL", "hello from recd-demo as demo with /bin/bash"},
		{"echo $((6*7)) is the answer", "42 is the answer"},
		{"tty", "/dev/pts/"},
		{"ls -a ~ | head -5", ".bashrc"},
	} {
		if err := s.Expect("$ ", 10*time.Second); err != nil { // the shell's prompt
			t.Fatalf("%v", err)
		}
		fmt.Printf("   $ %s\n", c.cmd)
		if err := s.Send(c.cmd + "\r"); err != nil {
			t.Fatalf("%v", err)
		}
		if err := s.Expect(c.want, 10*time.Second); err != nil {
			t.Fatalf("%v", err)
		}
		fmt.Printf("     ok: saw %q\n", c.want)
	}
	if err := s.Expect("$ ", 10*time.Second); err != nil {
		t.Fatalf("%v", err)
	}
	if err := s.Send("exit 0\r"); err != nil {
		t.Fatalf("%v", err)
	}
	code, err := s.Wait(15 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("session ended with status %d: %v", code, err)
	}
	fmt.Println("   session ended with exit status 0; what the terminal showed:")
	fmt.Print(indent(plain(s.Transcript())))

	step(7, "the recording, as recctl lists and verifies it")
	var rec string
	for deadline := time.Now().Add(15 * time.Second); rec == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, e := range h.JournalJSON("RECD_EVENT=close") {
			if r := testhost.Field(e, "RECD_REC"); len(h.JournalJSON("RECD_REC="+r, "RECD_USER=demo")) > 0 {
				rec = r
			}
		}
	}
	if rec == "" {
		t.Fatalf("no closed recording of demo's session in the journal")
	}
	fmt.Print(indent(h.MustRun(t, "recctl", "list", "--user", "demo")))
	fmt.Print(indent(h.MustRun(t, "recctl", "verify", rec)))

	step(8, "playing it back: recctl play --raw %s", rec)
	played := h.MustRun(t, "recctl", "play", "--raw", rec)
	fmt.Print(indent(plain(played)))
	if !strings.Contains(played, "42 is the answer") {
		t.Fatalf("the playback lacks the session's output")
	}
	fmt.Printf("   (the same recording plays in Debian's tlog-play: tlog-play -r journal -M TLOG_REC=%s)\n", rec)
	tp := h.MustRun(t, "script", "-qec", "tlog-play --speed=100 -r journal -M TLOG_REC="+rec, "/dev/null")
	if !strings.Contains(tp, "42 is the answer") {
		t.Fatalf("tlog-play's playback lacks the session's output")
	}

	step(9, "tearing the test host down")
}

// ansi matches the terminal escape sequences of a bash prompt (colours, title, bracketed paste).
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07`)

func plain(s string) string {
	return strings.ReplaceAll(ansi.ReplaceAllString(s, ""), "\r", "")
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("   | " + l + "\n")
	}
	return b.String()
}
