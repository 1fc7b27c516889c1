package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/journal/journaltest"
	rt "github.com/recd-dev/recd/internal/recording/recordingtest"
)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// recordings builds a journal file with:
//
//	rec-a  recd, alice@h1, complete       rec-b  recd, bob@h2, live
//	rec-t  tlog, carol@h2                 and a forged entry claiming rec-a
func recordings(t *testing.T) string {
	t.Helper()
	a := rt.NewRecd("rec-a", "alice", "h1")
	a.Output(rt.Chunk{Text: "hello\r\n"})
	a.Output(rt.Chunk{Delay: 1200, Text: "\x1b[1mworld\x1b[0m\r\n"})
	a.Close("complete", 22)
	b := rt.NewRecd("rec-b", "bob", "h2")
	b.Output(rt.Chunk{Text: "live output\r\n"})
	tl := rt.Tlog("rec-t", "carol", "h2", rt.Message("rec-t", "carol", "h2", 1, 0, 100, 30, rt.Chunk{Text: "$ ls\r\n"}))
	forged := journaltest.Entry{journaltest.F("MESSAGE", rt.Message("rec-a", "alice", "h1", 3, 5000, 80, 24, rt.Chunk{Text: "FAKE\r\n"})),
		journaltest.F("RECD_REC", "rec-a"), journaltest.F("RECD_EVENT", "message"), journaltest.F("TLOG_REC", "rec-a"),
		journaltest.F("_UID", "1000"), journaltest.F("_COMM", "logger"), journaltest.F("_HOSTNAME", "h1")}
	var all []journaltest.Entry
	all = append(all, a.Entries()...)
	all = append(all, forged)
	all = append(all, b.Entries()...)
	all = append(all, tl...)
	return journaltest.Import(t, t.TempDir(), "r.journal", journaltest.Export(t0, all))
}

func TestListCommand(t *testing.T) {
	path := recordings(t)
	e := newEnv(t, "[access]\nauditors = wheel\n")
	tests := []struct {
		name   string
		uid    int
		args   []string
		code   int
		out    []string // substrings of stdout
		notOut []string
		errOut string
	}{
		{"all", 0, nil, 0, []string{"ID", "rec-a", "alice", "h1", "sshd/pts/1", "10.0.0.5", "complete", "rec-b", "live", "rec-t", "unverified"}, nil, ""},
		{"user", 0, []string{"--user", "alice"}, 0, []string{"rec-a"}, []string{"rec-b", "rec-t"}, ""},
		{"host", 0, []string{"--host", "h2"}, 0, []string{"rec-b", "rec-t"}, []string{"rec-a"}, ""},
		{"status", 0, []string{"--status", "live"}, 0, []string{"rec-b"}, []string{"rec-a", "rec-t"}, ""},
		{"grep", 0, []string{"--grep", "world"}, 0, []string{"rec-a"}, []string{"rec-b", "rec-t"}, ""},
		{"grep ignores forged output", 0, []string{"--grep", "fake"}, 0, nil, []string{"rec-a"}, "no recordings match"},
		{"since", 0, []string{"--since", "2026-11-01 10:00:00.005 UTC"}, 0, []string{"rec-b", "rec-t"}, []string{"rec-a"}, ""},
		{"bad status", 0, []string{"--status", "done"}, 2, nil, nil, `unknown status "done"`},
		{"bad since", 0, []string{"--since", "whenever"}, 2, nil, nil, "journalctl failed"},
		{"stray argument", 0, []string{"x"}, 2, nil, nil, `unexpected argument "x"`},
		{"user sees own only", 1000, nil, 0, []string{"rec-a"}, []string{"rec-b", "rec-t"}, ""},
		{"user may not ask for others", 1000, []string{"--user", "bob"}, 4, nil, nil, "only your own"},
		{"auditor sees all", 1001, nil, 0, []string{"rec-a", "rec-b", "rec-t"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.app.UID = tt.uid
			code := e.run(append([]string{"list", "--file", path}, tt.args...)...)
			if code != tt.code || !strings.Contains(e.stderr.String(), tt.errOut) {
				t.Fatalf("code %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, e.stdout, e.stderr)
			}
			for _, s := range tt.out {
				if !strings.Contains(e.stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, e.stdout)
				}
			}
			for _, s := range tt.notOut {
				if strings.Contains(e.stdout.String(), s) {
					t.Errorf("stdout has %q:\n%s", s, e.stdout)
				}
			}
		})
	}
	e.app.UID = 0
	if code := e.run("list", "--file", path, "--json"); code != 0 {
		t.Fatal(e.stderr)
	}
	var rows []listRow
	if err := json.Unmarshal(e.stdout.Bytes(), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("json: %v\n%s", err, e.stdout)
	}
	if r := rows[0]; r.ID != "rec-a" || r.User != "alice" || r.Status != "complete" || r.BytesOut != 22 || r.DurationSeconds != 1.2 ||
		r.Service != "sshd" || r.Recorder != "recd" {
		t.Fatalf("row %+v", r)
	}
	// Newest last.
	if rows[2].ID != "rec-t" {
		t.Fatalf("order: %+v", rows)
	}
}

// TestListPermission: a user whom journalctl cannot show the system journal gets a clear
// error and status 4, never an empty list.
func TestListPermission(t *testing.T) {
	e := newEnv(t, "")
	old := journalctlPath
	defer func() { journalctlPath = old }()
	journalctlPath = journaltest.FakeJournalctl(t, "", "Hint: You are currently not seeing messages from other users and the system.\n", 0)
	e.app.UID = 1000
	code := e.run("list")
	if code != ExitNotRoot || !strings.Contains(e.stderr.String(), "uid 1000 (alice) cannot read the journal") || e.stdout.Len() != 0 {
		t.Fatalf("code %d\nstdout: %s\nstderr: %s", code, e.stdout, e.stderr)
	}
}

func TestHelp(t *testing.T) {
	e := newEnv(t, "")
	for _, cmd := range []string{"list", "play", "export", "verify"} {
		if code := e.run(cmd, "--help"); code != 0 || !strings.Contains(e.stdout.String(), "Usage: recctl "+cmd) ||
			!strings.Contains(e.stdout.String(), "Exit status") || !strings.Contains(e.stdout.String(), "Examples") {
			t.Errorf("%s --help: %d\n%s", cmd, code, e.stdout)
		}
		if code := e.run(cmd, "ID", "--bogus"); code != 2 || !strings.Contains(e.stderr.String(), "flag provided but not defined") {
			t.Errorf("%s --bogus: %d %s", cmd, code, e.stderr)
		}
	}
}
