package testhost

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// Session is an interactive `ssh -tt` session driven through a pseudo-terminal, as a
// person at a terminal would: Send types, Expect reads what the terminal shows.
type Session struct {
	h    *Host
	cmd  *exec.Cmd
	ptm  *os.File
	user string

	mu       sync.Mutex
	out      []byte        // everything read from the terminal
	pos      int           // Expect consumed out[:pos]
	changed  chan struct{} // closed and replaced when out grows or reading ends
	readDone bool

	exited  chan struct{}
	waitErr error
	closed  bool
}

// SSHInteractive logs in as user with `ssh -tt` (a login shell, or command if given)
// on a 24x80 pseudo-terminal. The session is closed at the end of the test, and its
// transcript is logged if the test failed.
func (h *Host) SSHInteractive(user string, command ...string) *Session {
	h.t.Helper()
	if err := h.verify(); err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	args := append([]string{"-tt"}, h.SSHArgs(user)...)
	if len(command) > 0 {
		args = append(append(args, "--"), command...)
	}
	cmd := h.Command("ssh", args...)
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		h.t.Fatalf("testhost: starting ssh -tt %s@%s: %v", user, h.name, err)
	}
	s := &Session{h: h, cmd: cmd, ptm: ptm, user: user, changed: make(chan struct{}), exited: make(chan struct{})}
	go s.read()
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	h.t.Cleanup(func() {
		if h.t.Failed() {
			h.t.Logf("testhost: transcript of ssh -tt %s@%s:\n%s", user, h.name, s.Transcript())
		}
		s.Close()
	})
	return s
}

func (s *Session) read() {
	buf := make([]byte, 4096)
	for {
		n, err := s.ptm.Read(buf)
		s.mu.Lock()
		s.out = append(s.out, buf[:n]...)
		if err != nil { // EIO once every holder of the terminal's other side is gone
			s.readDone = true
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Send writes text to the terminal, as typed (use "\r" or "\n" for Enter, "\x04" for
// Ctrl-D, "\x03" for Ctrl-C).
func (s *Session) Send(text string) error {
	if _, err := s.ptm.Write([]byte(text)); err != nil {
		return fmt.Errorf("sending %q to ssh %s@%s: %w", text, s.user, s.h.name, err)
	}
	return nil
}

// Expect waits until the terminal output, after what earlier Expects consumed, contains
// substr, and consumes it. The error includes the transcript.
func (s *Session) Expect(substr string, timeout time.Duration) error {
	_, err := s.expect(fmt.Sprintf("%q", substr), timeout, func(b []byte) []int {
		if i := bytes.Index(b, []byte(substr)); i >= 0 {
			return []int{i, i + len(substr)}
		}
		return nil
	})
	return err
}

// ExpectRegexp is Expect for a regular expression; it returns the match and submatches.
func (s *Session) ExpectRegexp(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	return s.expect("/"+re.String()+"/", timeout, re.FindSubmatchIndex)
}

func (s *Session) expect(what string, timeout time.Duration, find func([]byte) []int) ([]string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		rest := s.out[s.pos:]
		if loc := find(rest); loc != nil {
			var m []string
			for i := 0; i+1 < len(loc); i += 2 {
				if loc[i] >= 0 {
					m = append(m, string(rest[loc[i]:loc[i+1]]))
				} else {
					m = append(m, "")
				}
			}
			s.pos += loc[1]
			s.mu.Unlock()
			return m, nil
		}
		done, ch := s.readDone, s.changed
		s.mu.Unlock()
		if done {
			return nil, fmt.Errorf("ssh %s@%s ended before printing %s\ntranscript:\n%s", s.user, s.h.name, what, s.Transcript())
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("ssh %s@%s: no %s after %v\ntranscript:\n%s", s.user, s.h.name, what, timeout, s.Transcript())
		}
	}
}

// Resize sets the terminal size; ssh forwards it to the remote side (SIGWINCH).
func (s *Session) Resize(rows, cols uint16) error {
	return pty.Setsize(s.ptm, &pty.Winsize{Rows: rows, Cols: cols})
}

// Transcript returns everything the terminal has shown so far.
func (s *Session) Transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.out)
}

// Wait waits up to timeout for ssh to exit and returns its exit status (the remote
// command's or shell's status; 255 for an ssh error). On timeout it kills ssh.
func (s *Session) Wait(timeout time.Duration) (int, error) {
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.kill()
		<-s.exited
		return -1, fmt.Errorf("ssh %s@%s still running after %v; killed\ntranscript:\n%s", s.user, s.h.name, timeout, s.Transcript())
	}
	// Let the reader drain what is still buffered in the terminal.
	s.mu.Lock()
	ch, done := s.changed, s.readDone
	s.mu.Unlock()
	for deadline := time.Now().Add(2 * time.Second); !done && time.Now().Before(deadline); {
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
		}
		s.mu.Lock()
		ch, done = s.changed, s.readDone
		s.mu.Unlock()
	}
	code := s.cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return code, fmt.Errorf("ssh %s@%s: %w", s.user, s.h.name, s.waitErr)
	}
	if code == 255 {
		return code, fmt.Errorf("ssh %s@%s failed (exit 255)\ntranscript:\n%s\nsshd log (last lines):\n%s", s.user, s.h.name, s.Transcript(), tail(s.h.SSHDLog(), 20))
	}
	return code, nil
}

func (s *Session) kill() {
	// Kill ssh (nsenter's child inside the host), then nsenter itself.
	if pid := nsenterChild(s.cmd.Process.Pid); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = s.cmd.Process.Kill()
}

// Close kills ssh if it is still running and releases the terminal. It is safe to call
// more than once.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	select {
	case <-s.exited:
	default:
		s.kill()
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
	}
	return s.ptm.Close()
}
