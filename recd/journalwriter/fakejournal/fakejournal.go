// Package fakejournal is a stand-in for journald's native socket in tests: a unixgram
// socket in a temporary directory that reads datagrams and SCM_RIGHTS file descriptors
// (the memfd path of large entries) exactly as journald does, decodes the native
// protocol, and adds the trusted fields journald would: _PID and _UID from
// SCM_CREDENTIALS and _COMM from /proc/<pid>/comm — remembered per PID, as journald's
// client context cache does, so a datagram read after its sender died still gets it.
package fakejournal

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/recd-dev/recd/recd/journalwriter"
)

// Entry is one received entry: its fields as sent, then _PID, _UID, _COMM and
// _TRANSPORT=journal.
type Entry = journalwriter.Entry

// Journal is a fake journald socket.
type Journal struct {
	// Path is the socket to give the writer (journalwriter.Options.Socket).
	Path string

	mu      sync.Mutex
	conn    *net.UnixConn
	entries []Entry
	errs    []error
	viaFile int
	comms   map[int32]string
	changed chan struct{}
	done    chan struct{}
}

// New listens on a socket in dir.
func New(dir string) (*Journal, error) {
	j := &Journal{Path: filepath.Join(dir, "journal.socket"), changed: make(chan struct{})}
	if err := j.Start(); err != nil {
		return nil, err
	}
	return j, nil
}

// Start (re)opens the socket after Stop, as a restarted journald does.
func (j *Journal) Start() error {
	_ = os.Remove(j.Path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: j.Path, Net: "unixgram"})
	if err != nil {
		return err
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return err
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
	})
	j.mu.Lock()
	j.conn = c
	j.done = make(chan struct{})
	done := j.done
	j.mu.Unlock()
	go j.loop(c, done)
	return nil
}

// Stop closes the socket and removes it (journald stopped): senders get ENOENT.
func (j *Journal) Stop() {
	j.mu.Lock()
	c, done := j.conn, j.done
	j.conn = nil
	j.mu.Unlock()
	if c == nil {
		return
	}
	c.Close()
	<-done
	_ = os.Remove(j.Path)
}

func (j *Journal) loop(c *net.UnixConn, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 16<<20)
	oob := make([]byte, 1024)
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			j.fail(err)
			continue
		}
		e, err := j.receive(append([]byte(nil), buf[:n]...), oob[:oobn])
		if err != nil {
			j.fail(err)
			continue
		}
		j.mu.Lock()
		j.entries = append(j.entries, e)
		close(j.changed)
		j.changed = make(chan struct{})
		j.mu.Unlock()
	}
}

func (j *Journal) fail(err error) {
	j.mu.Lock()
	j.errs = append(j.errs, err)
	j.mu.Unlock()
}

func (j *Journal) receive(data, oob []byte) (Entry, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var cred *syscall.Ucred
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case syscall.SCM_CREDENTIALS:
			cred, err = syscall.ParseUnixCredentials(&m)
			if err != nil {
				return nil, err
			}
		case syscall.SCM_RIGHTS:
			fds, err := syscall.ParseUnixRights(&m)
			if err != nil {
				return nil, err
			}
			if len(fds) != 1 || len(data) != 0 {
				for _, fd := range fds {
					syscall.Close(fd)
				}
				return nil, fmt.Errorf("%d descriptors with %d bytes of data", len(fds), len(data))
			}
			f := os.NewFile(uintptr(fds[0]), "entry")
			var st syscall.Stat_t
			if err := syscall.Fstat(fds[0], &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
				f.Close()
				return nil, fmt.Errorf("passed descriptor is not a regular file")
			}
			data, err = io.ReadAll(io.NewSectionReader(f, 0, st.Size))
			f.Close()
			if err != nil {
				return nil, err
			}
			j.mu.Lock()
			j.viaFile++
			j.mu.Unlock()
		}
	}
	e, err := journalwriter.Decode(data)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		e.Add("_PID", fmt.Sprint(cred.Pid))
		e.Add("_UID", fmt.Sprint(cred.Uid))
		j.mu.Lock()
		if j.comms == nil {
			j.comms = map[int32]string{}
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cred.Pid)); err == nil {
			j.comms[cred.Pid] = string(trimNL(comm))
		}
		comm, ok := j.comms[cred.Pid]
		j.mu.Unlock()
		if ok {
			e.Add("_COMM", comm)
		}
	}
	e.Add("_TRANSPORT", "journal")
	return e, nil
}

func trimNL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[:len(b)-1]
	}
	return b
}

// Entries returns a copy of the entries received so far, in order.
func (j *Journal) Entries() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Entry(nil), j.entries...)
}

// ViaFile counts the entries that came as a passed file descriptor (too large for a
// datagram).
func (j *Journal) ViaFile() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.viaFile
}

// Errors returns the datagrams the fake could not decode.
func (j *Journal) Errors() []error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]error(nil), j.errs...)
}

// Wait waits until cond holds for the entries received, up to limit.
func (j *Journal) Wait(limit time.Duration, cond func([]Entry) bool) error {
	deadline := time.After(limit)
	for {
		j.mu.Lock()
		ok := cond(j.entries)
		ch := j.changed
		n := len(j.entries)
		j.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("fake journal: condition not met within %v (%d entries)", limit, n)
		}
	}
}

// Close stops the fake journal.
func (j *Journal) Close() { j.Stop() }
