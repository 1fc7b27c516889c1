package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"time"
)

// Chaos event kinds.
const (
	chaosRecdKill     = "recd kill -9"
	chaosJournald     = "journald restart"
	chaosRecdStop     = "recd SIGSTOP 10s"
	chaosDiskFull     = "journal fs full 30s"
	chaosRecorderKill = "recorder kill -9"
)

// Durations of the faults that last.
const (
	recdStopFor   = 10 * time.Second
	diskFullFor   = 30 * time.Second
	recdRestartIn = 100 * time.Millisecond // systemd's RestartSec= of recd.service
)

// ChaosEvent is one fault the monkey caused.
type ChaosEvent struct {
	At     time.Duration // since the start of the load
	Kind   string
	Detail string
	Took   time.Duration
}

type plannedEvent struct {
	at   time.Duration
	kind string
}

func eventLength(kind string) time.Duration {
	switch kind {
	case chaosRecdStop:
		return recdStopFor
	case chaosDiskFull:
		return diskFullFor
	}
	return 2 * time.Second
}

// plan places the run's faults at random moments between the end of the ramp and shortly
// before the end, so that sessions are running when they happen and have time to show
// that they recovered.
func (r *runner) plan() []plannedEvent {
	cfg := r.cfg
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xc4a05))
	from := cfg.Ramp + 5*time.Second
	to := cfg.Duration - 20*time.Second
	var kinds []string
	switch {
	case cfg.Chaos:
		kinds = []string{chaosRecdKill, chaosJournald, chaosRecdStop, chaosDiskFull, chaosRecorderKill}
		if cfg.Duration >= 4*time.Minute {
			kinds = append(kinds, chaosRecdKill, chaosJournald, chaosRecorderKill, chaosRecorderKill)
		}
		rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	case cfg.RecdKills > 0:
		for i := 0; i < cfg.RecdKills; i++ {
			kinds = append(kinds, chaosRecdKill)
		}
	default:
		return nil
	}
	if !cfg.Chaos {
		// Evenly spread.
		to = cfg.Duration - 8*time.Second
		var out []plannedEvent
		for i, k := range kinds {
			out = append(out, plannedEvent{at: from + time.Duration(i+1)*(to-from)/time.Duration(len(kinds)+1), kind: k})
		}
		return out
	}
	// Random gaps: the slack left after the faults and a 5 s minimum gap before each is
	// cut at random points.
	busy := time.Duration(0)
	for _, k := range kinds {
		busy += eventLength(k) + 5*time.Second
	}
	slack := max(0, to-from-busy)
	cuts := make([]time.Duration, len(kinds))
	for i := range cuts {
		cuts[i] = time.Duration(rng.Int64N(int64(slack) + 1))
	}
	sortDurations(cuts)
	var out []plannedEvent
	t, prev := from, time.Duration(0)
	for i, k := range kinds {
		t += 5*time.Second + (cuts[i] - prev)
		prev = cuts[i]
		out = append(out, plannedEvent{at: t, kind: k})
		t += eventLength(k)
	}
	return out
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// chaosMonkey causes the planned faults, one after the other.
func (r *runner) chaosMonkey(ctx context.Context, begin time.Time) {
	plan := r.plan()
	for _, p := range plan {
		r.logf("chaos: planned %s at %v", p.kind, p.at.Round(time.Second))
	}
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), 0x5e55))
	for _, p := range plan {
		select {
		case <-time.After(time.Until(begin.Add(p.at))):
		case <-ctx.Done():
			return
		}
		ev := ChaosEvent{At: time.Since(begin), Kind: p.kind}
		t0 := time.Now()
		var err error
		switch p.kind {
		case chaosRecdKill:
			ev.Detail, err = r.killRecd()
		case chaosJournald:
			r.h.RestartJournald()
			ev.Detail = "SIGTERM to journald, a new one on the same socket (as systemctl restart)"
		case chaosRecdStop:
			ev.Detail, err = r.stopRecd()
		case chaosDiskFull:
			ev.Detail, err = r.fillJournal(ctx)
		case chaosRecorderKill:
			ev.Detail, err = r.killRecorder(rng)
		}
		ev.Took = time.Since(t0)
		if err != nil {
			r.fail("chaos %s: %v", p.kind, err)
			ev.Detail += " — FAILED: " + err.Error()
		}
		r.logf("chaos: %s: %s (%v)", ev.Kind, ev.Detail, ev.Took.Round(time.Millisecond))
		r.mu.Lock()
		r.chaos = append(r.chaos, ev)
		r.mu.Unlock()
	}
}

// killRecd kills recd with SIGKILL (its journal writer child dies with it: PDEATHSIG) and
// starts a new one 100 ms after it is gone, as systemd does with Restart=always.
func (r *runner) killRecd() (string, error) {
	d := r.currentRecd()
	r.smp.sample() // its CPU time, before it is gone
	d.Signal(syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	var exitErr error
	for {
		if ok, _ := d.Exited(); ok {
			break
		}
		if time.Now().After(deadline) {
			exitErr = fmt.Errorf("recd's launcher did not exit 10s after SIGKILL (restarted all the same)")
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(recdRestartIn)
	t0 := time.Now()
	r.startRecd()
	if err := r.waitRecd(30 * time.Second); err != nil {
		return "", err
	}
	return fmt.Sprintf("restarted after %v, answering %v later", recdRestartIn, time.Since(t0).Round(time.Millisecond)), exitErr
}

// stopRecd stops recd (SIGSTOP) for recdStopFor: recorders cannot reach it, journald and
// the writer child are fine.
func (r *runner) stopRecd() (string, error) {
	d := r.currentRecd()
	d.Signal(syscall.SIGSTOP)
	time.Sleep(recdStopFor)
	d.Signal(syscall.SIGCONT)
	// nsenter --fork, recd's parent here (testhost.Start), stops itself when its child
	// stops (job control passthrough) and then could not reap recd: continue it too.
	for _, p := range hostProcs(r.h.PID()) {
		if p.comm == "recd" {
			if pp, err := readProc(p.ppid); err == nil && pp.comm == "nsenter" {
				_ = syscall.Kill(pp.pid, syscall.SIGCONT)
			}
		}
	}
	return "SIGSTOP, SIGCONT after " + recdStopFor.String(), nil
}

// fillJournal fills the journal's file system (the tmpfs mounted for the run, never the
// machine's disk) to 100% for diskFullFor, then frees it.
func (r *runner) fillJournal(ctx context.Context) (string, error) {
	if !r.tmpfs {
		return "", fmt.Errorf("the journal is not on a tmpfs of its own: not filling it")
	}
	if out, err := r.h.Run("stat", "-f", "-c", "%T", "/var/log/journal"); err != nil || strings.TrimSpace(string(out)) != "tmpfs" {
		return "", fmt.Errorf("/var/log/journal is on %q (%v), not tmpfs: not filling it", strings.TrimSpace(string(out)), err)
	}
	const fill = "/var/log/journal/load-fill"
	// fallocate takes the free space at once; dd takes what is left.
	t0 := time.Now()
	out, _ := r.h.RunContext(ctx, "sh", "-c", `f=`+fill+`
avail=$(df -B1 --output=avail /var/log/journal | tail -n 1)
fallocate -l "$avail" "$f" 2>/dev/null || fallocate -l "$((avail - 1048576))" "$f" 2>/dev/null
dd if=/dev/zero of="$f" bs=64k oflag=append conv=notrunc 2>/dev/null
df -B1 --output=used,avail,pcent /var/log/journal | tail -n 1`)
	df := strings.Fields(string(out))
	detail := fmt.Sprintf("filled: %s", strings.TrimSpace(string(out)))
	if len(df) == 3 {
		detail = fmt.Sprintf("filled to %s (%s bytes free) in %v", df[2], df[1], time.Since(t0).Round(100*time.Millisecond))
	}
	// Keep it full: journald may free a little (rotation), take that too.
	end := time.Now().Add(diskFullFor)
	for time.Now().Before(end) {
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
		_, _ = r.h.RunContext(ctx, "sh", "-c", "dd if=/dev/zero of="+fill+" bs=64k oflag=append conv=notrunc 2>/dev/null; true")
	}
	if _, err := r.h.Run("rm", "-f", fill); err != nil {
		return detail, err
	}
	return detail + ", freed after " + diskFullFor.String(), nil
}

// killRecorder kills the recorder of a running session (kill -9 of recd-session): its
// recording must be closed as aborted and the driver's login ends.
func (r *runner) killRecorder(rng *rand.Rand) (string, error) {
	r.mu.Lock()
	var cands []*session
	for s := range r.active {
		if s.killable(15 * time.Second) {
			cands = append(cands, s)
		}
	}
	r.mu.Unlock()
	if len(cands) == 0 {
		return "no session to kill a recorder of", nil
	}
	// Map iteration order is random, but not reproducible: sort, then pick.
	sortSessions(cands)
	s := cands[rng.IntN(len(cands))]
	if !s.markKilled() {
		return "the chosen session ended meanwhile", nil
	}
	out, err := r.h.Run("kill", "-9", fmt.Sprint(s.recorderPID))
	if err != nil {
		return "", fmt.Errorf("kill -9 %d (%s): %v %s", s.recorderPID, s.tag, err, out)
	}
	return fmt.Sprintf("recd-session pid %d of %s (driver %d session %d)", s.recorderPID, s.user, s.driver, s.index), nil
}

func sortSessions(s []*session) {
	less := func(a, b *session) bool { return a.driver < b.driver || a.driver == b.driver && a.index < b.index }
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
