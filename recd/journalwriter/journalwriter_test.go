package journalwriter_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recd-dev/recd/recd/journalwriter"
	"github.com/recd-dev/recd/recd/journalwriter/fakejournal"
)

func TestEncodeDecode(t *testing.T) {
	var e journalwriter.Entry
	e.Add("MESSAGE", "{\"a\":1}\n")
	e.Add("TLOG_ID", "7")
	e.AddBytes("RECD_BIN", []byte{0, 0xff, '=', '\n'})
	e.Add("EMPTY", "")
	b, err := journalwriter.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	want := "MESSAGE\n\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}\n\nTLOG_ID=7\nRECD_BIN\n\x04\x00\x00\x00\x00\x00\x00\x00\x00\xff=\n\nEMPTY=\n"
	if string(b) != want {
		t.Fatalf("encoded %q\nwant    %q", b, want)
	}
	back, err := journalwriter.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(e) {
		t.Fatalf("decoded %d fields", len(back))
	}
	for i := range e {
		if back[i].Name != e[i].Name || !bytes.Equal(back[i].Value, e[i].Value) {
			t.Errorf("field %d: %q=%q, want %q=%q", i, back[i].Name, back[i].Value, e[i].Name, e[i].Value)
		}
	}
	for _, bad := range []string{"", "_PID", "lower", "A-B", "1ABC", strings.Repeat("A", 65)} {
		if _, err := journalwriter.Encode(journalwriter.Entry{{Name: bad, Value: []byte("x")}}); err == nil {
			t.Errorf("field name %q accepted", bad)
		}
	}
}

func startWriter(t *testing.T, opts journalwriter.Options) (*journalwriter.Writer, *fakejournal.Journal, *logs) {
	t.Helper()
	j, err := fakejournal.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	l := &logs{}
	opts.Socket = j.Path
	opts.Log = l.add
	w, err := journalwriter.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	return w, j, l
}

type logs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logs) add(s string) {
	l.mu.Lock()
	l.b.WriteString(s + "\n")
	l.mu.Unlock()
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func entry(i int, extra ...string) journalwriter.Entry {
	var e journalwriter.Entry
	e.Add("MESSAGE", fmt.Sprintf("entry %d", i))
	e.Add("TEST_N", strconv.Itoa(i))
	for k := 0; k+1 < len(extra); k += 2 {
		e.Add(extra[k], extra[k+1])
	}
	return e
}

// The writer child carries the name Cockpit selects by, sends entries in order, large ones
// through a memfd, and confirms each one only after journald's socket took it.
func TestWriterCommOrderAndLargeEntries(t *testing.T) {
	w, j, _ := startWriter(t, journalwriter.Options{})
	var mu sync.Mutex
	var confirmed []int
	big := strings.Repeat("x\ny", 3<<20) // 9 MiB: beyond the 8 MiB send buffer, so passed as a file
	for i := 1; i <= 50; i++ {
		e := entry(i)
		if i == 25 {
			e.Add("BIG", big)
		}
		i := i
		if err := w.Write(e, func() { mu.Lock(); confirmed = append(confirmed, i); mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitN(t, j, 50)
	got := j.Entries()
	if len(got) != 50 {
		t.Fatalf("%d entries in the journal, want 50 (errors %v)", len(got), j.Errors())
	}
	child := strconv.Itoa(w.ChildPID())
	for i, e := range got {
		m := e.Map()
		if string(m["TEST_N"]) != strconv.Itoa(i+1) {
			t.Fatalf("entry %d is %s: out of order", i+1, m["TEST_N"])
		}
		if string(m["_COMM"]) != journalwriter.Comm || string(m["_PID"]) != child {
			t.Fatalf("entry %d: _COMM=%s _PID=%s, want %s from the child %s", i+1, m["_COMM"], m["_PID"], journalwriter.Comm, child)
		}
	}
	if b, _ := got[24].Get("BIG"); string(b) != big {
		t.Errorf("large entry damaged: %d bytes", len(b))
	}
	if j.ViaFile() != 1 {
		t.Errorf("%d entries passed as a file, want 1 (the large one)", j.ViaFile())
	}
	mu.Lock()
	defer mu.Unlock()
	for i, n := range confirmed {
		if n != i+1 {
			t.Fatalf("confirmations out of order: %v", confirmed)
		}
	}
	if len(confirmed) != 50 {
		t.Fatalf("%d confirmations", len(confirmed))
	}
}

// While journald is away nothing is confirmed and nothing dropped; when it is back every
// entry arrives, in order.
func TestWriterWaitsForJournald(t *testing.T) {
	w, j, l := startWriter(t, journalwriter.Options{})
	j.Stop()
	var mu sync.Mutex
	n := 0
	for i := 1; i <= 5; i++ {
		if err := w.Write(entry(i), func() { mu.Lock(); n++; mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if n != 0 {
		t.Fatalf("%d entries confirmed while journald was away", n)
	}
	mu.Unlock()
	if !strings.Contains(l.String(), "journald is not reachable") {
		t.Errorf("no diagnostic while journald was away: %q", l.String())
	}
	if err := j.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitN(t, j, 5)
	got := j.Entries()
	if len(got) != 5 {
		t.Fatalf("%d entries after journald came back, want 5", len(got))
	}
	for i, e := range got {
		if v, _ := e.Get("TEST_N"); string(v) != strconv.Itoa(i+1) {
			t.Fatalf("entry %d is %s", i+1, v)
		}
	}
}

// A writer child that dies is replaced, and every entry it had not confirmed is sent again.
func TestWriterChildRestartResends(t *testing.T) {
	w, j, l := startWriter(t, journalwriter.Options{RestartDelay: 10 * time.Millisecond})
	j.Stop() // hold entries in the child and in recd
	const total = 200
	for i := 1; i <= total; i++ {
		if err := w.Write(entry(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	old := w.ChildPID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.ChildPID() == 0 || w.ChildPID() == old {
		if time.Now().After(deadline) {
			t.Fatalf("no new writer child; log:\n%s", l)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := j.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitN(t, j, total)
	seen := map[string]bool{}
	last := 0
	for _, e := range j.Entries() {
		v, _ := e.Get("TEST_N")
		n, _ := strconv.Atoi(string(v))
		if n < last {
			t.Fatalf("entry %d after %d", n, last)
		}
		last = n
		seen[string(v)] = true
	}
	for i := 1; i <= total; i++ {
		if !seen[strconv.Itoa(i)] {
			t.Fatalf("entry %d lost across the child restart; log:\n%s", i, l)
		}
	}
	if !strings.Contains(l.String(), "restarting it") {
		t.Errorf("restart not logged: %q", l.String())
	}
}

// A writer that cannot start its child says so, and keeps trying.
func TestWriterStartFailure(t *testing.T) {
	w, err := journalwriter.Start(journalwriter.Options{Socket: t.TempDir() + "/s", Exe: "/nonexistent/recd"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/recd") {
		t.Fatalf("err = %v", err)
	}
	if h := w.Healthy(); h == nil {
		t.Fatal("Healthy() = nil for a writer without a child")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.Close(ctx)
}

// Close sends everything queued before the child exits.
func TestWriterCloseDrains(t *testing.T) {
	w, j, _ := startWriter(t, journalwriter.Options{})
	for i := 1; i <= 100; i++ {
		if err := w.Write(entry(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.Close(ctx)
	if err := j.Wait(5*time.Second, func(e []fakejournal.Entry) bool { return len(e) == 100 }); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(entry(101), nil); err != journalwriter.ErrClosed {
		t.Fatalf("Write after Close: %v", err)
	}
}

// waitN waits until the fake journal has read at least n entries from its socket (a
// confirmed entry may still be in the socket's queue).
func waitN(t *testing.T, j *fakejournal.Journal, n int) {
	t.Helper()
	if err := j.Wait(5*time.Second, func(e []fakejournal.Entry) bool { return len(e) >= n }); err != nil {
		t.Fatal(err)
	}
}
