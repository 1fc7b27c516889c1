package recorder

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestThroughput compares `cat` of 24 MB of text on a terminal through the recorder
// (against the fake recd, which acknowledges everything) with the same `cat` writing to
// the terminal directly. It is a quick local check, not a benchmark of record: it runs
// only with RECD_BENCH=1.
func TestThroughput(t *testing.T) {
	if os.Getenv("RECD_BENCH") == "" {
		t.Skip("set RECD_BENCH=1")
	}
	file := filepath.Join(t.TempDir(), "text")
	line := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog 0123456789 ", 2) + "\n")
	data := bytes.Repeat(line, 24_000_000/len(line))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := len(bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))) // ONLCR on the inner PTY

	drain := func(tm *os.File) chan int {
		n := make(chan int, 1)
		go func() {
			buf := make([]byte, 64<<10)
			total := 0
			for {
				k, err := tm.Read(buf)
				total += k
				if err != nil {
					n <- total
					return
				}
			}
		}()
		return n
	}

	bare := func() time.Duration {
		tm, ts, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer tm.Close()
		got := drain(tm)
		start := time.Now()
		cmd := exec.Command("cat", file)
		cmd.Stdout = ts
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		ts.Close()
		n := <-got
		d := time.Since(start)
		if n != want {
			t.Errorf("bare: %d bytes, want %d", n, want)
		}
		return d
	}

	recorded := func(logOutput bool) time.Duration {
		set := defaultSettings()
		set.LogOutput = logOutput
		f := newFakeRecd(t, set)
		o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "cat "+file)
		o.Logf = nil
		tm, ts, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer tm.Close()
		got := drain(tm)
		o.Stdin, o.Stdout, o.Stderr = ts, ts, ts
		start := time.Now()
		res := Run(o)
		ts.Close()
		n := <-got
		d := time.Since(start)
		n -= len(defaultSettings().Notice) + 2 // the notice, before raw mode: "\r\n"
		if res.Status != 0 || n != want {
			t.Errorf("recorded: status %d, %d bytes, want %d", res.Status, n, want)
		}
		if rec := f.recording(); logOutput && (len(rec.out) != want || rec.lost != 0) {
			// out holds \r\n as the inner PTY wrote it
			t.Errorf("recorded %d bytes, lost %d", len(rec.out), rec.lost)
		}
		return d
	}

	var b, r, u []time.Duration
	for range 3 {
		b = append(b, bare())
		r = append(r, recorded(true))
		u = append(u, recorded(false))
	}
	best := func(ds []time.Duration) time.Duration {
		m := ds[0]
		for _, d := range ds {
			m = min(m, d)
		}
		return m
	}
	mb := float64(len(data)) / 1e6
	t.Logf("bare PTY: %v (%.0f MB/s); recorded: %v (%.0f MB/s), ratio %.2f×; relayed, log_output off: %v (%.0f MB/s), ratio %.2f×",
		best(b), mb/best(b).Seconds(), best(r), mb/best(r).Seconds(), best(b).Seconds()/best(r).Seconds(),
		best(u), mb/best(u).Seconds(), best(b).Seconds()/best(u).Seconds())
}
