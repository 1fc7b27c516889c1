package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// scriptedRecd answers requests on a socket of its own with serve (one call per connection).
func scriptedRecd(t *testing.T, serve func(c net.Conn, req proto.Request)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rc-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "recd.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var req proto.Request
				if err := proto.ReadJSON(c, &req); err != nil {
					return
				}
				serve(c, req)
			}()
		}
	}()
	return path
}

var activeRecs = []proto.ActiveRecording{
	{Rec: "0123-100-aa", User: "alice", UID: 1000, Service: "sshd", TTY: "/dev/pts/1", RHost: "10.0.0.5", Mode: proto.ModeTTY,
		RecorderPID: 100, AuditSession: 3, Started: "2026-11-01T10:00:00Z", Messages: 4, BytesOut: 1234, Connected: true},
	{Rec: "0123-200-bb", User: "bob", UID: 1001, Service: "sshd", TTY: "ssh", Mode: proto.ModeCommand,
		RecorderPID: 200, AuditSession: 4, Started: "2026-11-01T10:05:00Z", BytesOut: 0, Connected: false},
}

func TestSessionsCommand(t *testing.T) {
	e := newEnv(t, "[access]\nauditors = wheel\n")
	var asked []string
	e.app.SocketPath = scriptedRecd(t, func(c net.Conn, req proto.Request) {
		asked = append(asked, req.Op)
		_ = proto.WriteJSON(c, proto.Response{OK: true, Recordings: activeRecs})
	})
	if code := e.run("sessions"); code != ExitOK {
		t.Fatalf("sessions: %d\n%s", code, e.stderr)
	}
	lines := strings.Split(strings.TrimSpace(e.stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", e.stdout)
	}
	for i, want := range [][]string{
		{"USER", "TTY", "FROM", "STARTED", "BYTES", "STATE", "ID"},
		{"alice", "pts/1", "10.0.0.5", localTime("2026-11-01T10:00:00Z"), "1234", "recording", "0123-100-aa"},
		{"bob", "sshd/command", "-", localTime("2026-11-01T10:05:00Z"), "0", "reconnecting", "0123-200-bb"},
	} {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != strings.Join(want, " ") {
			t.Errorf("line %d: %q, want %q", i, got, strings.Join(want, " "))
		}
	}
	if len(asked) != 1 || asked[0] != proto.OpSessions || e.stderr.Len() != 0 {
		t.Errorf("asked %v; stderr %q", asked, e.stderr)
	}

	if code := e.run("sessions", "--json"); code != ExitOK {
		t.Fatalf("sessions --json: %d\n%s", code, e.stderr)
	}
	var rows []sessionRow
	if err := json.Unmarshal(e.stdout.Bytes(), &rows); err != nil {
		t.Fatalf("%v\n%s", err, e.stdout)
	}
	if len(rows) != 2 || rows[0].ID != "0123-100-aa" || rows[0].From != "10.0.0.5" || rows[0].TTY != "/dev/pts/1" || rows[0].Bytes != 1234 ||
		!rows[0].Connected || rows[1].Connected || rows[1].Mode != "command" {
		t.Errorf("json rows %+v", rows)
	}

	// A user who is not an auditor is told that recd showed their own only.
	e.app.UID = 1000
	if code := e.run("sessions"); code != ExitOK || !strings.Contains(e.stderr.String(), "only your own sessions are shown") {
		t.Errorf("alice: %d %q", code, e.stderr)
	}
	e.app.UID = 1001 // bob, in wheel, the auditors group
	if code := e.run("sessions"); code != ExitOK || e.stderr.Len() != 0 {
		t.Errorf("bob: %d %q", code, e.stderr)
	}
}

func TestSessionsWithoutRecd(t *testing.T) {
	e := newEnv(t, "")
	e.app.SocketPath = filepath.Join(t.TempDir(), "nobody.sock")
	if code := e.run("sessions"); code != ExitUnreachable || !strings.Contains(e.stderr.String(), "recd is not running") || e.stdout.Len() != 0 {
		t.Fatalf("sessions without recd: %d\n%s%s", code, e.stdout, e.stderr)
	}
	if code := e.run("watch", "x"); code != ExitUnreachable || !strings.Contains(e.stderr.String(), "recd is not running") {
		t.Fatalf("watch without recd: %d\n%s", code, e.stderr)
	}
	e.app.SocketPath = scriptedRecd(t, func(c net.Conn, req proto.Request) {
		_ = proto.WriteJSON(c, proto.Response{Error: "unknown operation \"" + req.Op + "\""})
	})
	if code := e.run("sessions"); code != ExitUsage || !strings.Contains(e.stderr.String(), `recd refused: unknown operation "sessions"`) {
		t.Fatalf("old recd: %d\n%s", code, e.stderr)
	}
	if code := e.run("watch", "x"); code != ExitUsage || !strings.Contains(e.stderr.String(), `recd refused: unknown operation "watch"`) {
		t.Fatalf("watch, old recd: %d\n%s", code, e.stderr)
	}
}

// watchServer answers a watch of rec with frames, then the end (when end is set).
func watchServer(t *testing.T, frames [][]proto.LiveEvent, end *proto.WatchEnd) func(net.Conn, proto.Request) {
	return func(c net.Conn, req proto.Request) {
		if req.Op != proto.OpWatch || req.Watch == nil {
			t.Errorf("request %+v", req)
			return
		}
		switch req.Watch.Rec {
		case "denied":
			_ = proto.WriteJSON(c, proto.WatchReply{Denied: true, Error: "watching a session is for root and the auditors group (you are uid 1000: alice is not a member of the auditors group wheel)"})
			return
		case "gone":
			_ = proto.WriteJSON(c, proto.WatchReply{NotFound: true, Error: "no recording gone is in progress"})
			return
		}
		rec := activeRecs[0]
		rec.Rec = req.Watch.Rec
		_ = proto.WriteJSON(c, proto.WatchReply{OK: true, Recording: &rec, Received: 1234})
		for _, f := range frames {
			_ = proto.WriteFrame(c, proto.Frame{Type: proto.TypeLive, Payload: proto.EncodeLive(f)})
		}
		if end != nil {
			_ = proto.WriteJSON(c, end)
		}
	}
}

func TestWatchRaw(t *testing.T) {
	e := newEnv(t, "")
	frames := [][]proto.LiveEvent{
		{{Kind: proto.LiveWindow, Data: proto.WindowData(proto.Window{Cols: 100, Rows: 30})}, {Kind: proto.LiveSnapshot, Data: []byte("\x1b[H\x1b[2Jalice$ ")}},
		{{Kind: proto.LiveOutput, Micros: 10, Data: []byte("ls\r\n")}, {Kind: proto.LiveOutput, Micros: 20, Data: []byte("a b\r\n")}},
		{{Kind: proto.LiveSkipped, Data: proto.CountData(70000)}, {Kind: proto.LiveSnapshot, Data: []byte("recent$ ")}},
	}
	e.app.SocketPath = scriptedRecd(t, watchServer(t, frames, &proto.WatchEnd{Status: "complete", Reason: "exit"}))
	if code := e.run("watch", "0123-100-aa"); code != ExitOK {
		t.Fatalf("watch: %d\n%s", code, e.stderr)
	}
	if got := e.stdout.String(); got != "\x1b[H\x1b[2Jalice$ ls\r\na b\r\nrecent$ " {
		t.Errorf("output %q", got)
	}
	for _, want := range []string{"fell behind: 70000 bytes of output skipped", "recording 0123-100-aa of alice ended: complete (exit)"} {
		if !strings.Contains(e.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, e.stderr)
		}
	}

	// recd stopping ends the view, saying that the recording goes on.
	e.app.SocketPath = scriptedRecd(t, watchServer(t, frames[:1], &proto.WatchEnd{Status: proto.WatchStopped}))
	if code := e.run("watch", "0123-100-aa"); code != ExitOK || !strings.Contains(e.stderr.String(), "recd stopped; the recording 0123-100-aa goes on") {
		t.Errorf("stopped: %d %s", code, e.stderr)
	}
	// A connection that breaks off without the end.
	e.app.SocketPath = scriptedRecd(t, watchServer(t, frames[:1], nil))
	if code := e.run("watch", "0123-100-aa"); code != ExitNegative || !strings.Contains(e.stderr.String(), "broke off: recd closed the connection") ||
		e.stdout.String() != "\x1b[H\x1b[2Jalice$ " {
		t.Errorf("broken: %d %q %s", code, e.stdout, e.stderr)
	}
}

func TestWatchRefused(t *testing.T) {
	e := newEnv(t, "")
	e.app.SocketPath = scriptedRecd(t, watchServer(t, nil, nil))
	e.app.UID = 1000
	if code := e.run("watch", "denied"); code != ExitNotRoot || !strings.Contains(e.stderr.String(), "alice is not a member of the auditors group wheel") {
		t.Errorf("denied: %d %s", code, e.stderr)
	}
	if code := e.run("watch", "gone"); code != ExitUsage || !strings.Contains(e.stderr.String(), "no recording gone is in progress (recctl sessions lists") {
		t.Errorf("not found: %d %s", code, e.stderr)
	}
	if code := e.run("watch"); code != ExitUsage || !strings.Contains(e.stderr.String(), "name exactly one recording") {
		t.Errorf("no ID: %d %s", code, e.stderr)
	}
}

func TestWatchStatusLine(t *testing.T) {
	started, _ := time.Parse(time.RFC3339, activeRecs[0].Started)
	now := started.Add(65 * time.Second)
	win := &proto.Window{Cols: 120, Rows: 40}
	if got, want := watchStatus(activeRecs[0], now, 4321, win, 0, "", 0), " alice  pts/1  from 10.0.0.5  0:01:05  4321 bytes  120x40  LIVE  | q quit"; got != want {
		t.Errorf("status\n%q, want\n%q", got, want)
	}
	if got := watchStatus(activeRecs[0], now, 1, nil, 500, "complete", 0); !strings.Contains(got, "1 bytes  ENDED: complete  (500 bytes skipped: too slow)") {
		t.Errorf("ended: %q", got)
	}
	if got := watchStatus(activeRecs[1], now, 0, nil, 0, "", 20); got != " bob  sshd/command  " {
		t.Errorf("cut to 20 columns: %q", got)
	}
}

// The view redraws the screen from a snapshot on a reset terminal and keeps its status
// line's scroll region when the session resets the terminal.
func TestWatchViewKeepsItsRegion(t *testing.T) {
	tw := &ttyWatcher{rows: 24, cols: 80}
	var buf bytes.Buffer
	tw.show(&buf, proto.LiveEvent{Kind: proto.LiveSnapshot, Data: []byte("screen")})
	tw.show(&buf, proto.LiveEvent{Kind: proto.LiveOutput, Data: []byte("x\x1bcy")})
	tw.show(&buf, proto.LiveEvent{Kind: proto.LiveSkipped, Data: proto.CountData(7)})
	if got, want := buf.String(), "\x1bc\x1b[1;23rscreenx\x1bcy\x1b7\x1b[1;23r\x1b8"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
	if tw.bytes != 4+7 || tw.skipped != 7 {
		t.Errorf("bytes %d skipped %d", tw.bytes, tw.skipped)
	}
}
