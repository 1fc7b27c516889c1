package load

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// session is one recorded ssh login driven through a pseudo-terminal.
type session struct {
	run    *runner
	driver int
	index  int // the driver's nth session
	user   string
	rng    *rand.Rand

	cmd *exec.Cmd
	ptm *os.File
	t   *terminal

	marker int

	// Set once the session is up.
	tag         string
	recorderPID int // inside the test host

	mu          sync.Mutex
	rows, cols  uint16
	resizes     int
	state       sessionState
	killRequest bool // the chaos monkey killed its recorder (or is about to)
	end         time.Time

	res SessionResult
}

type sessionState int

const (
	stateStarting sessionState = iota
	stateRunning
	stateEnding
	stateDone
)

// SessionResult is what a driver knows of one session.
type SessionResult struct {
	Driver, Index int
	User          string
	Tag           string // LOADTAG-<driver>-<index>, printed in the session's first command
	RecorderPID   int
	Transcript    string // file with every byte the driver's terminal showed
	Shown         int64  // bytes the terminal showed
	Start, End    time.Time
	Killed        bool // its recorder was killed by the chaos monkey
	ExitCode      int
	Err           string // the driver failed (not expected)
	Steps         map[string]int
	Rows, Cols    uint16 // the last window size set
	Resizes       int
}

var tagRe = regexp.MustCompile(`LOADTAG-(\d+)-(\d+)-(\d+)\r?\n`)

// start logs in with ssh -tt on a raw pseudo-terminal of 24x80 and waits for the shell.
func (s *session) start() error {
	ptm, pts, err := pty.Open()
	if err != nil {
		return fmt.Errorf("opening a pseudo-terminal: %w", err)
	}
	s.ptm = ptm
	s.rows, s.cols = 24, 80
	_ = pty.Setsize(ptm, &pty.Winsize{Rows: s.rows, Cols: s.cols})
	s.res.Transcript = filepath.Join(s.run.dir, fmt.Sprintf("d%03d-s%02d.out", s.driver, s.index))
	if s.t, err = newTerminal(ptm, s.res.Transcript); err != nil {
		pts.Close()
		return err
	}
	s.cmd = s.run.h.Command("ssh", s.run.sshArgs[s.user]...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = pts, pts, pts
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	err = s.cmd.Start()
	pts.Close()
	if err != nil {
		return fmt.Errorf("starting ssh: %w", err)
	}
	if err := s.t.Expect(s.run.notice, 2*time.Minute); err != nil {
		return fmt.Errorf("waiting for the recording notice: %w", err)
	}
	// The terminal starts cooked, as a user's does (ssh sends its modes to sshd for the
	// remote pseudo-terminal); ssh -tt puts it in raw mode before any byte of the session
	// arrives, so nothing the driver reads was transformed on this side.
	if err := checkRaw(ptm); err != nil {
		return err
	}
	if err := s.t.Expect("$ ", time.Minute); err != nil {
		return fmt.Errorf("waiting for the prompt: %w", err)
	}
	// The tag names the session in its recording; $PPID is the recorder (the shell's parent).
	if err := s.t.Send(fmt.Sprintf("echo LOADTAG-$((%d))-$((%d))-$PPID\r", s.driver, s.index)); err != nil {
		return err
	}
	m, err := s.t.ExpectRegexp(tagRe, time.Minute)
	if err != nil {
		return fmt.Errorf("waiting for the tag: %w", err)
	}
	if m[1] != strconv.Itoa(s.driver) || m[2] != strconv.Itoa(s.index) {
		return fmt.Errorf("tag %q, want driver %d session %d", m[0], s.driver, s.index)
	}
	s.tag = fmt.Sprintf("LOADTAG-%d-%d-%s", s.driver, s.index, m[3])
	s.recorderPID, _ = strconv.Atoi(m[3])
	return s.t.Expect("$ ", time.Minute)
}

// command types line (or only Enter when line is "" and typed is set: the text was typed
// already) followed by a marker echo, and waits until the marker appears: the command ran
// and its output was shown.
func (s *session) command(line string, typed bool) error {
	_, err := s.commandOutput(line, typed, false)
	return err
}

// commandOutput is command returning, when capture is set, what was shown up to the
// marker (keep it short: it is searched from its start each time output arrives).
func (s *session) commandOutput(line string, typed, capture bool) (string, error) {
	s.marker++
	k := s.marker
	// "@@$((K+0))@@" as typed; "@@K@@" only in the command's output.
	suffix := fmt.Sprintf("; echo \"@@$((%d+0))@@\"\r", k)
	if !typed {
		suffix = line + suffix
	}
	if err := s.t.Send(suffix); err != nil {
		return "", err
	}
	want := fmt.Sprintf("@@%d@@", k)
	overlap := len(want)
	if capture {
		overlap = -1
	}
	m, err := s.t.expect(strconv.Quote(want), stepTimeout, overlap, func(b []byte) []int {
		if i := indexOf(b, want); i >= 0 {
			return []int{0, i + len(want)}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := s.t.Expect("$ ", time.Minute); err != nil {
		return "", err
	}
	return m[0], nil
}

// output runs a short command and returns what it showed.
func (s *session) output(line string) (string, error) { return s.commandOutput(line, false, true) }

func indexOf(b []byte, s string) int {
	n := len(s)
	for i := 0; i+n <= len(b); i++ {
		if b[i] == s[0] && string(b[i:i+n]) == s {
			return i
		}
	}
	return -1
}

func (s *session) resize(rows, cols uint16) error {
	s.mu.Lock()
	s.rows, s.cols = rows, cols
	s.resizes++
	s.mu.Unlock()
	return pty.Setsize(s.ptm, &pty.Winsize{Rows: rows, Cols: cols})
}

// finish ends the session: exit typed at the prompt, then ssh must end.
func (s *session) finish() error {
	s.setState(stateEnding)
	if err := s.t.Send("exit\r"); err != nil {
		return err
	}
	return s.wait(2 * time.Minute)
}

// wait waits for ssh to exit and the terminal to be drained.
func (s *session) wait(limit time.Duration) error {
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(limit):
		s.kill()
		<-exited
		return fmt.Errorf("ssh still running %v after the end of the session; killed", limit)
	}
	select {
	case <-s.t.done:
	case <-time.After(30 * time.Second):
		return errors.New("the terminal did not close 30s after ssh exited")
	}
	s.res.ExitCode = s.cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return werr
	}
	return nil
}

func (s *session) kill() {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.cmd.Process.Pid, s.cmd.Process.Pid)); err == nil {
		var child int
		if _, err := fmt.Sscan(string(b), &child); err == nil && child > 0 {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	}
	_ = s.cmd.Process.Kill()
}

func (s *session) setState(st sessionState) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}

// killable reports whether the chaos monkey may kill this session's recorder now: it is
// running, known, and has at least margin to live.
func (s *session) killable(margin time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateRunning && !s.killRequest && s.recorderPID > 0 && time.Until(s.end) > margin
}

func (s *session) markKilled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning || s.killRequest {
		return false
	}
	s.killRequest = true
	return true
}

func (s *session) killed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killRequest
}

// driver runs sessions one after the other until the run's end.
type driver struct {
	run  *runner
	id   int
	user string
	rng  *rand.Rand
	n    atomic.Int32
}

// loop runs sessions until end. Each lasts the rest of the run, or with SessionMin set a
// random time between SessionMin and the rest of the run; a session whose recorder the
// chaos monkey killed is replaced by a new login.
func (d *driver) loop(end time.Time) {
	for idx := 1; time.Until(end) > 5*time.Second; idx++ {
		sessEnd := end
		if min := d.run.cfg.SessionMin; min > 0 {
			left := time.Until(end)
			if left > 2*min {
				sessEnd = time.Now().Add(min + time.Duration(d.rng.Int64N(int64(left-min))))
			}
		}
		r := d.runSession(idx, sessEnd)
		d.run.addResult(r)
		if r.Err != "" && !r.Killed {
			d.run.logf("driver %d session %d failed: %s", d.id, idx, r.Err)
			if !d.run.cfg.Chaos {
				return // a failure without chaos: do not pile up more
			}
			time.Sleep(2 * time.Second)
		}
	}
}

func (d *driver) runSession(idx int, end time.Time) *SessionResult {
	s := &session{run: d.run, driver: d.id, index: idx, user: d.user,
		rng: rand.New(rand.NewPCG(uint64(d.run.cfg.Seed), uint64(d.id<<16|idx))), end: end}
	s.res = SessionResult{Driver: d.id, Index: idx, User: d.user, Start: time.Now(), Steps: map[string]int{}}
	d.run.register(s)
	defer d.run.unregister(s)
	err := s.drive(end)
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		// drive failed: do not leave ssh behind
		s.kill()
		_ = s.wait(30 * time.Second)
	}
	s.setState(stateDone)
	if s.ptm != nil {
		s.ptm.Close()
	}
	s.res.End = time.Now()
	s.res.Tag, s.res.RecorderPID = s.tag, s.recorderPID
	s.res.Killed = s.killed()
	if s.t != nil {
		s.res.Shown = s.t.Total()
	}
	s.mu.Lock()
	s.res.Rows, s.res.Cols, s.res.Resizes = s.rows, s.cols, s.resizes
	s.mu.Unlock()
	if err != nil {
		s.res.Err = err.Error()
	}
	return &s.res
}

func (s *session) drive(end time.Time) error {
	if err := s.start(); err != nil {
		return err
	}
	s.setState(stateRunning)
	for time.Now().Before(end) {
		kind := nextStep(s.rng, s.run.cfg.CatPercent)
		if err := s.runStep(kind); err != nil {
			if s.killed() {
				// The recorder was killed: the login ends. Wait for ssh to go.
				_ = s.wait(time.Minute)
				return nil
			}
			return fmt.Errorf("step %s: %w", kind, err)
		}
		s.res.Steps[kind]++
		time.Sleep(time.Duration(300+s.rng.IntN(1700)) * time.Millisecond) // thinking
	}
	if s.killed() {
		_ = s.wait(time.Minute)
		return nil
	}
	return s.finish()
}
