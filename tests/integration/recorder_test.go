package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/chain"
	"github.com/recd-dev/recd/tests/testhost"
)

// recordHost is loginHost with recd-session as the recorder for the users the policy
// names, pam_recd also in su's stack (as `recctl enable` wires it), recd and sshd running.
// recorderConf is appended to the [recorder] section.
func recordHost(t *testing.T, policy, recorderConf string) (*testhost.Host, *testhost.Daemon) {
	t.Helper()
	h := loginHost(t)
	h.AddPAMRecd("su")
	h.WriteFile("/etc/recd/recd.conf", []byte("[session_recording]\n"+policy+"\n[recorder]\nrecorder = builtin\n"+recorderConf+"\n"), 0o644)
	h.MustRun(t, "recctl", "reload")
	recd := h.Start("recd", "/usr/sbin/recd")
	waitUntil(t, 5*time.Second, "recd answers", func() bool {
		_, err := h.Run("recctl", "status")
		return err == nil
	})
	h.StartSSHD(testhost.SSHDOptions{})
	return h, recd
}

// recordingsOf returns the distinct TLOG_REC values of user's tlog messages, in order.
func recordingsOf(t *testing.T, h *testhost.Host, user string) []string {
	t.Helper()
	var recs []string
	seen := map[string]bool{}
	for _, e := range h.JournalJSON("TLOG_USER=" + user) {
		if r := testhost.Field(e, "TLOG_REC"); r != "" && !seen[r] {
			seen[r] = true
			recs = append(recs, r)
		}
	}
	return recs
}

// recdEntries returns every entry recd wrote for recording rec, in journal order.
func recdEntries(t *testing.T, h *testhost.Host, rec string) []map[string]any {
	t.Helper()
	return h.JournalJSON("RECD_REC=" + rec)
}

// waitClosed waits until recording rec has its close entry and returns it.
func waitClosed(t *testing.T, h *testhost.Host, rec string, limit time.Duration) map[string]any {
	t.Helper()
	var closing map[string]any
	waitUntil(t, limit, "the close entry of "+rec, func() bool {
		for _, e := range recdEntries(t, h, rec) {
			if testhost.Field(e, "RECD_EVENT") == "close" {
				closing = e
				return true
			}
		}
		return false
	})
	return closing
}

// checkRecording is the test's own verifier, independent of recctl verify: the entries of
// rec are all from recd's journal writer (_UID=0, _COMM=tlog-rec-sessio), RECD_ENTRY and
// TLOG_ID are contiguous, the hash chain holds, and the close entry is last. It returns
// the tlog messages' MESSAGE values in order.
func checkRecording(t *testing.T, h *testhost.Host, rec string) []string {
	t.Helper()
	entries := recdEntries(t, h, rec)
	if len(entries) == 0 {
		t.Fatalf("no entries for recording %s", rec)
	}
	prev := chain.Seed(rec)
	var msgs []string
	wantID := 0
	for i, e := range entries {
		where := fmt.Sprintf("recording %s entry %d", rec, i+1)
		if uid, comm := testhost.Field(e, "_UID"), testhost.Field(e, "_COMM"); uid != "0" || comm != "tlog-rec-sessio" {
			t.Errorf("%s: _UID=%s _COMM=%s, want 0 and tlog-rec-sessio", where, uid, comm)
		}
		if n := testhost.Field(e, "RECD_ENTRY"); n != strconv.Itoa(i+1) {
			t.Errorf("%s: RECD_ENTRY=%s, want %d", where, n, i+1)
		}
		fields := map[string][]byte{}
		for k, v := range e {
			if s, ok := v.(string); ok {
				fields[k] = []byte(s)
			}
		}
		next := chain.Next(prev, fields)
		if got := testhost.Field(e, chain.Field); got != next {
			t.Errorf("%s: RECD_CHAIN=%s, want %s", where, got, next)
		}
		prev = next
		if testhost.Field(e, "RECD_EVENT") == "message" {
			wantID++
			if id := testhost.Field(e, "TLOG_ID"); id != strconv.Itoa(wantID) {
				t.Errorf("%s: TLOG_ID=%s, want %d", where, id, wantID)
			}
			if p := testhost.Field(e, "PRIORITY"); p != "6" {
				t.Errorf("%s: PRIORITY=%s, want 6", where, p)
			}
			msgs = append(msgs, testhost.Field(e, "MESSAGE"))
		}
		if i == len(entries)-1 && testhost.Field(e, "RECD_EVENT") != "close" {
			t.Errorf("recording %s: the last entry is %q, not the close entry", rec, testhost.Field(e, "RECD_EVENT"))
		}
	}
	return msgs
}

// tlogPlay replays rec with Debian's tlog-play from the journal and returns its output.
func tlogPlay(t *testing.T, h *testhost.Host, rec string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// tlog-play needs a terminal on stdin (tlog-format.md §4): script(1) gives it one.
	out, err := h.CommandContext(ctx, "script", "-qec", "tlog-play --speed=1000 -r journal -M TLOG_REC="+rec, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("tlog-play -r journal -M TLOG_REC=%s: %v\n%s", rec, err, out)
	}
	return string(out)
}

// An interactive ssh session is recorded by recd-session through recd: tlog-play replays
// it, each message is written by recd's writer as tlog-rec-sessio with _UID=0, the window
// change is in the recording, and the chain verifies.
func TestInteractiveSessionRecorded(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice", "")
	s := h.SSHInteractive("alice")
	if err := s.Expect("ATTENTION! Your session is being recorded!", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("$ ", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	steps := []struct{ send, want string }{
		{"echo marker-$((6*7)); echo shell=$SHELL\r", "marker-42"},
		{"printf 'wide:\\xe5\\xad\\x97 bad:\\xff\\xfe ctl:\\x01\\x7f end\\n'\r", "end"},
		{"stty size\r", "24 80"},
	}
	for _, st := range steps {
		if err := s.Send(st.send); err != nil {
			t.Fatal(err)
		}
		if err := s.Expect(st.want, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Resize(40, 120); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := s.Send("stty size\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("40 120", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("exit 3\r"); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Wait(20 * time.Second); err != nil || code != 3 {
		t.Fatalf("session: exit %d, %v, want 3", code, err)
	}

	recs := recordingsOf(t, h, "alice")
	if len(recs) != 1 {
		t.Fatalf("alice has %d recordings, want 1: %v", len(recs), recs)
	}
	closing := waitClosed(t, h, recs[0], 15*time.Second)
	if st := testhost.Field(closing, "RECD_STATUS"); st != "complete" {
		t.Errorf("close entry: RECD_STATUS=%s, want complete", st)
	}
	if es := testhost.Field(closing, "RECD_EXIT_STATUS"); es != "3" {
		t.Errorf("close entry: RECD_EXIT_STATUS=%s, want 3", es)
	}
	msgs := checkRecording(t, h, recs[0])
	all := strings.Join(msgs, "")
	for _, want := range []string{`"ver":"2.3"`, "=80x24", "=120x40", `wide:字 bad:`, `ctl:\u0001\u007f end`, `"out_bin":[255,254]`} {
		if !strings.Contains(all, want) {
			t.Errorf("the recording's messages lack %q", want)
		}
	}
	played := tlogPlay(t, h, recs[0])
	for _, want := range []string{"marker-42", "shell=/bin/bash", "40 120"} {
		if !strings.Contains(played, want) {
			t.Errorf("tlog-play output lacks %q:\n%s", want, played)
		}
	}
}

// scp and sftp carry binary data byte-identical through recd-session (no PTY in front of
// the protocol), and recd logs the commands' metadata.
func TestSCPAndSFTPPassThrough(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice", "")
	h.MustRun(t, "sh", "-c", "head -c 10485760 /dev/urandom > /root/up.bin")
	sum := func(p string) string {
		out := h.MustRun(t, "sha256sum", p)
		return strings.Fields(out)[0]
	}
	want := sum("/root/up.bin")
	// SSHArgs ends with -p PORT -l USER HOST; scp and sftp spell the port -P.
	args := h.SSHArgs("alice")
	port, ssh := args[len(args)-4], strings.Join(args[:len(args)-5], " ")
	scp := "scp -q -P " + port + " " + ssh
	// -O: the legacy SCP protocol (scp -t on the remote side); without it OpenSSH 9's
	// scp speaks SFTP (sftp-server on the remote side).
	h.MustRun(t, "sh", "-c", scp+" -O /root/up.bin alice@127.0.0.1:up.bin")
	if got := sum("/home/alice/up.bin"); got != want {
		t.Fatalf("scp upload: sha256 %s, want %s", got, want)
	}
	h.MustRun(t, "sh", "-c", scp+" alice@127.0.0.1:up.bin /root/down.bin")
	if got := sum("/root/down.bin"); got != want {
		t.Fatalf("scp download: sha256 %s, want %s", got, want)
	}
	sftp := "sftp -q -P " + port + " " + ssh + " -b - alice@127.0.0.1"
	h.MustRun(t, "sh", "-c", "printf 'put /root/up.bin sftp.bin\\nget sftp.bin /root/sftp-down.bin\\n' | "+sftp)
	if got := sum("/home/alice/sftp.bin"); got != want {
		t.Fatalf("sftp put: sha256 %s, want %s", got, want)
	}
	if got := sum("/root/sftp-down.bin"); got != want {
		t.Fatalf("sftp get: sha256 %s, want %s", got, want)
	}
	// Each command left an open entry with its command line and a close entry with its
	// byte counts: scp up, scp down, and one sftp session that moved the file both ways.
	var commands []string
	waitUntil(t, 10*time.Second, "metadata of the three sessions", func() bool {
		commands = nil
		for _, e := range h.JournalJSON("RECD_EVENT=open", "RECD_MODE=command") {
			commands = append(commands, testhost.Field(e, "RECD_COMMAND"))
		}
		return len(commands) >= 3 && len(h.JournalJSON("RECD_EVENT=close")) >= 3
	})
	var big int
	for _, e := range h.JournalJSON("RECD_EVENT=close") {
		in, _ := strconv.Atoi(testhost.Field(e, "RECD_RELAYED_IN"))
		out, _ := strconv.Atoi(testhost.Field(e, "RECD_RELAYED_OUT"))
		if in >= 10<<20 || out >= 10<<20 {
			big++
		}
	}
	if big < 3 {
		t.Errorf("%d close entries count ≥10 MiB relayed, want 3 (scp up, scp down, sftp)", big)
	}
	joined := strings.Join(commands, "\n")
	if !strings.Contains(joined, "scp -t") || !strings.Contains(joined, "sftp-server") {
		t.Errorf("the command metadata does not name scp -t and sftp-server (%d commands):\n%s", len(commands), joined)
	}
	if n := len(recordingsOf(t, h, "alice")); n != 0 {
		t.Errorf("record_commands = metadata wrote %d recordings with tlog messages, want none", n)
	}
}

// A nested su - inside a recorded session is not recorded a second time; the outer
// recording notes it and holds the inner shell's output.
func TestNestedSuIsOneRecording(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice, bob", "")
	h.AddUser("frank", testhost.UserPassword("frank-secret"), testhost.UserShell("/bin/bash"))
	h.MustRun(t, "recctl", "users", "add", "frank")
	s := h.SSHInteractive("alice")
	if err := s.Expect("$ ", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("su - frank\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("Password:", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("frank-secret\r"); err != nil {
		t.Fatal(err)
	}
	// su flushes what was typed ahead when it turns echo back on: wait for frank's prompt.
	if err := s.Expect("frank@", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Send("echo inner-$(id -un)-$((5*5))\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("inner-frank-25", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("exit\r")
	time.Sleep(200 * time.Millisecond)
	s.Send("exit\r")
	if _, err := s.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	outer := recordingsOf(t, h, "alice")
	if len(outer) != 1 {
		t.Fatalf("alice has %d recordings, want 1", len(outer))
	}
	if inner := recordingsOf(t, h, "frank"); len(inner) != 0 {
		t.Fatalf("the nested su was recorded again: frank has recordings %v", inner)
	}
	waitClosed(t, h, outer[0], 15*time.Second)
	msgs := checkRecording(t, h, outer[0])
	if !strings.Contains(strings.Join(msgs, ""), "inner-frank-25") {
		t.Error("the outer recording lacks the nested shell's output")
	}
	nested := false
	for _, e := range recdEntries(t, h, outer[0]) {
		if testhost.Field(e, "RECD_NOTE") == "nested" && testhost.Field(e, "RECD_NESTED_USER") == "frank" {
			nested = true
		}
	}
	if !nested {
		t.Error("the outer recording has no note of the nested login")
	}
}

// Without pam_loginuid there are no audit session ids; two concurrent logins are still two
// recordings (tlog records only one session per host then).
func TestConcurrentLoginsWithoutAuditSessions(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice", "")
	pam := string(h.ReadFile("/etc/pam.d/sshd"))
	h.WriteFile("/etc/pam.d/sshd", []byte(regexp.MustCompile(`(?m)^session\s+required\s+pam_loginuid\.so`).ReplaceAllString(pam, "#$0")), 0o644)
	var sessions []*testhost.Session
	for i := 0; i < 2; i++ {
		s := h.SSHInteractive("alice")
		if err := s.Expect("$ ", 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(fmt.Sprintf("echo concurrent-%d-$(cat /proc/self/sessionid)\r", i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Expect(fmt.Sprintf("concurrent-%d-", i), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	for _, s := range sessions {
		s.Send("exit\r")
		if _, err := s.Wait(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	recs := recordingsOf(t, h, "alice")
	if len(recs) != 2 {
		t.Fatalf("two concurrent logins gave %d recordings, want 2: %v", len(recs), recs)
	}
	for i, rec := range recs {
		waitClosed(t, h, rec, 15*time.Second)
		if all := strings.Join(checkRecording(t, h, rec), ""); !strings.Contains(all, "concurrent-") {
			t.Errorf("recording %d lacks its session's output", i)
		}
	}
}

// streamSession runs a session that prints numbered lines for a few seconds while fault
// runs, and checks that the recording replays every line exactly once, in order.
func streamSession(t *testing.T, h *testhost.Host, fault func()) {
	t.Helper()
	const lines = 300
	s := h.SSHInteractive("alice")
	if err := s.Expect("$ ", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(fmt.Sprintf("for i in $(seq 1 %d); do echo stream-line-$i; sleep 0.01; done; echo stream-done\r", lines)); err != nil {
		t.Fatal(err)
	}
	if err := s.Expect("stream-line-40", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	fault()
	if err := s.Expect("stream-done\r\n", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("exit\r")
	if _, err := s.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	recs := recordingsOf(t, h, "alice")
	if len(recs) != 1 {
		t.Fatalf("alice has %d recordings, want 1: %v", len(recs), recs)
	}
	closing := waitClosed(t, h, recs[0], 30*time.Second)
	if st := testhost.Field(closing, "RECD_STATUS"); st != "complete" {
		t.Errorf("close entry: RECD_STATUS=%s, want complete", st)
	}
	checkRecording(t, h, recs[0])
	played := tlogPlay(t, h, recs[0])
	seen := regexp.MustCompile(`stream-line-(\d+)\r\n`).FindAllStringSubmatch(played, -1)
	var got []int
	for _, m := range seen {
		n, _ := strconv.Atoi(m[1])
		got = append(got, n)
	}
	// The typed command line echoes "stream-line-$i" without a number: only output counts.
	if len(got) != lines || !sort.IntsAreSorted(got) || got[0] != 1 || got[len(got)-1] != lines {
		t.Fatalf("replay has %d numbered lines (want each of 1..%d once, in order): first %v", len(got), lines, head(got, 10))
	}
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("replay: line %d is stream-line-%d (gap or duplicate)", i+1, n)
		}
	}
}

func head(x []int, n int) []int {
	if len(x) < n {
		return x
	}
	return x[:n]
}

// kill -9 of recd while a session streams output, then recd restarted: the recording is
// complete, ids contiguous, chain intact.
func TestRecdKilledMidSession(t *testing.T) {
	t.Parallel()
	h, recd := recordHost(t, "scope = some\nusers = alice", "")
	streamSession(t, h, func() {
		recd.Signal(syscall.SIGKILL)
		time.Sleep(500 * time.Millisecond)
		h.Start("recd-restarted", "/usr/sbin/recd")
	})
}

// journald restarted while a session streams output: nothing is lost.
func TestJournaldRestartMidSession(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice", "")
	streamSession(t, h, func() { h.RestartJournald() })
}

// A user's process that claims someone else's recording is refused and writes nothing;
// an entry forged with logger carrying alice's TLOG_REC is not part of the chain.
func TestForeignClaimRefusedAndForgeryDetected(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice", "")
	client := testhost.BuildTool(t, "recdclient")
	s := h.SSHInteractive("alice")
	if err := s.Expect("$ ", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("echo victim-output\r")
	if err := s.Expect("victim-output", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var rec string
	waitUntil(t, 15*time.Second, "alice's recording in the journal", func() bool {
		r := recordingsOf(t, h, "alice")
		if len(r) == 1 {
			rec = r[0]
		}
		return rec != ""
	})
	out, err := h.Run("setpriv", "--reuid=bob", "--regid=bob", "--init-groups", client, "claim", rec)
	if code := exitCode(err); code != 0 {
		t.Fatalf("bob's claim of alice's recording: exit %d (1 = granted), %s", code, out)
	}
	if !strings.Contains(string(out), "refused") && !strings.Contains(string(out), "error") {
		t.Errorf("the refusal does not say why: %s", out)
	}
	// Forge an entry as alice herself, with logger's journal mode.
	forge := "MESSAGE={\"ver\":\"2.3\",\"id\":2}\nTLOG_REC=" + rec + "\nRECD_REC=" + rec + "\nTLOG_USER=alice\nTLOG_ID=2\nRECD_EVENT=message\n"
	cmd := h.Command("setpriv", "--reuid=alice", "--regid=alice", "--init-groups", "logger", "--journald")
	cmd.Stdin = strings.NewReader(forge)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger --journald: %v\n%s", err, out)
	}
	s.Send("exit\r")
	if _, err := s.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, h, rec, 15*time.Second)
	entries := recdEntries(t, h, rec)
	forged := 0
	for _, e := range entries {
		if testhost.Field(e, "_UID") != "0" {
			forged++
		}
		if strings.Contains(testhost.Field(e, "MESSAGE"), "FORGED-BY-RECDCLIENT") {
			t.Errorf("bob's client wrote into alice's recording")
		}
	}
	if forged != 1 {
		t.Fatalf("found %d entries not written by recd, want the 1 forged one", forged)
	}
	// recctl verify names the forged entry and fails.
	out, err = h.Run("recctl", "verify", rec)
	if exitCode(err) != 1 || !strings.Contains(strings.ToLower(string(out)), "forged") {
		t.Errorf("recctl verify of a recording with a forged entry: exit %d\n%s", exitCode(err), out)
	}
}

// With log_input on, a password typed at sudo's prompt (echo off) is not in the journal,
// and the recording says input was withheld.
func TestSudoPasswordNotRecorded(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Fatal("sudo is not installed (make deps installs it)")
	}
	h, _ := recordHost(t, "scope = some\nusers = grace", "log_input = true")
	const secret = "Pw-not-in-journal-7731"
	h.AddUser("grace", testhost.UserPassword(secret), testhost.UserShell("/bin/bash"))
	h.MustRun(t, "recctl", "reload")
	h.WriteFile("/etc/sudoers.d/grace", []byte("grace ALL=(ALL) ALL\n"), 0o440)
	s := h.SSHInteractive("grace")
	if err := s.Expect("$ ", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("sudo -k; sudo true && echo sudo-ok\r")
	if err := s.Expect("password", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send(secret + "\r")
	if err := s.Expect("sudo-ok", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("echo typed-visible\r")
	if err := s.Expect("typed-visible", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Send("exit\r")
	if _, err := s.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	recs := recordingsOf(t, h, "grace")
	if len(recs) != 1 {
		t.Fatalf("grace has %d recordings, want 1", len(recs))
	}
	waitClosed(t, h, recs[0], 15*time.Second)
	journal := h.Journal("-o", "export")
	if strings.Contains(journal, secret) || strings.Contains(journal, strings.Join(strings.Split(secret, ""), ",")) {
		t.Fatal("the sudo password is in the journal")
	}
	msgs := strings.Join(checkRecording(t, h, recs[0]), "")
	if !strings.Contains(msgs, `"in_txt":"echo typed-visible`) && !strings.Contains(msgs, "typed-visible") {
		t.Error("input typed with echo on was not recorded although log_input = true")
	}
	withheld := false
	for _, e := range recdEntries(t, h, recs[0]) {
		if testhost.Field(e, "RECD_NOTE") == "input-withheld" {
			withheld = true
		}
	}
	if !withheld {
		t.Error("the recording does not say that input was withheld")
	}
}

// No file `make install` lays down has a SUID or SGID bit.
func TestNoSetuidFilesInstalled(t *testing.T) {
	t.Parallel()
	repo, err := testhost.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", repo, "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install DESTDIR=%s: %v\n%s", dest, err, out)
	}
	n := 0
	err = filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		n++
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
			t.Errorf("%s is %v", strings.TrimPrefix(p, dest), fi.Mode())
		}
		return nil
	})
	if err != nil || n < 8 {
		t.Fatalf("walking the install tree: %v (%d files)", err, n)
	}
}
