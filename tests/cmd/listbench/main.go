// Command listbench (run by `make bench`) measures recctl's reading side on a journal the
// size of a central log host's and prints a Markdown section for BENCHMARKS.md:
//
//   - `recctl list --directory DIR` over 1,000 recordings in a synthetic journal of more
//     than 500 MB: wall time, CPU and peak resident memory of recctl and of journalctl;
//   - `recctl play --goto 59:50` of a one-hour recording in that journal: time to the first
//     byte, to the first frame (all output up to 59:50) and to the end, raw and on a PTY.
//
// The journal (docs/recording-format.md entries made with recd's own tlog encoder and hash
// chain, a tenth of the recordings as tlog-rec-session writes them, and other logs of the
// hosts in between) is written in the journal export format and imported with
// systemd-journal-remote, one file per host as on a central host. It is cached under
// build/bench-cache/<version>, so a second run only measures. It runs the real
// build/recctl (make builds it) as root, which reads every recording; nothing outside
// the cache directory is written.
//
// Progress goes to standard error, the Markdown section to standard output.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/recd-dev/recd/internal/journal/journaltest"
	"github.com/recd-dev/recd/tests/testhost"
)

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "listbench: "+format+"\n", args...) }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "listbench: FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	repo, err := testhost.RepoRoot()
	if err != nil {
		fail("%v (run it from the checkout)", err)
	}
	cache := flag.String("cache", filepath.Join(repo, "build", "bench-cache"), "directory for the generated journal")
	recctl := flag.String("recctl", filepath.Join(repo, "build", "recctl"), "the recctl binary to measure")
	runs := flag.Int("runs", 3, "runs of recctl list")
	outMB := flag.Int("output-mb", outputTargetMB, "recorded output in the journal, MB (below the default the journal is under 500 MB: for trying the program out)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fail("run it as root: recctl shows a non-root user only their own recordings")
	}
	if _, err := os.Stat(*recctl); err != nil {
		fail("%v (make builds build/recctl)", err)
	}
	remote := journaltest.RemotePath()
	if remote == "" {
		fail("systemd-journal-remote is not installed (make deps installs it)")
	}

	dir := filepath.Join(*cache, fmt.Sprintf("%s-%dmb", cacheVersion, *outMB))
	jdir := filepath.Join(dir, "journal")
	m, err := readManifest(filepath.Join(dir, "manifest.json"))
	if err != nil || m.Version != cacheVersion {
		logf("generating the journal into %s (a few minutes; cached for the next run)", dir)
		if err := os.RemoveAll(dir); err != nil {
			fail("%v", err)
		}
		tmp := dir + ".tmp"
		_ = os.RemoveAll(tmp)
		m, err = generate(filepath.Join(tmp, "journal"), remote, *outMB, logf)
		if err != nil {
			fail("generating the journal: %v", err)
		}
		if err := writeManifest(filepath.Join(tmp, "manifest.json"), m); err != nil {
			fail("%v", err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			fail("%v", err)
		}
		logf("generated %d entries, %d MB on disk in %.0f s", m.Entries, m.DiskBytes>>20, m.GenerateSecs)
	} else {
		logf("using the cached journal in %s", dir)
	}
	if m.DiskBytes < 500<<20 && *outMB >= outputTargetMB {
		fail("the journal is only %d MB; the benchmark needs at least 500 MB (raise outputTargetMB and cacheVersion)", m.DiskBytes>>20)
	}

	// recctl list.
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil && len(strings.Fields(string(b))) >= 3 {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	var lists []result
	for i := 0; i < *runs; i++ {
		r := measure(*recctl, []string{"list", "--directory", jdir}, nil)
		if r.err != nil {
			fail("recctl list: %v\n%s", r.err, r.stderr)
		}
		rows := bytes.Count(r.out, []byte("\n")) - 1
		if rows != nRecordings {
			fail("recctl list shows %d recordings, want %d\n%s", rows, nRecordings, r.stderr)
		}
		logf("list run %d: %s", i+1, r)
		lists = append(lists, r)
	}
	type variant struct {
		name string
		args []string
		r    result
	}
	variants := []variant{
		{name: "--user user07", args: []string{"--user", "user07"}},
		{name: "--host web03.example.com", args: []string{"--host", "web03.example.com"}},
		{name: "--since (last 3.5 of 7 days)", args: []string{"--since", fmt.Sprintf("@%d", (m.FirstUs+m.LastUs)/2e6)}},
		{name: "--grep TEXT (reads every entry)", args: []string{"--grep", "no-such-text-anywhere"}},
	}
	for i, v := range variants {
		r := measure(*recctl, append([]string{"list", "--directory", jdir}, v.args...), nil)
		if r.err != nil {
			fail("recctl list %s: %v\n%s", strings.Join(v.args, " "), r.err, r.stderr)
		}
		logf("list %s: %s", v.name, r)
		variants[i].r = r
	}

	// recctl play of the one-hour recording.
	gotoArg := fmt.Sprintf("%d:%02d", longGoto/60000, longGoto/1000%60)
	paced := measure(*recctl, []string{"play", "--raw", "--directory", jdir, "--goto", gotoArg, "--speed", "1", m.LongID}, []byte(frameMarker))
	if paced.err != nil {
		fail("recctl play --goto: %v\n%s", paced.err, paced.stderr)
	}
	if paced.marker == 0 {
		fail("recctl play --goto: the frame marker never arrived\n%s", paced.stderr)
	}
	logf("play --raw --goto %s --speed 1: %s", gotoArg, paced)
	whole := measure(*recctl, []string{"play", "--raw", "--directory", jdir, m.LongID}, nil)
	if whole.err != nil {
		fail("recctl play --raw: %v\n%s", whole.err, whole.stderr)
	}
	if whole.bytes != m.LongBytes {
		fail("recctl play --raw wrote %d bytes, the recording has %d", whole.bytes, m.LongBytes)
	}
	logf("play --raw: %s", whole)
	tty, err := playOnPTY(*recctl, jdir, m.LongID, gotoArg)
	if err != nil {
		fail("recctl play on a PTY: %v", err)
	}
	logf("play on a PTY: status line after %v", tty)

	// The report.
	fmt.Println("## Listing and playback")
	fmt.Println()
	fmt.Printf("Command: `make bench` (`go run ./tests/cmd/listbench`): the real `build/recctl` as root, warm page cache. "+
		"The journal is synthetic, as a central host collects it with systemd-journal-remote: one file per host; recd's entries "+
		"made with recd's own tlog encoder and hash chain, every %dth recording as tlog-rec-session writes it, the hosts' other "+
		"logs in between. `list` reads recd's open and close entries and only the messages of tlog's and live recordings "+
		"(and of recd's that reach beyond `--since`/`--until`); `--grep` reads every entry (here all 7 days, the worst case). "+
		"journalctl's resident size is mostly the journal files it maps (page cache); its own memory is the anonymous part. "+
		"Targets: list under 30 s and 200 MB.\n", tlogShare)
	fmt.Println()
	fmt.Println("```")
	fmt.Printf("journal: %d MB in %d files, %d entries: %d recordings (%d by recd, %d by tlog) of %d hosts and %d users over %d days,\n",
		m.DiskBytes>>20, m.Files, m.Entries, m.Recordings, m.ByRecd, m.ByTlog, nHosts, nUsers, timelineDays)
	fmt.Printf("         %d tlog messages with %d MB of output, %d other entries (generated and imported in %.0f s, then cached)\n",
		m.Messages, m.OutputBytes>>20, noiseEntries, m.GenerateSecs)
	fmt.Println()
	fmt.Println("recctl list --directory DIR                       wall      CPU*     peak RSS: recctl   journalctl (anonymous)")
	row := func(name string, r result) {
		fmt.Printf("  %-45s %6.2f s  %6.2f s  %9d MB  %9d MB (%d MB)\n", name, r.wall.Seconds(), r.cpu.Seconds(),
			r.self.hwm>>10, r.child.hwm>>10, r.child.anon>>10)
	}
	for i, r := range lists {
		row(fmt.Sprintf("run %d (%d rows)", i+1, nRecordings), r)
	}
	for _, v := range variants {
		row(fmt.Sprintf("%s (%d rows)", v.name, max(0, bytes.Count(v.r.out, []byte("\n"))-1)), v.r)
	}
	fmt.Println("  * user+sys of recctl and the journalctl processes it ran")
	fmt.Println()
	fmt.Printf("recctl play, the one-hour recording (%.1f MB of output in %d messages; output every 250-400 ms, a redraw every 3 s)\n",
		float64(m.LongBytes)/(1<<20), m.LongMessages)
	fmt.Printf("  --raw --goto %s --speed 1:  first byte %.2f s, first frame (all %.1f MB up to %s) %.2f s, done %.2f s (10 s paced); peak RSS %d MB\n",
		gotoArg, paced.first.Seconds(), float64(m.LongToGoto)/(1<<20), gotoArg, paced.marker.Seconds(), paced.wall.Seconds(), paced.self.hwm>>10)
	fmt.Printf("  --raw (all at once):               first byte %.2f s, done %.2f s; peak RSS %d MB\n",
		whole.first.Seconds(), whole.wall.Seconds(), whole.self.hwm>>10)
	fmt.Printf("  --goto %s on a 120x40 PTY:      first frame and status line at %s after %.2f s\n", gotoArg, gotoArg, tty.Seconds())
	fmt.Println("```")
	fmt.Printf("\nMachine: %d cores, load average %s before the runs (wall above CPU time means the runs waited for a core); Go %s; journalctl %s.\n",
		runtime.NumCPU(), load, strings.TrimPrefix(runtime.Version(), "go"), journalctlVersion())
}

func journalctlVersion() string {
	out, err := exec.Command("journalctl", "--version").Output()
	if err != nil {
		return "unknown"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}

// result is one measured run.
type result struct {
	wall, cpu     time.Duration
	first, marker time.Duration // first byte of output; marker seen (0: never)
	bytes         int64
	self, child   mem // peak memory of recctl and of its journalctl
	out, stderr   []byte
	err           error
}

func (r result) String() string {
	return fmt.Sprintf("wall %.2f s, cpu %.2f s, first byte %.2f s, marker %.2f s, %d bytes, peak RSS recctl %d MB (anon %d MB), journalctl %d MB (anon %d MB)",
		r.wall.Seconds(), r.cpu.Seconds(), r.first.Seconds(), r.marker.Seconds(), r.bytes, r.self.hwm>>10, r.self.anon>>10, r.child.hwm>>10, r.child.anon>>10)
}

// measure runs prog with args, reading its output as it comes (keeping the first 1 MiB),
// and samples the peak RSS (VmHWM) of the process and of its children until it exits.
func measure(prog string, args []string, marker []byte) result {
	var r result
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.err = err
		return r
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample(cmd.Process.Pid, done, &r.self, &r.child)
	}()
	buf := make([]byte, 64<<10)
	var tail []byte
	for {
		n, err := stdout.Read(buf)
		if n > 0 {
			if r.bytes == 0 {
				r.first = time.Since(start)
			}
			r.bytes += int64(n)
			if len(r.out) < 1<<20 {
				r.out = append(r.out, buf[:n]...)
			}
			if marker != nil && r.marker == 0 {
				tail = append(tail, buf[:n]...)
				if bytes.Contains(tail, marker) {
					r.marker = time.Since(start)
				}
				if len(tail) > len(marker) {
					tail = append(tail[:0], tail[len(tail)-len(marker):]...)
				}
			}
		}
		if err != nil {
			break
		}
	}
	r.err = cmd.Wait()
	r.wall = time.Since(start)
	close(done)
	wg.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		// Not ru_maxrss: after fork and exec it also holds the forking parent's peak.
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r.stderr = stderr.Bytes()
	return r
}

// sample polls the peak RSS (VmHWM) and the largest anonymous RSS (RssAnon: memory not
// backed by a file; journalctl's VmHWM also counts the journal files it maps) of pid and
// of its children (started by any of its threads) every 5 ms until done.
func sample(pid int, done <-chan struct{}, self, child *mem) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		self.update(pid)
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, p := range tasks {
			if b, err := os.ReadFile(p); err == nil {
				for _, c := range strings.Fields(string(b)) {
					if n, err := strconv.Atoi(c); err == nil {
						child.update(n)
					}
				}
			}
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// mem is the peak memory of a process, KiB.
type mem struct{ hwm, anon int64 }

func (m *mem) update(pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch name {
		case "VmHWM":
			m.hwm = max(m.hwm, n)
		case "RssAnon":
			m.anon = max(m.anon, n)
		}
	}
}

// playOnPTY runs the interactive player on a 120x40 terminal and returns how long it took
// until the status line shows the --goto position with the frame before it, then quits.
func playOnPTY(recctl, dir, id, gotoArg string) (time.Duration, error) {
	cmd := exec.Command(recctl, "play", "--directory", dir, "--goto", gotoArg, id)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "LC_ALL=C.UTF-8")
	start := time.Now()
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 120, Rows: 40})
	if err != nil {
		return 0, err
	}
	defer ptm.Close()
	want := []byte(" 0:" + fmt.Sprintf("%02d:%02d", longGoto/60000, longGoto/1000%60) + " / ")
	found := make(chan time.Duration, 1)
	var seen bytes.Buffer
	go func() {
		buf := make([]byte, 64<<10)
		marker := false
		for {
			n, err := ptm.Read(buf)
			seen.Write(buf[:n])
			if !marker && bytes.Contains(seen.Bytes(), []byte(frameMarker)) {
				marker = true
			}
			if marker && bytes.Contains(seen.Bytes()[max(0, seen.Len()-n-len(want)):], want) {
				found <- time.Since(start)
				_, _ = io.Copy(io.Discard, ptm)
				return
			}
			if seen.Len() > 64<<20 {
				seen.Reset()
			}
			if err != nil {
				close(found)
				return
			}
		}
	}()
	var d time.Duration
	select {
	case v, ok := <-found:
		if !ok {
			_ = cmd.Wait()
			return 0, errors.New("the player ended before showing the frame at " + gotoArg)
		}
		d = v
	case <-time.After(120 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, errors.New("no frame at " + gotoArg + " within 120 s")
	}
	_, _ = ptm.Write([]byte("q"))
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			return d, fmt.Errorf("after q: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		return d, errors.New("the player did not quit on q")
	}
	return d, nil
}
