package journalwriter

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Options configure a Writer.
type Options struct {
	// Socket is journald's native socket. Empty means DefaultSocket; tests point it at a
	// fake journal. It is not a user setting.
	Socket string
	// Exe is the program started as the writer child with ChildArg. Empty means
	// /proc/self/exe: recd itself, even when its file was replaced by an upgrade.
	Exe string
	// MaxQueued bounds the bytes of entries not yet acknowledged by the child; Write
	// blocks above it (default 64 MiB). This is what holds recordings back, and so the
	// recorders' acknowledgements, while journald is away.
	MaxQueued int
	// Log receives the writer's diagnostics (child restarts, journald unreachable).
	Log func(msg string)
	// RestartDelay is the first pause before restarting a child that died or could not
	// start (default 100 ms); it doubles up to 5 s while starts keep failing.
	RestartDelay time.Duration
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("journal writer closed")

type item struct {
	seq  uint64
	data []byte
	done func()
}

// Writer hands entries to the writer child and tracks them until the child confirms that
// journald's socket took them. Entries reach journald in the order written. If the child
// dies, a new one is started and every unconfirmed entry is sent again (an entry the old
// child had sent just before dying may then be in the journal twice; recd's entries
// carry RECD_ENTRY, which makes such a duplicate recognizable).
type Writer struct {
	opts Options
	mu   sync.Mutex
	cond *sync.Cond
	// queue holds the unconfirmed entries in order; the first sent of them have been
	// written to the current child.
	queue  []*item
	sent   int
	queued int
	next   uint64
	closed bool
	// gen counts child generations; conn and pid belong to the current one.
	gen      int
	conn     *net.UnixConn
	pid      int
	startErr error
	done     chan struct{}
	closeC   chan struct{} // closed by Close
}

// Start starts the writer child and returns the Writer. The error says why the first
// child could not start; the Writer is returned all the same and keeps trying in the
// background, Healthy saying meanwhile why it cannot write.
func Start(opts Options) (*Writer, error) {
	if opts.Socket == "" {
		opts.Socket = DefaultSocket
	}
	if opts.Exe == "" {
		opts.Exe = "/proc/self/exe"
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 64 << 20
	}
	if opts.Log == nil {
		opts.Log = func(string) {}
	}
	if opts.RestartDelay <= 0 {
		opts.RestartDelay = 100 * time.Millisecond
	}
	w := &Writer{opts: opts, next: 1, done: make(chan struct{}), closeC: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	first := make(chan error, 1)
	go w.supervise(first)
	return w, <-first
}

// Write queues e; done (if not nil) is called once the child confirmed that journald took
// e, after the done of every earlier entry, from the writer's goroutine (it must not
// block). Write blocks while MaxQueued bytes are unconfirmed.
func (w *Writer) Write(e Entry, done func()) error {
	b, err := Encode(e)
	if err != nil {
		return err
	}
	if len(b) > maxEntry {
		return fmt.Errorf("journal entry of %d bytes exceeds the %d-byte limit", len(b), maxEntry)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.closed && len(w.queue) > 0 && w.queued+len(b) > w.opts.MaxQueued {
		w.cond.Wait()
	}
	if w.closed {
		return ErrClosed
	}
	w.queue = append(w.queue, &item{seq: w.next, data: b, done: done})
	w.next++
	w.queued += len(b)
	w.cond.Broadcast()
	return nil
}

// Flush waits until every entry written so far is confirmed, or ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil
	}
	target := w.next - 1
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	for len(w.queue) > 0 && w.queue[0].seq <= target {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("journal writer: %d entries not confirmed: %w", len(w.queue), err)
		}
		if w.closed {
			return ErrClosed
		}
		w.cond.Wait()
	}
	return nil
}

// Healthy reports whether the writer can write: nil, or why the child cannot be started.
func (w *Writer) Healthy() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.startErr
}

// Pending returns the number of entries not yet confirmed.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// ChildPID returns the PID of the current writer child, 0 between children.
func (w *Writer) ChildPID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}

// Close stops accepting entries, lets the current child send everything queued and exit,
// and waits for it (killing it if ctx ends first). Entries still unconfirmed then are
// abandoned: their done is never called.
func (w *Writer) Close(ctx context.Context) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return
	}
	w.closed = true // feed sends the rest, then closes the child's input: it exits at EOF
	close(w.closeC)
	w.cond.Broadcast()
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.mu.Lock()
		if w.pid > 0 {
			_ = syscall.Kill(w.pid, syscall.SIGKILL)
		}
		w.mu.Unlock()
		<-w.done
	}
}

// supervise runs children one after the other until Close. It keeps its goroutine on one
// OS thread for its whole life: PDEATHSIG fires when the thread that started the child
// exits, and it must only fire when recd itself dies.
func (w *Writer) supervise(first chan<- error) {
	runtime.LockOSThread()
	defer close(w.done)
	delay := w.opts.RestartDelay
	for attempt := 0; ; attempt++ {
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return
		}
		started := time.Now()
		err := w.runChild(first)
		first = nil
		if err == nil || errors.Is(err, ErrClosed) {
			return
		}
		w.mu.Lock()
		closed = w.closed
		n := len(w.queue)
		w.mu.Unlock()
		if closed {
			return
		}
		if time.Since(started) > 30*time.Second {
			delay = w.opts.RestartDelay
		}
		w.opts.Log(fmt.Sprintf("journal writer: %v; restarting it in %s (%d entries to send again)", err, delay, n))
		select {
		case <-time.After(delay):
		case <-w.closeC:
			return
		}
		if delay *= 2; delay > 5*time.Second {
			delay = 5 * time.Second
		}
	}
}

// runChild starts one child, feeds it and reads its answers until it ends. It returns
// nil when the writer was closed and the child exited after sending everything.
func (w *Writer) runChild(first chan<- error) error {
	fail := func(err error) error {
		w.mu.Lock()
		w.startErr = err
		w.mu.Unlock()
		if first != nil {
			first <- err
		}
		return err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("creating the socketpair for the writer child: %w", err))
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "journal-writer"), os.NewFile(uintptr(fds[1]), "recd")
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return fail(fmt.Errorf("socketpair for the writer child: %w", err))
	}
	conn := fc.(*net.UnixConn)
	cmd := &exec.Cmd{
		Path:       w.opts.Exe,
		Args:       []string{"recd", ChildArg, "--socket=" + w.opts.Socket},
		Env:        []string{},
		Stdout:     os.Stderr,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{theirs},
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGKILL,
			Setpgid:   true, // a ^C on recd's terminal is for recd, which then flushes through the child
		},
	}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		conn.Close()
		return fail(fmt.Errorf("starting the writer child %s: %w", w.opts.Exe, err))
	}
	stop := func() {
		conn.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	in := bufio.NewReaderSize(conn, 64<<10)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, body, err := readChildFrame(in)
	if err == nil && (typ != frameHello || len(body) != 4) {
		err = fmt.Errorf("unexpected first frame %q", typ)
	}
	if err != nil {
		stop()
		return fail(fmt.Errorf("the writer child %s did not start: %w", w.opts.Exe, err))
	}
	_ = conn.SetReadDeadline(time.Time{})

	w.mu.Lock()
	w.gen++
	gen := w.gen
	w.conn, w.pid, w.startErr, w.sent = conn, cmd.Process.Pid, nil, 0
	w.cond.Broadcast()
	w.mu.Unlock()
	if first != nil {
		first <- nil
	}
	go w.feed(gen, conn)

	rerr := w.readAcks(in)
	w.mu.Lock()
	w.gen++ // ends feed
	w.conn, w.pid = nil, 0
	closed := w.closed
	w.cond.Broadcast()
	w.mu.Unlock()
	if closed && rerr == io.EOF {
		_ = cmd.Wait()
		return nil
	}
	conn.Close()
	_ = cmd.Process.Kill()
	werr := cmd.Wait()
	if closed {
		return ErrClosed
	}
	if werr != nil {
		return fmt.Errorf("the writer child exited (%v)", werr)
	}
	return fmt.Errorf("the writer child stopped: %v", rerr)
}

// feed writes queued entries to the child of generation gen.
func (w *Writer) feed(gen int, conn *net.UnixConn) {
	out := bufio.NewWriterSize(conn, 256<<10)
	for {
		w.mu.Lock()
		for w.gen == gen && w.sent >= len(w.queue) {
			if out.Buffered() > 0 {
				w.mu.Unlock()
				if out.Flush() != nil {
					return
				}
				w.mu.Lock()
				continue
			}
			if w.closed {
				w.mu.Unlock()
				// Everything queued is with the child: let it finish and exit.
				_ = conn.CloseWrite()
				return
			}
			w.cond.Wait()
		}
		if w.gen != gen {
			w.mu.Unlock()
			return
		}
		it := w.queue[w.sent]
		w.sent++
		w.mu.Unlock()
		var h [13]byte
		h[0] = frameEntry
		binary.BigEndian.PutUint64(h[1:], it.seq)
		binary.BigEndian.PutUint32(h[9:], uint32(len(it.data)))
		if _, err := out.Write(h[:]); err != nil {
			return
		}
		if _, err := out.Write(it.data); err != nil {
			return
		}
	}
}

// readAcks reads the child's frames until it ends, confirming entries.
func (w *Writer) readAcks(in *bufio.Reader) error {
	for {
		typ, body, err := readChildFrame(in)
		if err != nil {
			return err
		}
		switch typ {
		case frameLog:
			w.opts.Log("journal writer: " + string(body))
		case frameAck:
			if len(body) != 8 {
				return fmt.Errorf("malformed acknowledgement")
			}
			w.confirm(binary.BigEndian.Uint64(body))
		default:
			return fmt.Errorf("unexpected frame %q from the writer child", typ)
		}
	}
}

// confirm removes the entries up to seq and calls their done functions in order.
func (w *Writer) confirm(seq uint64) {
	w.mu.Lock()
	var done []func()
	n := 0
	for n < len(w.queue) && w.queue[n].seq <= seq {
		if w.queue[n].done != nil {
			done = append(done, w.queue[n].done)
		}
		w.queued -= len(w.queue[n].data)
		n++
	}
	w.queue = w.queue[n:]
	if w.sent -= n; w.sent < 0 {
		w.sent = 0
	}
	if len(w.queue) == 0 {
		w.queue = nil
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	for _, f := range done {
		f()
	}
}

func readChildFrame(in *bufio.Reader) (byte, []byte, error) {
	typ, err := in.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var n int
	switch typ {
	case frameHello:
		n = 4
	case frameAck:
		n = 8
	case frameLog:
		var l [4]byte
		if _, err := io.ReadFull(in, l[:]); err != nil {
			return 0, nil, io.ErrUnexpectedEOF
		}
		n = int(binary.BigEndian.Uint32(l[:]))
		if n > 64<<10 {
			return 0, nil, fmt.Errorf("log frame of %d bytes", n)
		}
	default:
		return 0, nil, fmt.Errorf("unexpected frame type %q", typ)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(in, b); err != nil {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return typ, b, nil
}
