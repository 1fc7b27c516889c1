package recorder

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
)

// Relay sizes and timing.
const (
	ttyReadSize  = 64 << 10
	pipeReadSize = 128 << 10
	inReadSize   = 4 << 10
	drainIdle    = 100 * time.Millisecond // after the shell exits, output is drained until this quiet
	drainMax     = 2 * time.Second        // … or this long in all
)

// session runs the shell and relays its I/O.
type session struct {
	o    *Options
	q    *queue
	set  proto.RecorderSettings
	sigs <-chan os.Signal
	term *terminal
}

// startChild starts cmd from a goroutine locked to its OS thread: Pdeathsig fires when
// the thread that forked the child exits, and the runtime retires only threads whose
// goroutine exits while locked, so unlocking after the start keeps the thread alive.
func startChild(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Start()
}

func startError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, syscall.ENOENT):
		return "no such file"
	case errors.Is(err, syscall.EACCES):
		return "not executable"
	}
	return err.Error()
}

// supervise waits for the shell to exit. SIGWINCH calls winch. SIGHUP, SIGINT and SIGTERM
// (and a close of hangup, the terminal gone) stop the session: the shell (its process
// group when group is set) gets SIGHUP, KillDelay later hangUp is called, and after
// another KillDelay the shell is killed.
func (s *session) supervise(cmd *exec.Cmd, group bool, hangup <-chan struct{}, winch, hangUp func(), out *outcome) *os.ProcessState {
	waitCh := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(waitCh)
	}()
	pid := cmd.Process.Pid
	kill := func(sig syscall.Signal) {
		if group {
			_ = syscall.Kill(-pid, sig)
		}
		_ = syscall.Kill(pid, sig)
	}
	var timer *time.Timer
	var timerC <-chan time.Time
	stage := 0
	stop := func() {
		if stage > 0 {
			return
		}
		stage = 1
		s.q.setNoWait() // a session that is being stopped never waits on recd
		kill(syscall.SIGHUP)
		kill(syscall.SIGCONT)
		timer = time.NewTimer(s.o.KillDelay)
		timerC = timer.C
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-waitCh:
			return cmd.ProcessState
		case sig := <-s.sigs:
			switch sig {
			case syscall.SIGWINCH:
				if winch != nil {
					winch()
				}
			case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM:
				if out.recorderSignal == 0 {
					out.recorderSignal = sig.(syscall.Signal)
				}
				stop()
			}
		case <-hangup:
			hangup = nil
			out.hangup = true
			stop()
		case <-timerC:
			stage++
			if stage == 2 && hangUp != nil {
				hangUp()
				timer.Reset(s.o.KillDelay)
			} else {
				kill(syscall.SIGKILL)
				timerC = nil
			}
		}
	}
}

// runTTY runs the shell on a PTY with the user's terminal settings and window size,
// the user's terminal in raw mode.
func (s *session) runTTY(shell string, argv, env []string) outcome {
	var out outcome
	t := s.term
	master, slave, err := openPTY()
	if err != nil {
		out.startErr = err.Error()
		return out
	}
	defer master.Close()
	tios := t.termios
	_ = setTermios(slave, &tios)
	_ = setWinsize(master, t.win)
	cmd := &exec.Cmd{
		Path: shell, Args: argv, Env: env,
		Stdin: slave, Stdout: slave, Stderr: slave,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGHUP},
	}
	err = startChild(cmd)
	slave.Close()
	if err != nil {
		out.startErr = startError(err)
		return out
	}

	raw := makeRaw(t.termios)
	if err := setTermios(t.f, &raw); err == nil {
		defer func() { _ = setTermios(t.f, &t.termios) }()
	}
	if s.set.LogWindow {
		s.q.addWindow(t.win.window()) // always the first event
	}

	var bytesIn, bytesOut atomic.Uint64
	var draining atomic.Bool
	var drainEnd atomic.Int64
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		buf := make([]byte, ttyReadSize)
		writing := true
		for {
			n, err := readAvailable(master, buf)
			if n > 0 {
				if writing && writeAll(s.o.Stdout, buf[:n]) != nil {
					writing = false // the terminal is gone; keep recording what the shell says
				}
				bytesOut.Add(uint64(n))
				if s.set.LogOutput {
					s.q.addData(proto.EventOutput, buf[:n], true)
				}
				if draining.Load() {
					d := time.Now().Add(drainIdle)
					if end := time.Unix(0, drainEnd.Load()); d.After(end) {
						d = end
					}
					_ = master.SetReadDeadline(d)
				}
			}
			if err != nil {
				return // EIO: no slave left open; or the drain deadline; or closed
			}
		}
	}()

	var stopping atomic.Bool
	hangup := make(chan struct{})
	inDone := make(chan struct{})
	stdinIsTTY := t.f == s.o.Stdin
	if !stdinIsTTY {
		_, err := getTermios(s.o.Stdin)
		stdinIsTTY = err == nil
	}
	go func() {
		defer close(inDone)
		buf := make([]byte, inReadSize)
		for {
			n, err := s.o.Stdin.Read(buf)
			if n > 0 {
				// The slave's mode when the input arrives decides; it is checked before the
				// input reaches the program, which could restore echo as soon as it has read
				// a password.
				withhold := false
				if s.set.LogInput {
					if tt, err := getTermios(master); err != nil || passwordMode(tt) {
						withhold = true
					}
				}
				if writeAll(master, buf[:n]) != nil {
					return
				}
				bytesIn.Add(uint64(n))
				if s.set.LogInput {
					if withhold {
						s.q.addWithheld(n)
					} else {
						s.q.addData(proto.EventInput, buf[:n], false)
					}
				}
			}
			if err != nil {
				if stopping.Load() {
					return
				}
				if stdinIsTTY {
					close(hangup) // EOF or EIO on a raw terminal: it hung up
				} else if err == io.EOF {
					// Input from a pipe ended: say so as a user would, with the EOF character.
					if tt, err := getTermios(master); err == nil && tt.Cc[syscall.VEOF] != 0 {
						_ = writeAll(master, []byte{tt.Cc[syscall.VEOF]})
					}
				}
				return
			}
		}
	}()

	lastWin := t.win
	winch := func() {
		w, err := getWinsize(t.f)
		if err != nil || w == lastWin {
			return
		}
		lastWin = w
		_ = setWinsize(master, w)
		if s.set.LogWindow {
			s.q.addWindow(w.window())
		}
	}
	ps := s.supervise(cmd, true, hangup, winch, func() { master.Close() }, &out)

	// Drain what the shell wrote before it exited: until the PTY reports that no slave
	// is left (EIO), or it stays quiet for drainIdle (a background job may keep the slave
	// open), or drainMax.
	drainEnd.Store(time.Now().Add(drainMax).UnixNano())
	draining.Store(true)
	_ = master.SetReadDeadline(time.Now().Add(drainIdle))
	select {
	case <-outDone:
	case <-time.After(drainMax + drainIdle):
		s.q.setNoWait()
		_ = master.SetReadDeadline(time.Unix(1, 0))
		<-outDone
	}
	master.Close()

	stopping.Store(true)
	_ = s.o.Stdin.SetReadDeadline(time.Now()) // works when stdin is pollable; else the read stays until exit
	select {
	case <-inDone:
	case <-time.After(50 * time.Millisecond):
	}

	out.setState(ps)
	out.bytesIn, out.bytesOut = bytesIn.Load(), bytesOut.Load()
	return out
}

// runCommand runs a command without a terminal. The data goes through pipes, copied
// byte for byte and counted; stdout and stderr stay apart. With record_commands = full
// it is also recorded; with none the shell gets the recorder's own files.
func (s *session) runCommand(shell string, argv, env []string) outcome {
	var out outcome
	cmd := &exec.Cmd{Path: shell, Args: argv, Env: env, SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGHUP}}
	if s.set.RecordCommands == string(config.CommandsNone) {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s.o.Stdin, s.o.Stdout, s.o.Stderr
		if err := startChild(cmd); err != nil {
			out.startErr = startError(err)
			return out
		}
		out.setState(s.supervise(cmd, false, nil, nil, nil, &out))
		return out
	}
	full := s.set.RecordCommands == string(config.CommandsFull)

	var files []*os.File
	pipe := func() (r, w *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil
		}
		files = append(files, r, w)
		return r, w
	}
	inR, inW := pipe()
	outR, outW := pipe()
	errR, errW := pipe()
	if len(files) != 6 {
		for _, f := range files {
			f.Close()
		}
		out.startErr = "cannot create pipes"
		return out
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err := startChild(cmd)
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		out.startErr = startError(err)
		return out
	}

	var bytesIn, bytesOut, bytesErr atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.pump(outR, s.o.Stdout, &bytesOut, proto.EventOutput, full && s.set.LogOutput, true)
		outR.Close()
	}()
	go func() {
		defer wg.Done()
		s.pump(errR, s.o.Stderr, &bytesErr, proto.EventStderr, full && s.set.LogOutput, true)
		errR.Close()
	}()
	inDone := make(chan struct{})
	go func() {
		defer close(inDone)
		s.pump(s.o.Stdin, inW, &bytesIn, proto.EventInput, full && s.set.LogInput, false)
		inW.Close() // end of input closes the shell's input, and only that
	}()

	ps := s.supervise(cmd, false, nil, nil, nil, &out)
	outputs := make(chan struct{})
	go func() {
		wg.Wait()
		close(outputs)
	}()
	if out.recorderSignal != 0 {
		// Stopping: do not wait for a background job that keeps the pipes open.
		select {
		case <-outputs:
		case <-time.After(drainMax):
			_ = outR.SetReadDeadline(time.Unix(1, 0))
			_ = errR.SetReadDeadline(time.Unix(1, 0))
			<-outputs
		}
	} else {
		<-outputs // as sshd, the command's output ends when its pipes close
	}
	_ = s.o.Stdin.SetReadDeadline(time.Now())
	_ = inW.SetWriteDeadline(time.Now())
	select {
	case <-inDone:
	case <-time.After(50 * time.Millisecond):
	}

	out.setState(ps)
	out.bytesIn, out.bytesOut, out.bytesErr = bytesIn.Load(), bytesOut.Load(), bytesErr.Load()
	return out
}

// pump copies src to dst, counting, and records each chunk when record is set. A write
// error ends it: for output, closing the pipe then gives the command the EPIPE it would
// have had without the recorder.
func (s *session) pump(src, dst *os.File, n *atomic.Uint64, kind proto.EventKind, record, throttle bool) {
	buf := make([]byte, pipeReadSize)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if writeAll(dst, buf[:k]) != nil {
				return
			}
			n.Add(uint64(k))
			if record {
				s.q.addData(kind, buf[:k], throttle)
			}
		}
		if err != nil {
			return
		}
	}
}
