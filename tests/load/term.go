package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// terminal is the driver's side of one ssh session: the master of a pseudo-terminal whose
// slave is ssh's controlling terminal. Everything read from it goes, byte for byte, to the
// session's transcript file (what the user's terminal showed); Expect looks for text in
// what arrived since the previous Expect.
type terminal struct {
	ptm  *os.File
	file *os.File
	w    *bufio.Writer

	mu      sync.Mutex
	buf     []byte // output not yet consumed by expect (trimmed while nobody expects)
	scanned int    // buf[:scanned] was searched for the current target already
	total   int64
	eof     bool
	changed chan struct{}
	done    chan struct{} // closed when the reader has written everything to the file
}

// Bytes kept of unconsumed output when nobody waits for it: enough for any marker, the
// notice and a prompt.
const keepUnconsumed = 64 << 10

func newTerminal(ptm *os.File, transcript string) (*terminal, error) {
	f, err := os.Create(transcript)
	if err != nil {
		return nil, err
	}
	t := &terminal{ptm: ptm, file: f, w: bufio.NewWriterSize(f, 256<<10), changed: make(chan struct{}), done: make(chan struct{})}
	go t.read()
	return t, nil
}

func (t *terminal) read() {
	defer close(t.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := t.ptm.Read(buf)
		if n > 0 {
			_, _ = t.w.Write(buf[:n])
		}
		t.mu.Lock()
		if n > 0 {
			t.buf = append(t.buf, buf[:n]...)
			t.total += int64(n)
			if len(t.buf) > 8<<20 {
				// A burst nobody looks at: keep the tail, where a marker would be.
				keep := t.buf[len(t.buf)-keepUnconsumed:]
				t.buf = append(make([]byte, 0, 2*keepUnconsumed), keep...)
				t.scanned = 0
			}
		}
		if err != nil {
			t.eof = true
		}
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		if err != nil { // EIO once ssh (every holder of the slave) is gone
			_ = t.w.Flush()
			_ = t.file.Close()
			return
		}
	}
}

var errEOF = errors.New("the session's terminal closed")

// expect waits until output since the last expect matches find, and consumes it up to
// the end of the match. It returns the submatches.
func (t *terminal) expect(what string, timeout time.Duration, overlap int, find func([]byte) []int) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	t.mu.Lock()
	t.scanned = 0
	t.mu.Unlock()
	for {
		t.mu.Lock()
		from := max(0, t.scanned-overlap)
		if overlap < 0 {
			from = 0
		}
		if loc := find(t.buf[from:]); loc != nil {
			var m []string
			for i := 0; i+1 < len(loc); i += 2 {
				if loc[i] >= 0 {
					m = append(m, string(t.buf[from+loc[i]:from+loc[i+1]]))
				} else {
					m = append(m, "")
				}
			}
			rest := t.buf[from+loc[1]:]
			t.buf = append(make([]byte, 0, max(len(rest), 4096)), rest...)
			t.scanned = 0
			t.mu.Unlock()
			return m, nil
		}
		t.scanned = len(t.buf)
		eof, ch := t.eof, t.changed
		tail := t.tailLocked(300)
		t.mu.Unlock()
		if eof {
			return nil, fmt.Errorf("%w before %s appeared (last output: %q)", errEOF, what, tail)
		}
		select {
		case <-ch:
		case <-deadline.C:
			return nil, fmt.Errorf("no %s after %v (last output: %q)", what, timeout, tail)
		}
	}
}

func (t *terminal) tailLocked(n int) string {
	if len(t.buf) > n {
		return string(t.buf[len(t.buf)-n:])
	}
	return string(t.buf)
}

// Expect waits for substr.
func (t *terminal) Expect(substr string, timeout time.Duration) error {
	b := []byte(substr)
	_, err := t.expect(fmt.Sprintf("%q", substr), timeout, len(b), func(buf []byte) []int {
		if i := bytes.Index(buf, b); i >= 0 {
			return []int{i, i + len(b)}
		}
		return nil
	})
	return err
}

// ExpectRegexp waits for re (matched against all unconsumed output: use it for short
// outputs only).
func (t *terminal) ExpectRegexp(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	return t.expect("/"+re.String()+"/", timeout, -1, re.FindSubmatchIndex)
}

// Send types text.
func (t *terminal) Send(text string) error {
	_, err := t.ptm.Write([]byte(text))
	return err
}

// Total is the number of bytes the terminal has shown.
func (t *terminal) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// EOF reports whether the terminal closed.
func (t *terminal) EOF() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eof
}

// checkRaw checks that the terminal (read through its master, which shares the slave's
// settings on Linux) has no output processing and no echo: what ssh -tt sets.
func checkRaw(f *os.File) error {
	var t syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t))); e != 0 {
		return fmt.Errorf("reading the terminal's mode: %w", e)
	}
	if t.Oflag&syscall.OPOST != 0 || t.Lflag&(syscall.ECHO|syscall.ICANON) != 0 {
		return fmt.Errorf("ssh did not put the driver's terminal in raw mode (oflag %#o, lflag %#o): what it shows would not be what the recorder wrote", t.Oflag, t.Lflag)
	}
	return nil
}
