// Package load is recd's load and chaos test: on one isolated test host (tests/testhost:
// real sshd, PAM, NSS, journald, recd), N recorded ssh sessions run at once for a set
// time, each driven through its own pseudo-terminal by a driver that types commands key
// by key, prints bursts of output (`cat` of 1–4 MiB files, `yes | head -n 20000`), runs a
// full-screen program (alternate screen, cursor moves, colours, a `top -b` snapshot) and
// resizes its window, and keeps every byte its terminal showed. Optionally a chaos monkey
// kills recd (restarting it after 100 ms, as systemd's Restart= would), restarts journald,
// stops recd for 10 s, fills the journal's file system for 30 s and kills single
// recorders.
//
// At the end every recording is read back from the journal through internal/recording
// (what `recctl verify` and `recctl play --raw` use) and compared with what its driver's
// terminal showed after the recording notice: byte for byte, with gaps only where the
// recording says so (a `lost` note) or at the end of a recording whose recorder was
// killed (closed as aborted). RELIABILITY.md has the figures; `make soak` runs it
// (tests/cmd/soak) and TestShortSoak, a short version, runs in `make test`.
//
// What is compared: the recorder writes the shell's output to the user's terminal (the
// sshd pseudo-terminal, which it puts in raw mode, so the kernel adds nothing) and records
// the same bytes. The driver's own pseudo-terminal is raw before ssh starts (and ssh -tt
// keeps it raw), so no \n → \r\n translation (onlcr) happens on the driver's side either:
// the bytes the driver reads after the notice line are exactly the bytes the recorder
// wrote, and the comparison is exact, without normalisation. The notice itself (and
// anything sshd or PAM print before it) is written outside the recording, by design.
package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/recd-dev/recd/tests/testhost"
)

// Config is what a run does.
type Config struct {
	// Sessions is the number of recorded ssh sessions at once (default 100).
	Sessions int
	// Duration of the load (default 5 minutes); logins are spread over Ramp at the start.
	Duration time.Duration
	Ramp     time.Duration
	// Chaos runs the chaos monkey: kill -9 of recd, journald restarts, SIGSTOP of recd for
	// 10 s, the journal's file system full for 30 s, kill -9 of single recorders.
	Chaos bool
	// RecdKills is a number of kill -9 of recd (each restarted after 100 ms) at evenly
	// spread moments, without the rest of the chaos (the short soak has 1).
	RecdKills int
	// Users is the number of recorded users the sessions are spread over (default one per
	// 8 sessions: recd keeps at most 64 recordings per user).
	Users int
	// CatPercent is the share of steps that are `cat` bursts of a 1–4 MiB file (default
	// DefaultCatPercent; -1 for none). 8 saturates this 2-core machine with 100 sessions.
	CatPercent int
	// SessionMin, when set, makes sessions log out after a random time of at least
	// SessionMin and log in again, until the end (0: each lasts the whole run).
	SessionMin time.Duration
	// Seed makes the workload and the chaos reproducible (0: random).
	Seed int64
	// JournalTmpfs is the size of the tmpfs mounted over the test host's /var/log/journal
	// under Chaos, the file system that is filled (default 3g: a default soak writes about
	// 0.9 GB of journal, which must fit besides the fill). Without Chaos the journal
	// is on the machine's disk and nothing is filled.
	JournalTmpfs string
	// DgramQlen, when set, is net.unix.max_dgram_qlen of the test host (a network
	// namespace of its own, which starts with the kernel's default of 10, as Debian
	// keeps it; Fedora, RHEL and CentOS 7 ship systemd's 50-default.conf with 512). It
	// bounds the datagrams waiting in journald's socket.
	DgramQlen int
	// Dir receives the transcripts ("" = a temporary directory, removed after a
	// successful run).
	Dir string
	// Logf receives progress lines (nil: discarded).
	Logf func(format string, args ...any)
}

func (c *Config) setDefaults() {
	if c.Sessions <= 0 {
		c.Sessions = 100
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Minute
	}
	if c.Ramp <= 0 {
		c.Ramp = min(c.Duration/6, time.Duration(c.Sessions)*200*time.Millisecond)
	}
	if c.CatPercent == 0 {
		c.CatPercent = DefaultCatPercent
	}
	if c.Users <= 0 {
		c.Users = (c.Sessions + 7) / 8
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	if c.JournalTmpfs == "" {
		c.JournalTmpfs = "3g"
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// ConfigFromEnv reads the knobs `make soak` passes: RECD_LOAD_SESSIONS,
// RECD_LOAD_DURATION (a Go duration), RECD_LOAD_CHAOS (1), RECD_LOAD_SEED,
// RECD_LOAD_SESSION_MIN, RECD_LOAD_CAT_PERCENT, RECD_LOAD_TMPFS.
func ConfigFromEnv(c Config) (Config, error) {
	if v := os.Getenv("RECD_LOAD_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("RECD_LOAD_SESSIONS=%q is not a positive number", v)
		}
		c.Sessions = n
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{"RECD_LOAD_DURATION", &c.Duration}, {"RECD_LOAD_SESSION_MIN", &c.SessionMin}} {
		if v := os.Getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				return c, fmt.Errorf("%s=%q is not a duration such as 5m", d.env, v)
			}
			*d.to = x
		}
	}
	if v := os.Getenv("RECD_LOAD_CHAOS"); v != "" && v != "0" {
		c.Chaos = true
	}
	if v := os.Getenv("RECD_LOAD_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("RECD_LOAD_SEED=%q is not a number", v)
		}
		c.Seed = n
	}
	if v := os.Getenv("RECD_LOAD_CAT_PERCENT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 || n > 100 {
			return c, fmt.Errorf("RECD_LOAD_CAT_PERCENT=%q is not a percentage", v)
		}
		c.CatPercent = n
	}
	if v := os.Getenv("RECD_LOAD_TMPFS"); v != "" {
		c.JournalTmpfs = v
	}
	return c, nil
}

// runner is one run.
type runner struct {
	t       testhost.T
	h       *testhost.Host
	cfg     Config
	dir     string
	notice  string
	sshArgs map[string][]string
	users   []string
	smp     *sampler
	start   time.Time
	tmpfs   bool

	mu        sync.Mutex
	results   []*SessionResult
	active    map[*session]bool
	maxActive int
	recd      *testhost.Daemon
	recdN     int
	chaos     []ChaosEvent
	failures  []string
}

func (r *runner) logf(format string, args ...any) {
	r.cfg.Logf("load: %6.1fs "+format, append([]any{time.Since(r.start).Seconds()}, args...)...)
}

func (r *runner) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.failures = append(r.failures, msg)
	r.mu.Unlock()
	r.logf("FAILURE: %s", msg)
}

func (r *runner) addResult(s *SessionResult) {
	r.mu.Lock()
	r.results = append(r.results, s)
	r.mu.Unlock()
}

func (r *runner) register(s *session) {
	r.mu.Lock()
	r.active[s] = true
	r.maxActive = max(r.maxActive, len(r.active))
	r.mu.Unlock()
}

func (r *runner) unregister(s *session) {
	r.mu.Lock()
	delete(r.active, s)
	r.mu.Unlock()
}

// journaldConf keeps every recording in the journal for the check at the end: no
// retention by size or file count gets in the way (the files are removed with the host).
const journaldConf = `# recd load test (tests/load)
[Journal]
SystemMaxUse=64G
SystemMaxFileSize=128M
SystemMaxFiles=100000
`

// Run runs the load test on a new test host and returns its report. It fails t only
// when the host cannot be set up; what the run finds wrong is in Report.Failures.
func Run(t testhost.T, cfg Config) *Report {
	t.Helper()
	cfg.setDefaults()
	r := &runner{t: t, cfg: cfg, active: map[*session]bool{}, sshArgs: map[string][]string{}, start: time.Now()}
	r.setup()
	rep := r.load()
	r.logf("checking %d sessions against their recordings", len(r.results))
	r.check(rep)
	if len(rep.Failures) > 0 {
		r.keepEvidence(rep)
	}
	if len(rep.Failures) == 0 && cfg.Dir == "" {
		_ = os.RemoveAll(r.dir)
	} else {
		rep.TranscriptDir = r.dir
	}
	return rep
}

// keepEvidence copies the daemons' logs and (when not huge) the journal next to the
// transcripts, since the test host and its state go with the run.
func (r *runner) keepEvidence(rep *Report) {
	_ = exec.Command("cp", "-a", filepath.Join(r.h.StateDir(), "logs"), filepath.Join(r.dir, "logs")).Run()
	if rep.JournalAfter >= 0 && rep.JournalAfter < 2<<30 {
		_ = exec.Command("cp", "-a", r.h.Path("/var/log/journal"), filepath.Join(r.dir, "journal")).Run()
	}
	r.logf("logs and journal copied to %s (journalctl -D %s/journal/*)", r.dir, r.dir)
}

func (r *runner) setup() {
	t, cfg := r.t, r.cfg
	r.dir = cfg.Dir
	if r.dir == "" {
		d, err := os.MkdirTemp("", "recd-load-")
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		r.dir = d
	} else if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatalf("load: %v", err)
	}
	h := testhost.New(t, testhost.WithHostname("recd-load"), testhost.WithCommandTimeout(5*time.Minute))
	r.h = h
	r.logf("test host %s up (pid %d, state %s); %d sessions over %d users for %v, ramp %v, cat bursts %d%%, chaos %v, recd kills %d, seed %d",
		h.Hostname(), h.PID(), h.StateDir(), cfg.Sessions, cfg.Users, cfg.Duration, cfg.Ramp, cfg.CatPercent, cfg.Chaos, cfg.RecdKills, cfg.Seed)
	conf := journaldConf
	if cfg.Chaos {
		// The journal goes on a small file system of its own that the chaos monkey can
		// fill without touching the machine's disk. journald must not delete recordings
		// to make room (SystemKeepFree=0): the check at the end needs all of them.
		h.MustRun(t, "mount", "-t", "tmpfs", "-o", "size="+cfg.JournalTmpfs+",mode=0755,nosuid,nodev", "tmpfs", "/var/log/journal")
		if fs := strings.TrimSpace(h.MustRun(t, "stat", "-f", "-c", "%T", "/var/log/journal")); fs != "tmpfs" {
			t.Fatalf("load: /var/log/journal on the test host is %s, not the tmpfs just mounted", fs)
		}
		r.tmpfs = true
		conf += "SystemKeepFree=0\n"
	}
	h.WriteFile("/etc/systemd/journald.conf.d/load.conf", []byte(conf), 0o644)
	if cfg.DgramQlen > 0 {
		// Before journald's socket exists: a socket takes the value when it is created.
		h.MustRun(t, "sysctl", "-q", "-w", fmt.Sprintf("net.unix.max_dgram_qlen=%d", cfg.DgramQlen))
	}
	h.StartJournald()
	h.Install()

	h.AddGroup("loadrec", 2000)
	for i := 1; i <= cfg.Users; i++ {
		u := fmt.Sprintf("load%02d", i)
		h.AddUser(u, testhost.UserGroups("loadrec"), testhost.UserShell("/bin/bash"))
		r.users = append(r.users, u)
		r.sshArgs[u] = append([]string{"-tt"}, h.SSHArgs(u)...)
	}
	h.RecdFirstInPasswd()
	h.AddPAMRecd("sshd")
	h.WriteFile("/etc/recd/recd.conf", []byte("[session_recording]\nscope = some\ngroups = loadrec\n[recorder]\nrecorder = builtin\n"), 0o644)
	h.MustRun(t, "recctl", "reload")
	h.Shell(setupScript())
	r.notice = "ATTENTION! Your session is being recorded!"
	r.startRecd()
	if err := r.waitRecd(10 * time.Second); err != nil {
		t.Fatalf("load: %v", err)
	}
	h.StartSSHD(testhost.SSHDOptions{})
}

// startRecd starts recd (again), as systemd does.
func (r *runner) startRecd() {
	r.mu.Lock()
	r.recdN++
	label := "recd"
	if r.recdN > 1 {
		label = fmt.Sprintf("recd-%d", r.recdN)
	}
	r.mu.Unlock()
	d := r.h.Start(label, "/usr/sbin/recd")
	r.mu.Lock()
	r.recd = d
	r.mu.Unlock()
}

func (r *runner) currentRecd() *testhost.Daemon {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recd
}

func (r *runner) waitRecd(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		out, err := r.h.Run("recctl", "status")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("recd does not answer after %v: %v\n%s", limit, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// journalBytes is the size of the host's journal files.
func (r *runner) journalBytes() int64 {
	out, err := r.h.Run("du", "-s", "-B1", "--apparent-size", "/var/log/journal")
	if err != nil {
		return -1
	}
	n, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	return n
}

// load runs the drivers (and the chaos monkey) and waits until every recording is closed.
func (r *runner) load() *Report {
	cfg := r.cfg
	rep := &Report{Config: cfg, Host: r.h.Hostname(), Machine: machine()}
	rep.JournalBefore = r.journalBytes()
	r.smp = newSampler(r.h.PID())
	go r.smp.run(time.Second)

	begin := time.Now()
	end := begin.Add(cfg.Duration)
	rep.Start = begin
	var wg sync.WaitGroup
	for i := 0; i < cfg.Sessions; i++ {
		d := &driver{run: r, id: i + 1, user: r.users[i%len(r.users)],
			rng: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i+1)))}
		delay := time.Duration(i) * cfg.Ramp / time.Duration(cfg.Sessions)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.recoverGoroutine("driver " + strconv.Itoa(d.id))
			time.Sleep(delay)
			d.loop(end)
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		defer r.recoverGoroutine("chaos monkey")
		r.chaosMonkey(ctx, begin)
	}()
	progress := time.NewTicker(30 * time.Second)
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
loop:
	for {
		select {
		case <-waitDone:
			break loop
		case <-progress.C:
			r.mu.Lock()
			n, done := len(r.active), len(r.results)
			r.mu.Unlock()
			m := r.smp.metrics()
			r.logf("%d sessions active, %d ended; recd CPU %.1fs, recd RSS peak %d MiB, recorders %d", n, done, m.RecdCPUSeconds, m.RecdPeakRSSKB>>10, m.RecordersAtOnce)
		}
	}
	progress.Stop()
	cancel()
	<-chaosDone
	rep.LoadEnd = time.Now()
	r.logf("all drivers done; waiting for every recording to be closed")
	r.waitClosed(3 * time.Minute)
	r.smp.close()
	rep.Metrics = r.smp.metrics()
	rep.JournalAfter = r.journalBytes()
	r.mu.Lock()
	rep.MaxConcurrent = r.maxActive
	rep.Chaos = append(rep.Chaos, r.chaos...)
	r.mu.Unlock()
	return rep
}

func (r *runner) recoverGoroutine(what string) {
	if v := recover(); v != nil {
		r.fail("%s: %v", what, v)
	}
}

// recordingIDs lists the recordings in the journal, and those with a close entry.
func (r *runner) recordingIDs(ctx context.Context) (all, closed []string, err error) {
	dir := r.h.Path("/var/log/journal")
	field := func(args ...string) ([]string, error) {
		cmd := exec.CommandContext(ctx, "journalctl", append([]string{"--directory=" + dir, "--no-pager"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return nil, fmt.Errorf("journalctl %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
			}
			return nil, err
		}
		var ids []string
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				ids = append(ids, l)
			}
		}
		sort.Strings(ids)
		return ids, nil
	}
	if all, err = field("-F", "RECD_REC"); err != nil {
		return nil, nil, err
	}
	js, err := exec.CommandContext(ctx, "journalctl", "--directory="+dir, "--no-pager", "-o", "json",
		"RECD_EVENT=close", "_UID=0").Output()
	if err != nil {
		return all, nil, fmt.Errorf("journalctl RECD_EVENT=close: %w", err)
	}
	ents, err := testhost.DecodeJournalJSON(js)
	if err != nil {
		return all, nil, err
	}
	for _, e := range ents {
		if id := testhost.Field(e, "RECD_REC"); id != "" {
			closed = append(closed, id)
		}
	}
	return all, closed, nil
}

// waitClosed waits until every recording in the journal has its close entry.
func (r *runner) waitClosed(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		all, closed, err := r.recordingIDs(ctx)
		cancel()
		if err == nil {
			set := map[string]bool{}
			for _, id := range closed {
				set[id] = true
			}
			open := 0
			for _, id := range all {
				if !set[id] {
					open++
				}
			}
			if open == 0 {
				return
			}
			if time.Now().After(deadline) {
				r.fail("%d of %d recordings still have no close entry %v after the last session ended", open, len(all), limit)
				return
			}
		} else if time.Now().After(deadline) {
			r.fail("reading the journal: %v", err)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// machine describes the machine for the report.
func machine() string {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	rel := func(a [65]int8) string {
		b := make([]byte, 0, len(a))
		for _, c := range a {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		return string(b)
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && k == "MemTotal" {
				mem = fmt.Sprintf(", %d GiB", (kb(v)+(1<<19))>>20)
			}
		}
	}
	osName := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = ", " + strings.Trim(v, `"`)
			}
		}
	}
	return fmt.Sprintf("%d cores%s%s, Linux %s", runtime.NumCPU(), mem, osName, rel(u.Release))
}
