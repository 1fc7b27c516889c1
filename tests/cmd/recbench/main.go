// Command recbench (run by `make bench`) measures the recorder on an isolated test host and
// prints a Markdown section for BENCHMARKS.md:
//
//   - throughput: `cat` of 24 MB of text through a PTY, bare (an unrecorded user), recorded
//     by recd-session, and recorded by Debian's `tlog-rec --writer=journal`;
//   - journal bytes written per byte of output;
//   - added keystroke echo latency (p50, p99) of a recorded session over a bare one;
//   - resident memory of recd-session, and of recd per recorded session.
//
// Every session is started with `su - USER -c …` under a PTY the benchmark holds, so the
// three throughput runs differ only in what records them. It needs root (namespaces) and
// touches nothing outside the test host.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/recd-dev/recd/tests/testhost"
)

const (
	textBytes = 24 << 20
	runs      = 3
	keystroke = 400
	idle      = 10
)

func main() {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "recbench: needs root to create the isolated test host")
		os.Exit(1)
	}
	st := &testhost.Standalone{Log: os.Stderr}
	if err := st.Run(bench); err != nil {
		fmt.Fprintf(os.Stderr, "recbench: FAILED: %v\n", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "recbench: "+format+"\n", args...) }

func bench(t testhost.T) {
	h := testhost.New(t, testhost.WithHostname("recd-bench"), testhost.WithCommandTimeout(5*time.Minute))
	h.StartJournald()
	h.Install()
	h.AddUser("alice", testhost.UserShell("/bin/bash"))
	h.AddUser("bob", testhost.UserShell("/bin/bash"))
	h.RecdFirstInPasswd()
	h.AddPAMRecd("su")
	h.WriteFile("/etc/recd/recd.conf", []byte("[session_recording]\nscope = some\nusers = alice\n[recorder]\nrecorder = builtin\n"+os.Getenv("RECBENCH_RECORDER")+"\n"), 0o644)
	h.MustRun(t, "recctl", "reload")
	h.Start("recd", "/usr/sbin/recd")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.Run("recctl", "status"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recd did not answer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.MustRun(t, "sh", "-c", fmt.Sprintf("base64 -w 100 /dev/urandom | head -c %d > /tmp/text.txt; chmod 644 /tmp/text.txt", textBytes))

	fmt.Println("## Recorder: throughput, journal volume, echo latency, memory")
	fmt.Println()
	fmt.Printf("Command: `make bench` (`go run ./tests/cmd/recbench`): a test host with real journald; each run is `su - USER -c CMD` under a 200x50 PTY read as fast as possible; best of %d. Target: recorded ≥ 0.8× bare PTY; added echo latency p99 < 1 ms.\n", runs)
	fmt.Println()
	fmt.Println("```")

	cat := "cat /tmp/text.txt"
	bare := best(t, h, "bob", cat)
	usage0 := journalBytes(t, h)
	cpu0 := cpuTimes(h)
	rec := best(t, h, "alice", cat)
	lag := recordingLag(t, h, runs)
	cpu1 := cpuTimes(h)
	usage1 := journalBytes(t, h)
	tlog := best(t, h, "bob", "tlog-rec --writer=journal "+cat)
	// script(1) is a plain PTY relay in C that records nothing worth the name (its
	// typescript goes to /dev/null): the most any program between the shell and the
	// terminal can reach on this machine, a second PTY and process in the path.
	relay := best(t, h, "bob", "script -q -c '"+cat+"' /dev/null")
	// Two settings an administrator can change: a buffer larger than the burst (the
	// terminal may then run ahead of the recording), and tlog's payload (fewer, larger
	// journal entries; tlog's default 2048 suits rsyslog's default 8k message size).
	variants := []string{"buffer = 64M", "payload = 16384"}
	varTimes := make([]time.Duration, len(variants))
	varJournald := make([]float64, len(variants)) // journald CPU s per run
	var varLags strings.Builder
	conf := string(h.ReadFile("/etc/recd/recd.conf"))
	for i, v := range variants {
		h.WriteFile("/etc/recd/recd.conf", []byte(strings.Replace(conf, "[recorder]\n", "[recorder]\n"+v+"\n", 1)), 0o644)
		h.MustRun(t, "recctl", "reload")
		c0 := cpuTimes(h)
		varTimes[i] = best(t, h, "alice", cat)
		lag := recordingLag(t, h, (i+2)*runs)
		c1 := cpuTimes(h)
		varJournald[i] = (c1["systemd-journal"] - c0["systemd-journal"]) / runs
		fmt.Fprintf(&varLags, "  with %s: recd %.2f, its journal writer %.2f, journald %.2f CPU seconds for the %d runs\n%s", v,
			c1["recd"]-c0["recd"], c1["tlog-rec-sessio"]-c0["tlog-rec-sessio"], c1["systemd-journal"]-c0["systemd-journal"], runs, lag)
	}
	h.WriteFile("/etc/recd/recd.conf", []byte(conf), 0o644)
	h.MustRun(t, "recctl", "reload")
	mb := float64(textBytes) / 1e6
	row := func(name string, d time.Duration) {
		fmt.Printf("  %-37s %7.3f  %6.1f   %.2f\n", name, d.Seconds(), mb/d.Seconds(), bare.Seconds()/d.Seconds())
	}
	fmt.Printf("cat of %.1f MB of text                    seconds    MB/s   × bare PTY\n", mb)
	row("bare PTY (unrecorded)", bare)
	row("recd-session", rec)
	for i, v := range variants {
		row("recd-session, "+v, varTimes[i])
	}
	row("tlog-rec -w journal", tlog)
	row("script -q -c CMD /dev/null (no rec.)", relay)
	fmt.Print(lag)
	fmt.Printf("CPU seconds spent recording the %d runs (%.0f MB): recd %.2f, its journal writer %.2f, journald %.2f\n",
		runs, float64(runs*textBytes)/1e6, cpu1["recd"]-cpu0["recd"], cpu1["tlog-rec-sessio"]-cpu0["tlog-rec-sessio"],
		cpu1["systemd-journal"]-cpu0["systemd-journal"])
	fmt.Print(varLags.String())
	fmt.Printf("journal growth for the %d recorded runs: %.1f MB, %.2f journal bytes per byte of output\n",
		runs, float64(usage1-usage0)/1e6, float64(usage1-usage0)/float64(runs*textBytes))

	// The echo measurement is bounded: a harness problem must not hang make bench.
	type lats struct{ bare, rec []time.Duration }
	got := make(chan lats, 1)
	go func() { got <- lats{echoLatency(t, h, "bob"), echoLatency(t, h, "alice")} }()
	select {
	case l := <-got:
		fmt.Printf("echo latency over %d keystrokes   p50        p99\n", keystroke)
		fmt.Printf("  bare PTY                        %-10v %v\n", pct(l.bare, 50), pct(l.bare, 99))
		fmt.Printf("  recd-session                    %-10v %v\n", pct(l.rec, 50), pct(l.rec, 99))
		fmt.Printf("  added by recording              %-10v %v\n", pct(l.rec, 50)-pct(l.bare, 50), pct(l.rec, 99)-pct(l.bare, 99))
	case <-time.After(2 * time.Minute):
		fmt.Println("echo latency: NOT MEASURED (the keystroke harness did not finish in 2 minutes)")
	}

	recdBefore := rssOf(t, h, "recd")
	var sessions []*os.File
	for i := 0; i < idle; i++ {
		ptm := startPTY(t, h, "alice", "")
		sessions = append(sessions, ptm)
		newPTYReader(ptm).waitFor(t, "$ ", 15*time.Second)
	}
	time.Sleep(500 * time.Millisecond)
	recdAfter := rssOf(t, h, "recd")
	recorders := rssList(t, h, "recd-session")
	for _, s := range sessions {
		s.Write([]byte("exit\n"))
		s.Close()
	}
	sort.Ints(recorders)
	fmt.Printf("memory with %d idle recorded sessions: recd %d KiB → %d KiB (%.0f KiB per session); recd-session RSS median %d KiB, max %d KiB\n",
		idle, recdBefore, recdAfter, float64(recdAfter-recdBefore)/idle, median(recorders), maxOf(recorders))
	fmt.Println("```")
	// What bounds the throughput, from this run's own figures.
	jd := (cpu1["systemd-journal"] - cpu0["systemd-journal"]) / runs
	rd := (cpu1["recd"] - cpu0["recd"] + cpu1["tlog-rec-sessio"] - cpu0["tlog-rec-sessio"]) / runs
	verdict := "met"
	if bare.Seconds()/rec.Seconds() < 0.8 {
		verdict = "not met"
	}
	fmt.Println()
	fmt.Printf("What bounds the recorded figure here: journald, one thread, spent %.2f CPU s per %.0f MB run at tlog's default payload (2048), "+
		"so it cannot take more than %.0f MB/s (%.2f× this bare PTY) whatever writes to it; recd and its writer spent %.2f CPU s more, "+
		"on the same 2 cores as the relay, cat and the reader (which is also why a buffer larger than the burst does not help). "+
		"A relay that records nothing, script(1), reaches %.2f×. `payload = 16384` cuts every process's per-entry work (journald %.2f CPU s per run). "+
		"Target 0.8×: %s (%.2f×); added echo latency p99 under 1 ms: see above.\n",
		jd, mb, mb/jd, bare.Seconds()/jd, rd, bare.Seconds()/relay.Seconds(), varJournald[1], verdict, bare.Seconds()/rec.Seconds())
}

// startPTY runs `su - user [-c cmd]` in the host on a new 200x50 PTY.
func startPTY(t testhost.T, h *testhost.Host, user, cmd string) *os.File {
	args := []string{"-", user}
	if cmd != "" {
		args = append(args, "-c", cmd)
	}
	c := h.Command("su", args...)
	ptm, err := pty.StartWithSize(c, &pty.Winsize{Cols: 200, Rows: 50})
	if err != nil {
		t.Fatalf("su %v: %v", args, err)
	}
	go c.Wait()
	return ptm
}

// best runs cmd as user `runs` times and returns the shortest time to the end of output.
func best(t testhost.T, h *testhost.Host, user, cmd string) time.Duration {
	var min time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		ptm := startPTY(t, h, user, cmd)
		n, err := io.Copy(io.Discard, ptm)
		if err != nil && !errors.Is(err, syscall.EIO) {
			t.Fatalf("reading the PTY of %s: %v", cmd, err)
		}
		d := time.Since(start)
		ptm.Close()
		if n < textBytes {
			t.Fatalf("%s as %s: only %d bytes of output", cmd, user, n)
		}
		logf("%s as %s: %d bytes in %v", cmd, user, n, d)
		if min == 0 || d < min {
			min = d
		}
	}
	return min
}

// recordingLag waits for want close entries in all and reports the status of the last runs
// and how long after the end of the output the recording was complete in the journal.
func recordingLag(t testhost.T, h *testhost.Host, want int) string {
	end := time.Now()
	var closes []map[string]any
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		closes = h.JournalJSON("RECD_EVENT=close")
		if len(closes) >= want || time.Now().After(deadline) {
			break
		}
	}
	lag := time.Since(end)
	var b strings.Builder
	for _, c := range closes[max(0, len(closes)-runs):] {
		fmt.Fprintf(&b, "  recording %s: %s, %s bytes of output recorded, %s dropped, %s lost\n",
			testhost.Field(c, "RECD_REC"), testhost.Field(c, "RECD_STATUS"), testhost.Field(c, "RECD_BYTES_OUT"),
			orZero(testhost.Field(c, "RECD_DROPPED_BYTES")), orZero(testhost.Field(c, "RECD_LOST_BYTES")))
	}
	fmt.Fprintf(&b, "  the last recording was closed in the journal %.1f s after its output ended\n", lag.Seconds())
	return b.String()
}

// cpuTimes returns the CPU seconds (user+system, in clock ticks of 1/100 s as
// /proc/PID/stat counts them) used so far by recd, its journal writer and journald, by
// command name.
func cpuTimes(h *testhost.Host) map[string]float64 {
	m := map[string]float64{}
	// comm may hold a space or parenthesis in general, not these three: fields after the
	// last ')' are state, ppid, …, utime (14th field overall), stime (15th).
	out, _ := h.Run("sh", "-c", `for c in recd tlog-rec-sessio systemd-journal; do for p in $(pgrep -x "$c"); do echo "$c $(sed 's/.*) //' /proc/$p/stat)"; done; done`)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 14 {
			continue
		}
		ut, _ := strconv.Atoi(f[12])
		st, _ := strconv.Atoi(f[13])
		m[f[0]] += float64(ut+st) / 100
	}
	return m
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func journalBytes(t testhost.T, h *testhost.Host) int64 {
	out := h.MustRun(t, "du", "-sb", "/var/log/journal")
	n, _ := strconv.ParseInt(strings.Fields(out)[0], 10, 64)
	return n
}

// echoLatency types keystrokes into `cat` in a shell of user and returns how long each
// took to come back as echo.
func echoLatency(t testhost.T, h *testhost.Host, user string) []time.Duration {
	ptm := startPTY(t, h, user, "")
	defer ptm.Close()
	r := newPTYReader(ptm)
	r.waitFor(t, "$ ", 15*time.Second)
	ptm.Write([]byte("cat >/dev/null\n"))
	time.Sleep(300 * time.Millisecond)
	r.drain()
	var lat []time.Duration
	for i := 0; i < keystroke; i++ {
		start := time.Now()
		ptm.Write([]byte{'k'})
		r.waitFor(t, "k", 5*time.Second)
		lat = append(lat, time.Since(start))
		time.Sleep(2 * time.Millisecond)
	}
	ptm.Write([]byte{4, 4})
	ptm.Write([]byte("exit\n"))
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

// ptyReader reads a PTY master in a goroutine of its own, so that waiting for output
// has a time limit whether or not the file supports read deadlines (a read without one
// blocked the echo stage of make bench for good).
type ptyReader struct {
	chunks chan []byte
}

func newPTYReader(f *os.File) *ptyReader {
	r := &ptyReader{chunks: make(chan []byte, 1024)}
	go func() {
		defer close(r.chunks)
		for {
			buf := make([]byte, 4096)
			n, err := f.Read(buf)
			if n > 0 {
				r.chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// drain discards what the PTY shows until it has been quiet for 50 ms.
func (r *ptyReader) drain() {
	for {
		select {
		case _, ok := <-r.chunks:
			if !ok {
				return
			}
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

// waitFor reads until the output contains s, failing after limit.
func (r *ptyReader) waitFor(t testhost.T, s string, limit time.Duration) {
	var seen []byte
	timeout := time.After(limit)
	for !bytes.Contains(seen, []byte(s)) {
		select {
		case b, ok := <-r.chunks:
			if !ok {
				t.Fatalf("waiting for %q: the PTY closed (seen %q)", s, seen)
			}
			seen = append(seen, b...)
		case <-timeout:
			t.Fatalf("waiting for %q: nothing after %v (seen %q)", s, limit, seen)
		}
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(time.Microsecond)
}

func rssOf(t testhost.T, h *testhost.Host, comm string) int {
	l := rssList(t, h, comm)
	if len(l) == 0 {
		t.Fatalf("no process %s", comm)
	}
	return l[0]
}

func rssList(t testhost.T, h *testhost.Host, comm string) []int {
	out, _ := h.Run("ps", "-o", "rss=", "-C", comm)
	var l []int
	for _, f := range strings.Fields(string(out)) {
		n, _ := strconv.Atoi(f)
		l = append(l, n)
	}
	return l
}

func median(x []int) int {
	if len(x) == 0 {
		return 0
	}
	return x[len(x)/2]
}

func maxOf(x []int) int {
	m := 0
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}
