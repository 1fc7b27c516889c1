package recorder

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/creack/pty"

	"github.com/recd-dev/recd/internal/proto"
)

// Terminal ioctls. syscall.Termios has glibc's layout, whose head (flags, line, the 19
// control characters) is the kernel's struct termios that TCGETS/TCSETS copy.

// winsize is the kernel's struct winsize.
type winsize struct {
	Rows, Cols, X, Y uint16
}

// control runs fn on f's descriptor without f.Fd(), which would switch a pollable file
// to blocking mode (and so break deadlines).
func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	return control(f, func(fd uintptr) error {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg)); e != 0 {
			return e
		}
		return nil
	})
}

func getTermios(f *os.File) (*syscall.Termios, error) {
	var t syscall.Termios
	if err := ioctl(f, syscall.TCGETS, unsafe.Pointer(&t)); err != nil {
		return nil, err
	}
	return &t, nil
}

func setTermios(f *os.File, t *syscall.Termios) error {
	return ioctl(f, syscall.TCSETS, unsafe.Pointer(t))
}

func getWinsize(f *os.File) (winsize, error) {
	var w winsize
	err := ioctl(f, syscall.TIOCGWINSZ, unsafe.Pointer(&w))
	return w, err
}

func setWinsize(f *os.File, w winsize) error {
	return ioctl(f, syscall.TIOCSWINSZ, unsafe.Pointer(&w))
}

func (w winsize) window() proto.Window { return proto.Window{Cols: w.Cols, Rows: w.Rows} }

// makeRaw returns t in raw mode, as tlog sets the user's terminal (tlog-format.md §3.5).
func makeRaw(t syscall.Termios) syscall.Termios {
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR |
		syscall.IGNCR | syscall.ICRNL | syscall.IXON | syscall.INPCK
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cc[syscall.VMIN] = 1
	t.Cc[syscall.VTIME] = 0
	return t
}

// passwordMode reports whether a terminal in mode t is reading a secret: echo off in
// canonical (line) mode, as getpass(3), sudo, su, ssh and `read -s` set it. Line editors
// (readline, vim, less) turn echo off too, but together with ICANON, and echo themselves;
// what is typed there is shown on the screen anyway, so it is recorded.
func passwordMode(t *syscall.Termios) bool {
	return t.Lflag&syscall.ECHO == 0 && t.Lflag&syscall.ICANON != 0
}

// terminal is the user's terminal: the first of stdin, stdout, stderr that is a TTY.
type terminal struct {
	f       *os.File
	name    string
	termios syscall.Termios
	win     winsize
}

// findTerminal returns the first TTY among files, or nil when there is none.
func findTerminal(files ...*os.File) *terminal {
	for _, f := range files {
		if f == nil {
			continue
		}
		t, err := getTermios(f)
		if err != nil {
			continue
		}
		term := &terminal{f: f, termios: *t}
		term.win, _ = getWinsize(f) // 0x0 when unknown, as tlog records it
		_ = control(f, func(fd uintptr) error {
			term.name, _ = os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd)))
			return nil
		})
		return term
	}
	return nil
}

// openPTY opens a PTY pair. The master is returned as a pollable file (non-blocking,
// served by the runtime poller) so that reads can be bounded by deadlines and are
// interrupted by Close; creack/pty's master has been switched to blocking mode by its
// own ioctls. The slave stays blocking: it is the shell's terminal.
func openPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("opening a PTY: %w", err)
	}
	fd, err := dupCloexec(m)
	m.Close()
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("opening a PTY: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		s.Close()
		return nil, nil, fmt.Errorf("opening a PTY: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), s, nil
}

func dupCloexec(f *os.File) (int, error) {
	var nfd int
	err := control(f, func(fd uintptr) error {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			return e
		}
		nfd = int(r)
		return nil
	})
	return nfd, err
}

// readAvailable reads from a pollable file what is there, up to len(buf): it waits for
// the first bytes like Read, then keeps reading without waiting until nothing is left.
// A PTY master hands out at most 4 KiB per read; taking several reads' worth per wakeup
// lets the relay write them to the user's terminal in one call.
func readAvailable(f *os.File, buf []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Read(buf)
	}
	n := 0
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for n < len(buf) {
			k, e := syscall.Read(int(fd), buf[n:])
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return n > 0 // wait for the poller only while nothing was read
			case e != nil:
				rerr = e
				return true
			case k == 0:
				rerr = io.EOF
				return true
			}
			n += k
		}
		return true
	})
	if n > 0 {
		return n, nil // an error is reported by the next call
	}
	if rerr != nil {
		return 0, &os.PathError{Op: "read", Path: f.Name(), Err: rerr}
	}
	return 0, err
}
