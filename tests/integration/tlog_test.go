package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// With `recorder = tlog`, SSSD's role is fully replaced: NSS hands alice Debian's real
// tlog-rec-session, pam_recd exports her shell and the [recorder] settings, tlog records
// the session into the host's journal, and tlog-play plays it back.
func TestTlogRecorderRecordsSSHSession(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tlog-rec-session"); err != nil {
		t.Fatal("tlog-rec-session is not installed (make deps installs Debian's tlog package)")
	}
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", "tlog")
	h.MustRun(t, "recctl", "reload")
	if got := shellOf(t, h, "alice"); got != "/usr/bin/tlog-rec-session" {
		t.Fatalf("alice's shell through NSS is %q, want tlog-rec-session", got)
	}
	h.StartSSHD(testhost.SSHDOptions{})

	s := h.SSHInteractive("alice")
	defer s.Close()
	if err := s.Expect("ATTENTION! Your session is being recorded!", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// tlog puts the terminal in raw mode with TCSAFLUSH, discarding what was typed before:
	// wait for bash's prompt.
	if err := s.Expect("$ ", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("echo tlog-marker-$((6*7)); echo shell=$SHELL\r"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tlog-marker-42", "shell=/bin/bash"} {
		if err := s.Expect(want, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send("exit\r"); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Wait(15 * time.Second); err != nil || code != 0 {
		t.Fatalf("session: exit %d, %v\n%s", code, err, s.Transcript())
	}

	// Find the recording: tlog augments every message with TLOG_REC and TLOG_USER.
	var rec string
	waitUntil(t, 10*time.Second, "tlog's messages in the journal", func() bool {
		for _, e := range h.JournalJSON("TLOG_USER=alice") {
			if r := testhost.Field(e, "TLOG_REC"); r != "" {
				rec = r
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// tlog-play needs a terminal on stdin (with /dev/null it spins, tlog-format.md §7.8):
	// give it one with script(1).
	out, err := h.CommandContext(ctx, "script", "-qec", "tlog-play --speed=10 -r journal -M TLOG_REC="+rec, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("tlog-play -r journal -M TLOG_REC=%s: %v\n%s", rec, err, out)
	}
	if !strings.Contains(string(out), "tlog-marker-42") {
		t.Fatalf("tlog-play output lacks the session's output:\n%s", out)
	}
}
