package journalwriter

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// ChildArg is the first argument with which recd re-executes itself as the journal writer.
const ChildArg = "journal-writer"

// Comm is the kernel name (comm) of the writer process: tlog-rec-session cut to the 15
// characters a comm holds, which is what journald records as _COMM for tlog and what
// Cockpit selects recordings by.
const Comm = "tlog-rec-sessio"

// childFD is the descriptor on which the child finds its end of the socketpair.
const childFD = 3

// Frame types between recd and its writer child.
const (
	frameEntry = 'E' // recd → child: seq(8) len(4) entry
	frameHello = 'H' // child → recd: pid(4), once, after the name is set
	frameAck   = 'A' // child → recd: seq(8), the entry journald's socket accepted
	frameLog   = 'L' // child → recd: len(4) text, a diagnostic for recd's log
)

// maxEntry bounds one entry on the socketpair (recd's payloads are far smaller).
const maxEntry = 64 << 20

// exitLinger is how long the child stays after recd closed its end.
const exitLinger = 200 * time.Millisecond

// init turns the process into the journal writer when recd started it as one. It runs in
// an init function on purpose: Go runs package initialization on the main thread (the
// runtime locks the main goroutine to it until main.main), and /proc/<pid>/comm, which
// journald reads for _COMM, is the main thread's name. PR_SET_NAME changes the calling
// thread's name only, so it must be made from here and not from an arbitrary goroutine.
func init() {
	if len(os.Args) >= 2 && os.Args[1] == ChildArg {
		os.Exit(childMain(os.Args[2:]))
	}
}

func setComm(name string) error {
	b := append([]byte(name), 0)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0); errno != 0 {
		return errno
	}
	return nil
}

// childMain is the writer: it reads entries from recd on fd 3, hands each to journald and
// acknowledges it once journald's socket took it. It never drops an entry: while journald
// is away it retries. It exits when recd closes its end (or, through PDEATHSIG, when recd
// dies); SIGTERM and SIGINT, which a service stop or a ^C send to every process, are
// ignored, so that recd can still flush through it while it shuts down.
func childMain(args []string) int {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	socket := DefaultSocket
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--socket="); ok && v != "" {
			socket = v
		} else {
			fmt.Fprintf(os.Stderr, "recd journal-writer: unexpected argument %q\n", a)
			return 2
		}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(childFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		fmt.Fprintln(os.Stderr, "recd journal-writer: this is recd's journal writer; recd starts it, it is not run by hand")
		return 2
	}
	if err := setComm(Comm); err != nil {
		fmt.Fprintf(os.Stderr, "recd journal-writer: PR_SET_NAME: %v\n", err)
		return 1
	}
	conn := os.NewFile(childFD, "recd")
	c := &child{in: bufio.NewReaderSize(conn, 256<<10), out: conn}
	s, err := NewSender(socket)
	if err != nil {
		c.log("%v", err)
		return 1
	}
	defer s.Close()
	if err := c.write(binary.BigEndian.AppendUint32([]byte{frameHello}, uint32(os.Getpid()))); err != nil {
		return 1
	}
	for {
		seq, entry, err := c.read()
		if err == io.EOF {
			// journald reads _COMM and _EXE from /proc/<pid> when it processes a datagram:
			// stay a moment, so that the last entries are not processed after this
			// process is gone (journald of systemd < 233 has no cache of them).
			time.Sleep(exitLinger)
			return 0
		}
		if err != nil {
			c.log("reading from recd: %v", err)
			return 1
		}
		c.send(s, entry)
		if err := c.write(binary.BigEndian.AppendUint64([]byte{frameAck}, seq)); err != nil {
			return 1
		}
	}
}

type child struct {
	in  *bufio.Reader
	out io.Writer
}

func (c *child) read() (uint64, []byte, error) {
	var h [13]byte
	if _, err := io.ReadFull(c.in, h[:1]); err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(c.in, h[1:]); err != nil {
		return 0, nil, io.ErrUnexpectedEOF
	}
	if h[0] != frameEntry {
		return 0, nil, fmt.Errorf("unexpected frame type %q", h[0])
	}
	seq := binary.BigEndian.Uint64(h[1:])
	n := binary.BigEndian.Uint32(h[9:])
	if n == 0 || n > maxEntry {
		return 0, nil, fmt.Errorf("entry %d of %d bytes (limit %d)", seq, n, maxEntry)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.in, b); err != nil {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return seq, b, nil
}

func (c *child) write(b []byte) error {
	_, err := c.out.Write(b)
	return err
}

func (c *child) log(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b := binary.BigEndian.AppendUint32([]byte{frameLog}, uint32(len(msg)))
	_ = c.write(append(b, msg...))
}

// send retries until journald takes the entry: journald restarting, stopped or busy only
// delays the entry (and so recd's acknowledgement to the recorder, which then buffers).
func (c *child) send(s *Sender, b []byte) {
	var (
		failing   time.Time
		lastLog   time.Time
		backoff   = 20 * time.Millisecond
		attempts  int
		lastError string
	)
	for {
		err := s.Send(b)
		if err == nil {
			if attempts > 0 {
				c.log("journald accepts entries again after %s (%d attempts; last error: %s)",
					time.Since(failing).Round(time.Millisecond), attempts, lastError)
			}
			return
		}
		attempts++
		lastError = err.Error()
		if attempts == 1 {
			failing = time.Now()
		}
		if attempts == 1 || time.Since(lastLog) > time.Minute {
			what := "journald is busy or failing"
			if Unreachable(err) {
				what = "journald is not reachable"
			}
			c.log("%s, retrying until it takes the entry (nothing is dropped): %v", what, err)
			lastLog = time.Now()
		}
		time.Sleep(backoff)
		if backoff < time.Second {
			backoff *= 2
		}
	}
}
