package journal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/journal/journaltest"
)

func TestDecodeEntry(t *testing.T) {
	tests := []struct {
		name, line string
		want       Entry
		err        string
	}{
		{"text", `{"A":"x","B":""}`, Entry{"A": {[]byte("x")}, "B": {[]byte("")}}, ""},
		{"escapes", `{"MESSAGE":"a\"b\\c\n\u001b"}`, Entry{"MESSAGE": {[]byte("a\"b\\c\n\x1b")}}, ""},
		{"bytes", `{"B":[255,0,97]}`, Entry{"B": {{255, 0, 97}}}, ""},
		{"repeated text", `{"R":["a","b"]}`, Entry{"R": {[]byte("a"), []byte("b")}}, ""},
		{"repeated mixed", `{"R":["a",[255]]}`, Entry{"R": {[]byte("a"), {255}}}, ""},
		{"repeated bytes", `{"R":[[1],[2,3]]}`, Entry{"R": {{1}, {2, 3}}}, ""},
		{"null is dropped", `{"BIG":null,"A":"x"}`, Entry{"A": {[]byte("x")}}, ""},
		{"not a byte", `{"B":[256]}`, nil, "256 is not a byte"},
		{"number value", `{"B":5}`, nil, "unexpected value"},
		{"not json", `{"B":`, nil, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEntry([]byte(tt.line))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEntryAccessors(t *testing.T) {
	e := Entry{"A": {[]byte("12")}, "R": {[]byte("x"), []byte("y")}, "__REALTIME_TIMESTAMP": {[]byte("1700000000000001")},
		"__CURSOR": {[]byte("c")}}
	if n, ok := e.Int("A"); !ok || n != 12 || e.Get("R") != "x" || !e.Has("R") || e.Has("Z") || e.Cursor() != "c" {
		t.Fatal("accessors")
	}
	if got := e.Realtime(); !got.Equal(time.UnixMicro(1700000000000001)) {
		t.Fatal(got)
	}
	if r := e.Repeated(); !reflect.DeepEqual(r, []string{"R"}) {
		t.Fatal(r)
	}
	if f := e.Fields(); string(f["R"]) != "x" || len(f) != 4 {
		t.Fatal(f)
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		s    Source
		q    Query
		want string
	}{
		{Source{}, Query{}, "--output=json --all --no-pager --merge"},
		{Source{Files: []string{"a.journal", "b/*.journal"}}, Query{Matches: []string{"TLOG_REC=x", "+", "RECD_REC=x"}},
			"--output=json --all --no-pager --file=a.journal --file=b/*.journal -- TLOG_REC=x + RECD_REC=x"},
		{Source{Directory: "/var/log/journal/remote"}, Query{Since: "-2h", Until: "2026-11-01 10:00", AfterCursor: "s=1", Follow: true},
			"--output=json --all --no-pager --directory=/var/log/journal/remote --since=-2h --until=2026-11-01 10:00 --after-cursor=s=1 --follow --lines=all"},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.s.Args(tt.q), " "); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func collect(t *testing.T, s Source, q Query) ([]Entry, error) {
	t.Helper()
	var out []Entry
	err := s.ForEach(context.Background(), q, func(e Entry) error { out = append(out, e); return nil })
	return out, err
}

// TestRealJournal reads back, through the real journalctl, a journal file made by
// systemd-journal-remote: binary and repeated values, a value over journalctl's 4096-byte
// display threshold, matches with OR, and --since/--until in journalctl's syntax.
func TestRealJournal(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 10000)
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	entries := []journaltest.Entry{
		{journaltest.F("MESSAGE", "one"), journaltest.F("K", "a")},
		{journaltest.F("MESSAGE", big), journaltest.F("K", "b"), {Name: "BIN", Value: []byte{0xff, 0, 'a', '\n'}}},
		{journaltest.F("MESSAGE", "three"), journaltest.F("K", "c"), journaltest.F("REP", "1"), journaltest.F("REP", "2")},
		{journaltest.F("MESSAGE", "late"), journaltest.F("K", "d"),
			journaltest.F("__REALTIME_TIMESTAMP", strconv.FormatInt(start.Add(time.Hour).UnixMicro(), 10))},
	}
	path := journaltest.Import(t, dir, "x.journal", journaltest.Export(start, entries))
	src := Source{Files: []string{path}}

	got, err := collect(t, src, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[1].Get("MESSAGE") != big || !bytes.Equal(got[1].Bytes("BIN"), []byte{0xff, 0, 'a', '\n'}) ||
		!reflect.DeepEqual(got[2]["REP"], [][]byte{[]byte("1"), []byte("2")}) || got[0].Cursor() == "" {
		t.Fatalf("entries: %q", got)
	}
	if !got[0].Realtime().Equal(start) {
		t.Fatalf("realtime %v, want %v", got[0].Realtime(), start)
	}

	got, err = collect(t, src, Query{Matches: []string{"K=a", "+", "K=c"}})
	if err != nil || len(got) != 2 || got[0].Get("K") != "a" || got[1].Get("K") != "c" {
		t.Fatalf("OR match: %v %q", err, got)
	}
	got, err = collect(t, src, Query{Matches: []string{"K=a", "K=c"}})
	if err != nil || len(got) != 2 {
		t.Fatalf("same-field match: %v %q", err, got)
	}
	got, err = collect(t, src, Query{Since: "@" + strconv.FormatInt(start.Unix()+1, 10)})
	if err != nil || len(got) != 1 || got[0].Get("K") != "d" {
		t.Fatalf("since: %v %q", err, got)
	}
	got, err = collect(t, src, Query{Until: "2026-11-01 10:00:01 UTC"})
	if err != nil || len(got) != 3 {
		t.Fatalf("until: %v %d", err, len(got))
	}
	got, err = collect(t, src, Query{AfterCursor: got[1].Cursor()})
	if err != nil || len(got) != 2 || got[0].Get("K") != "c" {
		t.Fatalf("after cursor: %v %q", err, got)
	}
	// A bad --since is journalctl's error, said as it said it.
	if _, err := collect(t, src, Query{Since: "not a time"}); err == nil || !strings.Contains(err.Error(), "journalctl failed") {
		t.Fatalf("bad since: %v", err)
	}
}

// TestFollow: a follower sees the entries already there, then those added later (on a
// file by polling, on a directory through journalctl --follow), and stops with its context.
func TestFollow(t *testing.T) {
	old := PollInterval
	PollInterval = 100 * time.Millisecond
	defer func() { PollInterval = old }()
	for _, mode := range []string{"file", "directory"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := journaltest.Import(t, dir, "x.journal", journaltest.Export(time.Now(), []journaltest.Entry{
				{journaltest.F("MESSAGE", "a")}, {journaltest.F("MESSAGE", "b")}}))
			src := Source{Files: []string{path}}
			if mode == "directory" {
				src = Source{Directory: dir}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r, err := src.Open(ctx, Query{Follow: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			next := func(want string) {
				t.Helper()
				got := make(chan string, 1)
				go func() {
					e, err := r.Next()
					if err != nil {
						got <- "error: " + err.Error()
						return
					}
					got <- e.Get("MESSAGE")
				}()
				select {
				case g := <-got:
					if g != want {
						t.Fatalf("got %q, want %q (stderr %s)", g, want, r.Stderr())
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no entry %q within 10 s", want)
				}
			}
			next("a")
			next("b")
			time.Sleep(300 * time.Millisecond)
			journaltest.Import(t, dir, "x.journal", journaltest.Export(time.Now(), []journaltest.Entry{{journaltest.F("MESSAGE", "c")}}))
			next("c")
			done := make(chan error, 1)
			go func() { _, err := r.Next(); done <- err }()
			select {
			case err := <-done:
				t.Fatalf("follow ended by itself: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("follow did not stop with its context")
			}
		})
	}
}

func TestPermission(t *testing.T) {
	hint := "Hint: You are currently not seeing messages from other users and the system.\n" +
		"      Users in groups 'adm', 'systemd-journal' can see all messages.\n"
	tests := []struct {
		name           string
		stdout, stderr string
		rc             int
		perm           bool
		err            string
	}{
		{"notice with own entries", `{"MESSAGE":"mine"}` + "\n", hint, 0, true, "not seeing messages"},
		{"no file readable", "", "No journal files were opened due to insufficient permissions.\n", 1, true, "insufficient permissions"},
		{"file not readable", "", "Failed to open files: Permission denied\n", 1, true, "Permission denied"},
		{"other failure", "", "Failed to parse timestamp: x\n", 1, false, "journalctl failed: Failed to parse timestamp"},
		{"garbage output", "hello\n", "", 0, false, "not a JSON object"},
		{"fine", `{"MESSAGE":"a"}` + "\n", "", 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{Journalctl: journaltest.FakeJournalctl(t, tt.stdout, tt.stderr, tt.rc)}
			_, err := collect(t, src, Query{})
			var pe *PermissionError
			if errors.As(err, &pe) != tt.perm {
				t.Fatalf("error %v: permission error = %v, want %v", err, !tt.perm, tt.perm)
			}
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// TestPermissionReal runs the real journalctl as nobody on a journal directory it may not
// read.
func TestPermissionReal(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to switch to nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	jdir := filepath.Join(dir, "j")
	os.Mkdir(jdir, 0o700)
	journaltest.Import(t, jdir, "x.journal", journaltest.Export(time.Now(), []journaltest.Entry{{journaltest.F("MESSAGE", "a")}}))
	wrapper := filepath.Join(dir, "journalctl-as-nobody")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+setpriv+" --reuid=65534 --regid=65534 --clear-groups journalctl \"$@\"\n"), 0o755)
	_, err = collect(t, Source{Directory: jdir, Journalctl: wrapper}, Query{})
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v, want a permission error", err)
	}
	if err := (Source{Directory: jdir}).CheckAccess(); err != nil {
		t.Fatalf("root: %v", err)
	}
}

func TestReaderEOFAndClose(t *testing.T) {
	src := Source{Journalctl: journaltest.FakeJournalctl(t, `{"A":"1"}`+"\n\n"+`{"A":"2"}`+"\n", "", 0)}
	r, err := src.Open(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("EOF is not sticky: %v", err)
	}
	r.Close()
	// Closing early stops journalctl.
	r, _ = Source{Journalctl: "yes"}.Open(context.Background(), Query{})
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
}

// FuzzDecodeEntry: whatever journalctl (or something posing as it) prints, decoding gives
// an entry or an error, never a panic.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"A":"x","B":[255,0],"R":["a",[1]],"N":null}`))
	f.Add([]byte(`{"R":[[1],[2,3]]}`))
	f.Add([]byte(`{"B":[256]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := DecodeEntry(line)
		if err == nil {
			_ = e.Fields()
			_ = e.Repeated()
			_ = e.Realtime()
		}
	})
}
