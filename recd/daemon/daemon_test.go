package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// fakeConfig activates whatever recd.conf says, failing when it contains "broken".
type fakeConfig struct {
	path     string
	calls    atomic.Int32
	last     atomic.Value
	sawEmpty atomic.Bool // activate() read an empty file
}

func (f *fakeConfig) activate() (string, error) {
	f.calls.Add(1)
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		f.sawEmpty.Store(true)
	}
	if strings.Contains(string(b), "broken") {
		return "", errors.New(f.path + ":1: broken")
	}
	f.last.Store(string(b))
	return strings.TrimSpace(string(b)), nil
}

func startDaemon(t *testing.T) (*Daemon, *fakeConfig, string) {
	t.Helper()
	return startDaemonWith(t, func(*Options) {})
}

// startDaemonWith is startDaemon with options adjusted by tune before New.
func startDaemonWith(t *testing.T, tune func(*Options)) (*Daemon, *fakeConfig, string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "recd.conf")
	if err := os.WriteFile(conf, []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fc := &fakeConfig{path: conf}
	sock := filepath.Join(dir, "run", "recd.sock")
	opts := Options{
		ConfigPath: conf, DropinDir: filepath.Join(dir, "conf.d"),
		WatchFiles: []string{filepath.Join(dir, "passwd")},
		SocketPath: sock, Activate: fc.activate, Log: log.New(io.Discard, "", 0),
		JournalSocket: filepath.Join(dir, "no-journal.socket"),
	}
	tune(&opts)
	d := New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("recd did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return d, fc, dir
}

// waitFor polls cond for up to limit and reports how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func TestReloadsOnChange(t *testing.T) {
	d, fc, dir := startDaemon(t)
	if got := d.Status(); got.Reloads != 1 || got.PolicySummary != "v1" {
		t.Fatalf("after start: %+v", got)
	}
	tests := []struct {
		name  string
		write func() error
		want  string
	}{
		{"edit in place", func() error { return os.WriteFile(fc.path, []byte("v2\n"), 0o644) }, "v2"},
		{"replace by rename", func() error {
			tmp := filepath.Join(dir, ".recd.conf.tmp")
			if err := os.WriteFile(tmp, []byte("v3\n"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, fc.path)
		}, "v3"},
		{"drop-in directory created later", func() error {
			if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(fc.path, []byte("v4\n"), 0o644)
		}, "v4"},
		{"drop-in file", func() error {
			before := fc.calls.Load()
			if err := os.WriteFile(filepath.Join(dir, "conf.d", "10-x.conf"), nil, 0o644); err != nil {
				return err
			}
			waitFor(t, time.Second, "drop-in triggers a reload", func() bool { return fc.calls.Load() > before })
			return os.WriteFile(fc.path, []byte("v5\n"), 0o644)
		}, "v5"},
		{"passwd change", func() error {
			before := fc.calls.Load()
			if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte("x"), 0o644); err != nil {
				return err
			}
			waitFor(t, time.Second, "passwd triggers a reload", func() bool { return fc.calls.Load() > before })
			return os.WriteFile(fc.path, []byte("v6\n"), 0o644)
		}, "v6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(); err != nil {
				t.Fatal(err)
			}
			took := waitFor(t, time.Second, "reload", func() bool { return d.Status().PolicySummary == tc.want })
			t.Logf("activated %s after %v", tc.want, took)
		})
	}
}

func TestBrokenEditKeepsLastGoodPolicy(t *testing.T) {
	d, fc, _ := startDaemon(t)
	if err := os.WriteFile(fc.path, []byte("broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "error recorded", func() bool { return d.Status().LastError != "" })
	st := d.Status()
	if st.PolicySummary != "v1" || !strings.Contains(st.LastError, "broken") {
		t.Fatalf("status after a broken edit: %+v", st)
	}
	if err := os.WriteFile(fc.path, []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "recovery", func() bool { st := d.Status(); return st.LastError == "" && st.PolicySummary == "v2" })
}

func TestSocketRequests(t *testing.T) {
	_, _, dir := startDaemon(t)
	c, err := net.Dial("unix", filepath.Join(dir, "run", "recd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		req     proto.Request
		wantOK  bool
		wantErr string
	}{
		{proto.Request{Op: "status"}, true, ""},
		{proto.Request{Op: "reload"}, os.Getuid() == 0, "root only"},
		{proto.Request{Op: "rm -rf"}, false, "unknown operation"},
	}
	for _, tc := range tests {
		if err := proto.WriteJSON(c, tc.req); err != nil {
			t.Fatal(err)
		}
		var resp proto.Response
		if err := proto.ReadJSON(c, &resp); err != nil {
			t.Fatalf("%s: %v", tc.req.Op, err)
		}
		if resp.OK != tc.wantOK || (!resp.OK && !strings.Contains(resp.Error, tc.wantErr)) {
			t.Errorf("%s: got %+v", tc.req.Op, resp)
		}
		if resp.OK && (resp.Status == nil || resp.Status.PID != os.Getpid()) {
			t.Errorf("%s: no status in %+v", tc.req.Op, resp)
		}
	}
}

func TestReloadNeedsRoot(t *testing.T) {
	d := New(Options{Activate: func() (string, error) { t.Fatal("activated for a non-root client"); return "", nil }, Log: log.New(io.Discard, "", 0),
		JournalSocket: filepath.Join(t.TempDir(), "no-journal.socket")})
	resp := d.answer(&syscall.Ucred{Pid: 42, Uid: 1000}, proto.Request{Op: "reload"})
	if resp.OK || !strings.Contains(resp.Error, "uid 1000") {
		t.Fatalf("got %+v", resp)
	}
}

func TestGarbageGetsAnErrorNotACrash(t *testing.T) {
	_, _, dir := startDaemon(t)
	c, err := net.Dial("unix", filepath.Join(dir, "run", "recd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := proto.WriteFrame(c, proto.Frame{Type: proto.TypeJSON, Payload: []byte("{not json")}); err != nil {
		t.Fatal(err)
	}
	var resp proto.Response
	if err := proto.ReadJSON(c, &resp); err != nil || resp.OK || !strings.Contains(resp.Error, "bad request") {
		t.Fatalf("got %+v, %v", resp, err)
	}
}

// A writer that truncates recd.conf and writes it a moment later (shell redirection, most
// editors' "save") must not get the empty file activated: that would silently stop recording.
// The race needs an earlier event still settling (here a passwd change) when the truncation
// comes; the timings are wide so that only the logic, not the scheduler, decides.
func TestHalfWrittenFileIsNotActivated(t *testing.T) {
	const settle = 200 * time.Millisecond
	_, fc, dir := startDaemonWith(t, func(o *Options) { o.Debounce = settle })
	conf := filepath.Join(dir, "recd.conf")
	for i := 0; i < 3; i++ {
		if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(settle * 3 / 4)
		f, err := os.OpenFile(conf, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(settle / 2) // a slow writer, but one that pauses for less than the settle time
		want := fmt.Sprintf("v%d\n", i+2)
		if _, err := f.WriteString(want); err != nil {
			t.Fatal(err)
		}
		f.Close()
		waitFor(t, 5*time.Second, "the written file activated", func() bool { return fc.last.Load() == want })
		if fc.sawEmpty.Load() {
			t.Fatalf("round %d: recd read recd.conf while it was truncated and not yet written", i)
		}
	}
}
