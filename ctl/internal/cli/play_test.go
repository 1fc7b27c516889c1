package cli

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/journal/journaltest"
	rt "github.com/recd-dev/recd/internal/recording/recordingtest"
)

// tlogRecCmd prints UTF-8, invalid bytes and escape sequences, with pauses; on the
// pseudo-terminal "\n" becomes "\r\n".
const tlogRecCmd = `printf 'h\303\251llo\n'; sleep 0.3; printf 'bad:\377\376 \033[1mbold\033[0m\n'; sleep 0.2; printf 'end\n'`

const tlogRecOutput = "h\xc3\xa9llo\r\nbad:\xff\xfe \x1b[1mbold\x1b[0m\r\nend\r\n"

// TestPlayRawTlogRec: play --raw (and play into a pipe) writes exactly the bytes a program
// wrote under Debian's tlog-rec, from a journal made with systemd-journal-remote.
func TestPlayRawTlogRec(t *testing.T) {
	msgs := rt.TlogRec(t, tlogRecCmd)
	path := journaltest.Import(t, t.TempDir(), "t.journal", journaltest.Export(time.Now(), rt.TlogRecEntries(msgs)))
	e := newEnv(t, "")
	if code := e.run("list", "--file", path, "--json"); code != 0 {
		t.Fatal(e.stderr)
	}
	var id string
	if i := strings.Index(e.stdout.String(), `"id": "`); i >= 0 {
		id = strings.SplitN(e.stdout.String()[i+7:], `"`, 2)[0]
	}
	for _, args := range [][]string{{"--raw"}, {}, {"--speed", "4"}} {
		code := e.run(append([]string{"play", id, "--file", path}, args...)...)
		if code != 0 || e.stdout.String() != tlogRecOutput {
			t.Fatalf("play %v: code %d\nstdout %q\nwant   %q\nstderr %s", args, code, e.stdout, tlogRecOutput, e.stderr)
		}
	}
}

func TestPlayRecd(t *testing.T) {
	path := recordings(t)
	e := newEnv(t, "")
	if code := e.run("play", "rec-a", "--file", path); code != 0 || e.stdout.String() != "hello\r\n\x1b[1mworld\x1b[0m\r\n" {
		t.Fatalf("code %d\nstdout %q\nstderr %s", code, e.stdout, e.stderr)
	}
	if !strings.Contains(e.stderr.String(), "1 entries name recording rec-a but were not written by its recorder") {
		t.Fatalf("no warning about the forged entry: %s", e.stderr)
	}
	if code := e.run("play", "nope", "--file", path); code != 2 || !strings.Contains(e.stderr.String(), `no recording "nope"`) {
		t.Fatalf("unknown id: %d %s", code, e.stderr)
	}
	e.app.UID = 1000 // alice
	if code := e.run("play", "rec-b", "--file", path); code != ExitNotRoot || !strings.Contains(e.stderr.String(), "recording rec-b is bob's") {
		t.Fatalf("alice plays bob's: %d %s", code, e.stderr)
	}
	if code := e.run("play", "rec-a", "--file", path); code != 0 {
		t.Fatalf("alice plays her own: %d %s", code, e.stderr)
	}
}

func TestPlayGapStrictAndLax(t *testing.T) {
	m := func(id int, text string) string {
		return rt.Message("gap-1", "carol", "h", id, int64(id)*100, 80, 24, rt.Chunk{Text: text})
	}
	es := rt.Tlog("gap-1", "carol", "h", m(1, "one "), m(2, "two "), m(3, "three"))
	es = append(es[:1], es[2:]...)
	path := journaltest.Import(t, t.TempDir(), "g.journal", journaltest.Export(t0, es))
	e := newEnv(t, "")
	code := e.run("play", "gap-1", "--file", path)
	if code != 1 || e.stdout.String() != "one " || !strings.Contains(e.stderr.String(), "message 3") ||
		!strings.Contains(e.stderr.String(), "message ID is out of order: id 3 after id 1") {
		t.Fatalf("strict: %d %q %s", code, e.stdout, e.stderr)
	}
	if code := e.run("play", "gap-1", "--lax", "--file", path); code != 0 || e.stdout.String() != "one three" {
		t.Fatalf("lax: %d %q %s", code, e.stdout, e.stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestPlayFollow: play --follow on a live recording writes what is added to it, and ends
// at recd's close entry. Both a journal directory (journalctl --follow) and a file
// (polled) are followed.
func TestPlayFollow(t *testing.T) {
	old := journal.PollInterval
	journal.PollInterval = 100 * time.Millisecond
	defer func() { journal.PollInterval = old }()
	for _, mode := range []string{"--directory", "--file"} {
		t.Run(mode, func(t *testing.T) {
			r := rt.NewRecd("live-1", "alice", "h1")
			r.Output(rt.Chunk{Text: "first\r\n"})
			early := len(r.Entries())
			r.Output(rt.Chunk{Delay: 50, Text: "second\r\n"})
			r.Close("complete", 15)
			dir := t.TempDir()
			path := journaltest.Import(t, dir, "l.journal", journaltest.Export(time.Now(), r.Entries()[:early]))
			out := &syncBuffer{}
			e := newEnv(t, "")
			e.app.Stdout = out
			where := dir
			if mode == "--file" {
				where = path
			}
			done := make(chan int, 1)
			go func() { done <- e.app.Run([]string{"play", "live-1", "--follow", "--raw", mode, where}) }()
			deadline := time.Now().Add(10 * time.Second)
			for out.String() != "first\r\n" {
				if time.Now().After(deadline) {
					t.Fatalf("no first output: %q %s", out.String(), e.stderr)
				}
				time.Sleep(20 * time.Millisecond)
			}
			select {
			case code := <-done:
				t.Fatalf("play ended before the recording was closed: %d %s", code, e.stderr)
			case <-time.After(300 * time.Millisecond):
			}
			journaltest.Import(t, dir, "l.journal", journaltest.Export(time.Now(), r.Entries()[early:]))
			select {
			case code := <-done:
				if code != 0 || out.String() != "first\r\nsecond\r\n" {
					t.Fatalf("code %d, output %q, stderr %s", code, out.String(), e.stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("play --follow did not end at the close entry; output %q", out.String())
			}
		})
	}
}

// openPTY opens a pseudo-terminal pair of cols x rows (standard library only).
func openPTY(t *testing.T, cols, rows uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	var n uint32
	var unlock int32
	if err := ioctl(int(m.Fd()), syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatal(err)
	}
	if err := ioctl(int(m.Fd()), syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ws := struct{ Row, Col, X, Y uint16 }{rows, cols, 0, 0}
	if err := ioctl(int(s.Fd()), syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestPlayTTY drives the interactive player on a pseudo-terminal: it starts paused at the
// start, G goes to the end, ← re-renders from the start (a reset, then the output up to
// that time), q quits and restores the terminal.
func TestPlayTTY(t *testing.T) {
	path := recordings(t)
	master, slave := openPTY(t, 80, 24)
	defer master.Close()
	defer slave.Close()
	out := &syncBuffer{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	old := playInput
	playInput = slave
	defer func() { playInput = old }()
	e := newEnv(t, "")
	e.app.Stdout = slave
	done := make(chan int, 1)
	go func() { done <- e.app.Run([]string{"play", "rec-a", "--paused", "--file", path}) }()
	waitFor := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond(out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; output so far:\n%q\nstderr %s", what, out.String(), e.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the first screen", func(s string) bool { return strings.Contains(s, "hello") && strings.Contains(s, "paused") })
	if s := out.String(); !strings.HasPrefix(s, "\x1bc\x1b[1;23r") || strings.Contains(s, "world") || !strings.Contains(s, "0:00:00 / 0:00:01") {
		t.Fatalf("first screen: %q", s)
	}
	master.Write([]byte("G"))
	waitFor("the end", func(s string) bool { return strings.Contains(s, "world") })
	mark := len(out.String())
	master.Write([]byte("\x1b[D"))
	waitFor("re-rendering", func(s string) bool { return strings.Contains(s[mark:], "\x1bc") })
	rest := out.String()[mark:]
	if i := strings.Index(rest, "\x1bc"); !strings.HasPrefix(rest[i:], "\x1bc\x1b[1;23rhello\r\n") {
		t.Fatalf("after ←: %q", rest)
	}
	master.Write([]byte("q"))
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("code %d: %s", code, e.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("q did not quit")
	}
	waitFor("the terminal restored", func(s string) bool { return strings.HasSuffix(s, "\x1b[0m\x1b[?25h\r\n") })
}

func TestParseGoto(t *testing.T) {
	tests := []struct {
		in  string
		ms  int64
		end bool
		err bool
	}{
		{"", 0, false, false}, {"start", 0, false, false}, {"end", 0, true, false},
		{"30", 30000, false, false}, {"1:30", 90000, false, false}, {"30:", 1800000, false, false},
		{"2::", 7200000, false, false}, {"0:01:30.5", 90500, false, false}, {"1.25", 1250, false, false},
		{"1:2:3:4", 0, false, true}, {"x", 0, false, true}, {"-1", 0, false, true}, {"1e3", 0, false, true}, {"a:1", 0, false, true},
	}
	for _, tt := range tests {
		ms, end, err := parseGoto(tt.in)
		if ms != tt.ms || end != tt.end || (err != nil) != tt.err {
			t.Errorf("%q: %d %v %v", tt.in, ms, end, err)
		}
	}
}
