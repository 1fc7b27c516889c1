package journalwriter

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// DefaultSocket is journald's native-protocol socket.
const DefaultSocket = "/run/systemd/journal/socket"

// sendTimeout bounds one attempt to hand a datagram to journald when its queue is full;
// the attempt is then repeated (journald is busy, not gone).
const sendTimeout = 5 * time.Second

// Sender sends serialized entries to journald's native socket, as sd_journal_sendv does:
// one datagram per entry, or, when the entry is too large for a datagram, an unlinked
// file holding it passed as SCM_RIGHTS (a sealed memfd where the kernel has memfd_create,
// else a deleted file in /dev/shm). The socket is a blocking one, so a full journald queue
// makes Send wait (at most sendTimeout per attempt) instead of spinning.
type Sender struct {
	path string
	fd   int
}

// NewSender returns a sender for the journald socket at path.
func NewSender(path string) (*Sender, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("creating a datagram socket: %w", err)
	}
	// Large datagrams: journald reads up to its entry limit. SO_SNDBUFFORCE needs
	// CAP_NET_ADMIN (recd's writer is root); fall back silently to SO_SNDBUF.
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, 8<<20) != nil {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 8<<20)
	}
	tv := syscall.NsecToTimeval(sendTimeout.Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	return &Sender{path: path, fd: fd}, nil
}

// Close releases the socket.
func (s *Sender) Close() error { return syscall.Close(s.fd) }

// Send hands one serialized entry (Encode's output) to journald. A nil error means
// journald's socket accepted it. Errors are journald being away (ENOENT, ECONNREFUSED),
// busy (EAGAIN after the send timeout) or something else; Transient tells them apart.
func (s *Sender) Send(b []byte) error {
	addr := &syscall.SockaddrUnix{Name: s.path}
	err := syscall.Sendto(s.fd, b, 0, addr)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EMSGSIZE) && !errors.Is(err, syscall.ENOBUFS) {
		return &SendError{Err: err}
	}
	// Too large for a datagram: pass the entry in a file.
	f, err := entryFile(b)
	if err != nil {
		return &SendError{Err: err}
	}
	defer f.Close()
	err = syscall.Sendmsg(s.fd, nil, syscall.UnixRights(int(f.Fd())), addr, 0)
	runtime.KeepAlive(f)
	if err != nil {
		return &SendError{Err: err, File: true}
	}
	return nil
}

// SendError is a failed Send.
type SendError struct {
	Err  error
	File bool // the entry was passed as a file
}

func (e *SendError) Error() string {
	how := "datagram"
	if e.File {
		how = "file descriptor"
	}
	return fmt.Sprintf("sending an entry to journald (%s): %v", how, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Unreachable reports whether err means journald is not listening (stopped, restarting):
// the socket file is missing or nobody reads it.
func Unreachable(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ENOTCONN)
}

// entryFile returns a file, linked nowhere, holding b: a memfd sealed against change
// (what journald prefers), else a deleted temporary file in /dev/shm.
func entryFile(b []byte) (*os.File, error) {
	if f, err := memfd(b); err == nil {
		return f, nil
	}
	f, err := os.CreateTemp("/dev/shm", "recd-journal.")
	if err != nil {
		return nil, fmt.Errorf("creating a file for a large entry: %w", err)
	}
	_ = os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing a large entry to a file: %w", err)
	}
	return f, nil
}

const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	fAddSeals       = 1033
	sealSeal        = 0x1
	sealShrink      = 0x2
	sealGrow        = 0x4
	sealWrite       = 0x8
)

func memfd(b []byte) (*os.File, error) {
	if sysMemfdCreate == 0 {
		return nil, errors.New("memfd_create unknown on " + runtime.GOARCH)
	}
	name := []byte("recd-journal-entry\x00")
	fd, _, errno := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(&name[0])), mfdCloexec|mfdAllowSealing, 0)
	if errno != 0 {
		return nil, errno
	}
	f := os.NewFile(fd, "memfd:recd-journal-entry")
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, fAddSeals, sealSeal|sealShrink|sealGrow|sealWrite); errno != 0 {
		f.Close()
		return nil, errno
	}
	return f, nil
}
