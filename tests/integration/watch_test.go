package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/recd-dev/recd/tests/testhost"
)

// stampedOutput collects what a command prints and when each marker first showed.
type stampedOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	re      *regexp.Regexp
	seen    map[string]time.Time // marker value → when the write that completed it returned
	changed chan struct{}
}

func newStampedOutput(re *regexp.Regexp) *stampedOutput {
	return &stampedOutput{re: re, seen: map[string]time.Time{}, changed: make(chan struct{})}
}

func (s *stampedOutput) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for _, m := range s.re.FindAllSubmatch(s.buf.Bytes(), -1) {
		if _, ok := s.seen[string(m[1])]; !ok {
			s.seen[string(m[1])] = now
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

func (s *stampedOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// wait waits until cond holds for what was printed.
func (s *stampedOutput) wait(t *testing.T, limit time.Duration, what string, cond func(out string, seen map[string]time.Time) bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		s.mu.Lock()
		ok, ch := cond(s.buf.String(), s.seen), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: not within %v; output so far:\n%q", what, limit, s.String())
		}
	}
}

// sessionRow is a row of recctl sessions --json.
type sessionRow struct {
	ID, User, TTY, From, Mode, Started string
	Bytes                              uint64
	Connected                          bool
}

func sessionsJSON(t *testing.T, h *testhost.Host, asUser string) []sessionRow {
	t.Helper()
	stdout, stderr, code := runAs(h, asUser, "recctl", "sessions", "--json")
	if code != 0 {
		t.Fatalf("recctl sessions --json as %s: exit %d\n%s", asUser, code, stderr)
	}
	var rows []sessionRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("recctl sessions --json as %s: %v\n%s", asUser, err, stdout)
	}
	return rows
}

// runAs runs a command inside the host as user (root when ""), with runuser, which sets
// the user's groups as a login does; it returns stdout, stderr and the exit status.
func runAs(h *testhost.Host, user string, name string, args ...string) (string, string, int) {
	if user != "" && user != "root" {
		args = append([]string{"-u", user, "--", name}, args...)
		name = "runuser"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := h.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), exitCode(err)
}

// openRecording waits for the open entry of user's recording on tty and returns its ID.
func openRecording(t *testing.T, h *testhost.Host, user, tty string) string {
	t.Helper()
	var rec string
	waitUntil(t, 10*time.Second, "the open entry of "+user+"'s recording on "+tty, func() bool {
		for _, e := range h.JournalJSON("RECD_EVENT=open", "RECD_USER="+user) {
			if testhost.Field(e, "RECD_TTY") == tty {
				rec = testhost.Field(e, "RECD_REC")
			}
		}
		return rec != ""
	})
	return rec
}

// liveRecording returns the ID of user's recording in progress on tty, as recctl sessions
// shows it to root (a terminal is reused by later logins; a recording in progress is
// unique to it).
func liveRecording(t *testing.T, h *testhost.Host, user, tty string) string {
	t.Helper()
	for _, r := range sessionsJSON(t, h, "root") {
		if r.User == user && r.TTY == tty {
			return r.ID
		}
	}
	t.Fatalf("recctl sessions shows no recording of %s on %s", user, tty)
	return ""
}

// ttyOf asks the session's shell for the login's terminal: the recorder's (the shell runs
// on the recorder's own pseudo-terminal inside it).
func ttyOf(t *testing.T, s *testhost.Session) string {
	t.Helper()
	if err := s.Send("echo tty=/dev/$(ps -o tty= -p $PPID)\r"); err != nil {
		t.Fatal(err)
	}
	m, err := s.ExpectRegexp(regexp.MustCompile(`tty=(/dev/pts/\d+)`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return m[1]
}

// recctl watch shows what a recorded ssh session prints within 200 ms of the shell
// printing it, and recctl sessions lists the session with its user, terminal and
// recording ID.
func TestWatchLiveSessionLatency(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice", "")
	s := h.SSHInteractive("alice")
	if err := s.Expect("$ ", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	tty := ttyOf(t, s)
	rec := openRecording(t, h, "alice", tty)

	rows := sessionsJSON(t, h, "root")
	if len(rows) != 1 || rows[0].ID != rec || rows[0].User != "alice" || rows[0].TTY != tty || rows[0].Mode != "tty" || !rows[0].Connected ||
		rows[0].From != "127.0.0.1" {
		t.Fatalf("recctl sessions --json: %+v, want alice's recording %s on %s from 127.0.0.1", rows, rec, tty)
	}
	table := h.MustRun(t, "recctl", "sessions")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 {
		t.Fatalf("recctl sessions:\n%s", table)
	}
	f := strings.Fields(lines[1])
	if len(f) < 7 || f[0] != "alice" || f[1] != strings.TrimPrefix(tty, "/dev/") || f[2] != "127.0.0.1" || f[len(f)-1] != rec || f[len(f)-2] != "recording" {
		t.Fatalf("recctl sessions row %q, want alice %s 127.0.0.1 ... recording %s", lines[1], strings.TrimPrefix(tty, "/dev/"), rec)
	}

	// The watcher: recctl watch --raw as root, its output time-stamped as it arrives.
	watchOut := newStampedOutput(regexp.MustCompile(`watch-marker-(\d{19})`))
	var watchErr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	watch := h.CommandContext(ctx, "recctl", "watch", "--raw", rec)
	watch.Stdout, watch.Stderr = watchOut, &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- watch.Wait() }()
	// The snapshot shows the screen so far: the tty line printed before the watch began.
	watchOut.wait(t, 10*time.Second, "the snapshot", func(out string, _ map[string]time.Time) bool {
		return strings.Contains(out, "tty="+tty)
	})

	const rounds = 10
	var fromShell, fromPTY []time.Duration
	for i := 0; i < rounds; i++ {
		// The shell stamps the marker with the time it prints it (the host shares the
		// machine's clock); the driver's terminal and the watcher stamp when they see it.
		if err := s.Send(fmt.Sprintf("echo watch-marker-$(date +%%s%%N) %d\r", i)); err != nil {
			t.Fatal(err)
		}
		m, err := s.ExpectRegexp(regexp.MustCompile(`watch-marker-(\d{19}) `+strconv.Itoa(i)), 10*time.Second)
		ptySaw := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		var watcherSaw time.Time
		watchOut.wait(t, 10*time.Second, "marker "+m[1]+" in recctl watch", func(_ string, seen map[string]time.Time) bool {
			watcherSaw = seen[m[1]]
			return !watcherSaw.IsZero()
		})
		ns, _ := strconv.ParseInt(m[1], 10, 64)
		printed := time.Unix(0, ns)
		fromShell = append(fromShell, watcherSaw.Sub(printed))
		fromPTY = append(fromPTY, watcherSaw.Sub(ptySaw))
		time.Sleep(50 * time.Millisecond)
	}
	sorted := append([]time.Duration(nil), fromShell...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("watch latency, shell printed → recctl watch printed, %d rounds: min %v, median %v, max %v (all: %v)",
		rounds, sorted[0], sorted[rounds/2], sorted[rounds-1], fromShell)
	t.Logf("watch latency, driver's ssh terminal saw it → recctl watch printed: %v", fromPTY)
	if sorted[rounds-1] >= 200*time.Millisecond {
		t.Errorf("recctl watch showed a marker %v after the shell printed it; the limit is 200ms", sorted[rounds-1])
	}

	// On a terminal: the current screen, a status line with the user, the window and LIVE,
	// then live output; q quits.
	tw := h.Command("recctl", "watch", rec)
	ptm, err := pty.StartWithSize(tw, &pty.Winsize{Rows: 30, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	ttyOut := newStampedOutput(regexp.MustCompile(`(tty-view-\d+)`))
	go io.Copy(ttyOut, ptm)
	ttyOut.wait(t, 10*time.Second, "the status line", func(o string, _ map[string]time.Time) bool {
		return strings.Contains(o, " alice  "+strings.TrimPrefix(tty, "/dev/")+"  from 127.0.0.1  ") && strings.Contains(o, "80x24  LIVE  | q quit")
	})
	if err := s.Resize(40, 100); err != nil {
		t.Fatal(err)
	}
	s.Send("echo tty-view-$((40+2))\r")
	ttyOut.wait(t, 10*time.Second, "live output and the new window in the terminal view", func(o string, seen map[string]time.Time) bool {
		return !seen["tty-view-42"].IsZero() && strings.Contains(o, "100x40  LIVE")
	})
	if _, err := ptm.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	ttyDone := make(chan error, 1)
	go func() { ttyDone <- tw.Wait() }()
	select {
	case err := <-ttyDone:
		if err != nil {
			t.Errorf("recctl watch on a terminal, quit with q: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("recctl watch did not quit on q:\n%q", ttyOut.String())
	}

	// Ending the session ends the watch with the recording's status.
	if err := s.Send("exit\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-watchDone:
		if err != nil || !strings.Contains(watchErr.String(), "ended: complete") {
			t.Errorf("recctl watch: %v\n%s", err, watchErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("recctl watch did not end with the session:\n%s", watchErr.String())
	}
	if !strings.Contains(h.Journal("MESSAGE_ID=0b8f3ac4e1d94c5e9a6f2d7c31e8b540", "-o", "cat"), "watched live by uid 0 (root)") {
		t.Errorf("recd did not log the watch")
	}
	if rows := sessionsJSON(t, h, "root"); len(rows) != 0 {
		t.Errorf("recctl sessions after the logout: %+v", rows)
	}
}

// Access to recordings as users in and out of the auditors group, on a real system
// journal: alice (may read the journal: systemd-journal) sees and plays only her own
// recordings and sessions, and may not watch; bob (may not read the journal) gets a clear
// error and exit status 4 from list and play, never an empty list, sees only his own
// sessions and may not watch; audrey (auditors, and systemd-journal for the journal files)
// lists, plays, sees and watches everyone's.
func TestAccessAuditorsAndUsers(t *testing.T) {
	t.Parallel()
	h, _ := recordHost(t, "scope = some\nusers = alice, bob", "\n[access]\nauditors = auditors\n")
	if _, err := h.Run("getent", "group", "systemd-journal"); err != nil {
		h.AddGroup("systemd-journal", 0)
	}
	h.AddGroup("auditors", 1600)
	h.AddUser("audrey", testhost.UserGroups("auditors", "systemd-journal"))
	h.MustRun(t, "usermod", "-a", "-G", "systemd-journal", "alice")
	// As systemd-tmpfiles sets up /var/log/journal: group systemd-journal, readable by the
	// group, new files inheriting the group.
	h.Shell(`chgrp -R systemd-journal /var/log/journal
chmod -R g+rX /var/log/journal
find /var/log/journal -type d -exec chmod g+s {} +`)

	// One finished recording each of alice and bob, and a live session each.
	finished := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		s := h.SSHInteractive(u)
		if err := s.Expect("$ ", 15*time.Second); err != nil {
			t.Fatal(err)
		}
		rec := liveRecording(t, h, u, ttyOf(t, s))
		s.Send("echo " + u + "-was-$((6*7))\r")
		if err := s.Expect(u+"-was-42", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		s.Send("exit\r")
		if _, err := s.Wait(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		finished[u] = rec
		waitClosed(t, h, rec, 20*time.Second)
	}
	live := map[string]string{}
	liveSession := map[string]*testhost.Session{}
	for _, u := range []string{"alice", "bob"} {
		s := h.SSHInteractive(u)
		if err := s.Expect("$ ", 15*time.Second); err != nil {
			t.Fatal(err)
		}
		live[u] = liveRecording(t, h, u, ttyOf(t, s))
		liveSession[u] = s
	}
	recA, recB := finished["alice"], finished["bob"]
	t.Logf("alice: %s (finished), %s (live); bob: %s (finished), %s (live)", recA, live["alice"], recB, live["bob"])

	listIDs := func(user string) ([]string, string, int) {
		stdout, stderr, code := runAs(h, user, "recctl", "list", "--json")
		var rows []struct{ ID, User string }
		if code == 0 {
			if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
				t.Fatalf("recctl list --json as %s: %v\n%s", user, err, stdout)
			}
		} else if strings.TrimSpace(stdout) != "" {
			t.Errorf("recctl list as %s failed (exit %d) but printed %q", user, code, stdout)
		}
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		sort.Strings(ids)
		return ids, stderr, code
	}
	sorted := func(ids ...string) string { sort.Strings(ids); return strings.Join(ids, " ") }

	// list
	if ids, stderr, code := listIDs("alice"); code != 0 || strings.Join(ids, " ") != sorted(recA, live["alice"]) {
		t.Errorf("alice: recctl list: exit %d, %v, want her own %s %s\n%s", code, ids, recA, live["alice"], stderr)
	}
	if _, stderr, code := runAs(h, "alice", "recctl", "list", "--user", "bob"); code != 4 || !strings.Contains(stderr, "you may list only your own recordings") {
		t.Errorf("alice: recctl list --user bob: exit %d\n%s", code, stderr)
	}
	if ids, stderr, code := listIDs("bob"); code != 4 || len(ids) != 0 || !strings.Contains(stderr, "cannot read the journal") {
		t.Errorf("bob: recctl list: exit %d, %v, want exit 4 and a clear error\n%s", code, ids, stderr)
	} else {
		t.Logf("bob: recctl list: exit 4:\n%s", stderr)
	}
	if ids, stderr, code := listIDs("audrey"); code != 0 || strings.Join(ids, " ") != sorted(recA, recB, live["alice"], live["bob"]) {
		t.Errorf("audrey: recctl list: exit %d, %v, want all four\n%s", code, ids, stderr)
	}

	// play
	playCase := []struct {
		user, rec string
		code      int
		out, err  string
	}{
		{"alice", recA, 0, "alice-was-42", ""},
		{"alice", recB, 4, "", "is bob's: only root and members of the auditors group"},
		{"bob", recB, 4, "", "cannot read the journal"},
		{"audrey", recB, 0, "bob-was-42", ""},
		{"audrey", recA, 0, "alice-was-42", ""},
	}
	for _, c := range playCase {
		stdout, stderr, code := runAs(h, c.user, "recctl", "play", "--raw", c.rec)
		if code != c.code || !strings.Contains(stdout, c.out) || !strings.Contains(stderr, c.err) || c.code != 0 && stdout != "" {
			t.Errorf("%s: recctl play %s: exit %d, want %d; stdout %q; stderr %q (want %q)", c.user, c.rec, code, c.code, stdout, stderr, c.err)
		}
	}

	// sessions
	for user, want := range map[string]string{"alice": live["alice"], "bob": live["bob"], "audrey": sorted(live["alice"], live["bob"]), "root": sorted(live["alice"], live["bob"])} {
		var ids []string
		for _, r := range sessionsJSON(t, h, user) {
			ids = append(ids, r.ID)
		}
		if got := sorted(ids...); got != want {
			t.Errorf("%s: recctl sessions: %s, want %s", user, got, want)
		}
	}
	if _, stderr, _ := runAs(h, "bob", "recctl", "sessions"); !strings.Contains(stderr, "only your own sessions are shown") {
		t.Errorf("bob: recctl sessions does not say it shows his own only: %q", stderr)
	}

	// watch: only root and auditors, not even a user's own session.
	for _, c := range []struct{ user, rec, why string }{
		{"alice", live["bob"], "alice is not a member of the auditors group auditors"},
		{"alice", live["alice"], "alice is not a member of the auditors group auditors"},
		{"bob", live["alice"], "bob is not a member of the auditors group auditors"},
	} {
		stdout, stderr, code := runAs(h, c.user, "recctl", "watch", "--raw", c.rec)
		if code != 4 || stdout != "" || !strings.Contains(stderr, "watching a session is for root and the auditors group") || !strings.Contains(stderr, c.why) {
			t.Errorf("%s: recctl watch %s: exit %d (want 4), stdout %q, stderr %q", c.user, c.rec, code, stdout, stderr)
		} else if c.user == "bob" {
			t.Logf("bob: recctl watch: exit 4: %s", stderr)
		}
	}
	// audrey watches alice's live session until it ends.
	out := newStampedOutput(regexp.MustCompile(`(audited-\d+)`))
	var errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := h.CommandContext(ctx, "runuser", "-u", "audrey", "--", "recctl", "watch", "--raw", live["alice"])
	w.Stdout, w.Stderr = out, &errOut
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	out.wait(t, 10*time.Second, "audrey's watch starts", func(o string, _ map[string]time.Time) bool { return strings.Contains(o, "tty=") })
	sa := liveSession["alice"]
	sa.Send("echo audited-$((1000+7))\r")
	out.wait(t, 10*time.Second, "audrey sees alice's output", func(_ string, seen map[string]time.Time) bool { return !seen["audited-1007"].IsZero() })
	sa.Send("exit\r")
	if _, err := sa.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(errOut.String(), "ended: complete") {
			t.Errorf("audrey's watch: %v\n%s", err, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("audrey's watch did not end with the session")
	}
	// recd logged who watched; the refusals too.
	if log := h.Journal("-t", "recd", "-o", "cat"); !strings.Contains(log, "watched live by uid "+strconv.Itoa(h.LookupUser("audrey").UID)+" (audrey)") {
		t.Errorf("recd's log does not name audrey as a watcher")
	}
	liveSession["bob"].Send("exit\r")
	liveSession["bob"].Wait(20 * time.Second)
}
