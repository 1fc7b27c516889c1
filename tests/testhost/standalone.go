package testhost

import (
	"fmt"
	"io"
	"sync"
)

// Standalone implements T for a main program (such as tests/cmd/demo), outside `go
// test`. Fatalf and Skipf stop the function given to Run, which then runs the
// registered cleanups (last first) and returns the failure as an error.
type Standalone struct {
	// Log receives Logf output; nil discards it.
	Log io.Writer

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

type standaloneStop struct {
	msg     string
	skipped bool
}

// Helper does nothing.
func (s *Standalone) Helper() {}

// Logf writes a line to s.Log.
func (s *Standalone) Logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, format+"\n", args...)
	}
}

// Fatalf marks the run failed and stops it.
func (s *Standalone) Fatalf(format string, args ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	panic(standaloneStop{msg: fmt.Sprintf(format, args...)})
}

// Skipf stops the run; for a program a skip is a failure too (Run returns an error).
func (s *Standalone) Skipf(format string, args ...any) {
	panic(standaloneStop{msg: fmt.Sprintf(format, args...), skipped: true})
}

// Cleanup registers f to run when Run returns.
func (s *Standalone) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// Failed reports whether Fatalf was called.
func (s *Standalone) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Run calls fn(s), then the cleanups. It returns the message of a Fatalf or Skipf as
// an error; other panics propagate after the cleanups ran.
func (s *Standalone) Run(fn func(t T)) (err error) {
	defer func() {
		r := recover()
		if stop, ok := r.(standaloneStop); ok {
			err = fmt.Errorf("%s", stop.msg)
			r = nil
		} else if r != nil {
			s.mu.Lock()
			s.failed = true
			s.mu.Unlock()
		}
		s.runCleanups()
		if r != nil {
			panic(r)
		}
	}()
	fn(s)
	return nil
}

func (s *Standalone) runCleanups() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.Logf("cleanup: %v", r)
				}
			}()
			f()
		}()
	}
}
