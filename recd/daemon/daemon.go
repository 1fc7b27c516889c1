// Package daemon is recd's long-running part: it keeps the compiled policy snapshot in step
// with /etc/recd (reloading within milliseconds of a change, keeping the last good policy
// when an edit is broken), answers control requests on /run/recd/recd.sock, registers the
// logins pam_recd reports, and is the only writer of recordings: recorders stream their
// sessions to it on the same socket (internal/proto/record.go), and it writes them to the
// journal in tlog's format through its journal writer child (package
// recd/journalwriter). record.go describes the recording path, locks.go the one
// recording per login session, resume.go how a restarted recd continues a recording.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sdaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/recd/journalwriter"
)

// Activator validates the configuration and, when it is valid, replaces the active policy
// snapshot. It returns a one-line summary of the policy now in force. A failed activation
// must leave the previous snapshot untouched.
type Activator func() (summary string, err error)

// Options configure a Daemon.
type Options struct {
	// ConfigPath and DropinDir are watched for changes (recd.conf and conf.d/*.conf).
	ConfigPath, DropinDir string
	// WatchFiles are further files whose change requires a new snapshot (/etc/passwd, /etc/group).
	WatchFiles []string
	// SocketPath is where recd listens when systemd did not pass a socket.
	SocketPath string
	// Activate compiles and installs the policy.
	Activate Activator
	// Log receives recd's own messages.
	Log *log.Logger
	// Debounce is how long to wait for more changes after the first one (default 20 ms), so
	// that an editor's write-then-rename activates once.
	Debounce time.Duration
	// Recorder returns the [recorder] settings in force (nil: the defaults).
	Recorder func() config.Recorder
	// Directory is the user and group database that decides who is in the [access]
	// auditors group (nil: /etc/passwd and /etc/group).
	Directory policy.Directory
	// EventsToJournalOnly sends recd's structured events (logins, logouts, refusals) only
	// to the journal, not also to Log: set under systemd, where Log (stderr) is the
	// journal already.
	EventsToJournalOnly bool
	// JournalSocket is journald's native socket, for tests only ("" = the standard one).
	JournalSocket string
	// WriterExe is the program started as the journal writer, for tests ("" = recd itself).
	WriterExe string
	// GracePeriod is how long a recording whose recorder's connection dropped waits for
	// it to come back, while the recorder process lives (default 30 s).
	GracePeriod time.Duration
}

// Daemon is a running recd.
type Daemon struct {
	opts   Options
	mu     sync.Mutex
	status proto.Status
	// sessions are the logins pam_recd registered.
	sessions *sessions
	// lookupUID and auditSessionOf are the system's (replaced in tests).
	lookupUID      func(name string) (uint32, error)
	auditSessionOf func(pid int32) (uint32, bool)

	// The recording path.
	recs        *recTable
	writer      *journalwriter.Writer
	events      *eventSink
	fqdn        *fqdnCache
	bootID      string
	gracePeriod time.Duration
	quit        chan struct{} // closed when recd stops: recordings flush and end
	resumeSem   chan struct{}
	recWG       sync.WaitGroup
	// proc, lookupName and readJournal are the system's (replaced in tests).
	proc        func(pid int32) (procInfo, error)
	lookupName  func(uid uint32) (string, error)
	readJournal readJournalFunc
	credOf      func(c *net.UnixConn) (*syscall.Ucred, error)
	// crashStop makes the stop skip flushing (tests simulate kill -9).
	crashStop bool
	// guard limits connections per uid and logs abuse (limits.go).
	guard *guard
}

// New returns a daemon; Run starts it.
func New(opts Options) *Daemon {
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = log.New(os.Stderr, "recd: ", 0)
	}
	if opts.JournalSocket == "" {
		opts.JournalSocket = journalwriter.DefaultSocket
	}
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = defaultGracePeriod
	}
	d := &Daemon{opts: opts, status: proto.Status{PID: os.Getpid(), Started: now()},
		sessions: newSessions(), lookupUID: lookupUID, auditSessionOf: auditSessionOf,
		recs: newRecTable(), events: &eventSink{path: opts.JournalSocket}, fqdn: newFQDNCache(),
		gracePeriod: opts.GracePeriod, quit: make(chan struct{}), resumeSem: make(chan struct{}, maxResumeReads),
		proc: readProc, lookupName: lookupName, credOf: peerCred}
	d.readJournal = d.systemReadJournal
	d.guard = newGuard(opts.Log.Printf)
	if id, err := readBootID(); err == nil {
		d.bootID = id
	} else {
		opts.Log.Printf("cannot read the boot ID, so no session can be recorded: %v", err)
	}
	return d
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// Reload activates the configuration now and records the outcome in the status.
func (d *Daemon) Reload(why string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	summary, err := d.opts.Activate()
	if err != nil {
		d.status.LastError = err.Error()
		d.status.LastErrorAt = now()
		d.opts.Log.Printf("reload (%s) refused, the last good policy stays in force: %v", why, err)
		return err
	}
	d.status.LastError, d.status.LastErrorAt = "", ""
	d.status.PolicyActivated = now()
	d.status.PolicySummary = summary
	d.status.Reloads++
	d.opts.Log.Printf("policy activated (%s): %s", why, summary)
	return nil
}

// Status returns a copy of the current status.
func (d *Daemon) Status() proto.Status {
	d.mu.Lock()
	st := d.status
	d.mu.Unlock()
	st.Sessions = d.sessions.count()
	return st
}

// Run activates the policy, starts watching and serving, tells systemd it is ready, and
// returns when ctx is done or a fatal error occurs.
func (d *Daemon) Run(ctx context.Context) error {
	_ = d.Reload("start")
	w, err := newWatcher(d.opts.ConfigPath, d.opts.DropinDir, d.opts.WatchFiles)
	if err != nil {
		return err
	}
	ln, err := d.listen()
	if err != nil {
		w.close()
		return err
	}
	stopRoot := d.startRootLane() // root.sock: pam_recd's own lane (rootsock.go)
	d.startWriter()
	d.sweepOrphans() // recordings a crash left open (orphans.go)
	go d.fqdn.get()  // look the host name up before the first recording needs it
	errc := make(chan error, 2)
	go func() { errc <- d.watchLoop(w) }()
	go func() { errc <- d.serve(ln) }()
	if _, err := sdaemon.SdNotify(false, sdaemon.SdNotifyReady); err != nil {
		d.opts.Log.Printf("telling systemd we are ready: %v", err)
	}
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	_, _ = sdaemon.SdNotify(false, sdaemon.SdNotifyStopping)
	ln.Close()
	stopRoot()
	w.close()
	d.stopRecordings()
	return err
}

// startWriter starts the journal writer child. If it cannot start, recd runs on (the
// policy does not depend on it), recordings are refused or declined (see admit), and the
// writer keeps trying in the background.
func (d *Daemon) startWriter() {
	w, err := journalwriter.Start(journalwriter.Options{
		Socket: d.opts.JournalSocket,
		Exe:    d.opts.WriterExe,
		Log:    func(msg string) { d.opts.Log.Print(msg) },
	})
	if err != nil {
		d.opts.Log.Printf("recordings are not possible until it starts: %v", err)
	}
	d.writer = w
}

// stopRecordings is recd stopping: every recording writes what it holds (no closing
// entries: the recorders resume with the next recd), then the writer sends everything
// to journald and exits.
func (d *Daemon) stopRecordings() {
	close(d.quit)
	done := make(chan struct{})
	go func() { d.recWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.opts.Log.Printf("recordings did not stop within 10s")
	}
	if d.writer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.crashStop {
		cancel()
	} else if err := d.writer.Flush(ctx); err != nil {
		d.opts.Log.Printf("stopping: %v", err)
	}
	d.writer.Close(ctx)
}

func (d *Daemon) watchLoop(w *watcher) error {
	for {
		what, err := w.wait()
		if errors.Is(err, os.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		// Let a burst of events (truncate, write, rename, chmod) settle, then activate once.
		if err := w.waitQuiet(d.opts.Debounce); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		_ = d.Reload("changed: " + what)
	}
}

// listen takes the socket from systemd (recd.socket) or creates it. The socket is
// world-connectable on purpose: recorders run as the recorded users. Who may do what is
// decided per request from SO_PEERCRED.
func (d *Daemon) listen() (net.Listener, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	if len(lns) > 0 && lns[0] != nil {
		return lns[0], nil
	}
	path := d.opts.SocketPath
	if err := ensureSocketDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("another recd is already listening on %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting the mode of %s: %w", path, err)
	}
	return ln, nil
}

func (d *Daemon) serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			d.acceptFailed(err) // once a minute at most, with a count
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go d.handle(c.(*net.UnixConn))
	}
}

// handle answers the requests of one control connection.
func (d *Daemon) handle(c *net.UnixConn) {
	defer c.Close()
	cred, err := d.credOf(c)
	if err != nil {
		d.opts.Log.Printf("refusing a connection: %v", err)
		return
	}
	slot := d.admitConn(c, cred) // per-uid limits (limits.go)
	if slot == nil {
		return
	}
	defer slot.release()
	for {
		var req proto.Request
		if !d.readRequest(c, slot, &req) { // requestTimeout; bad frames answered, abuse counted
			return
		}
		if req.Op == proto.OpRecordOpen {
			// The connection becomes a recording stream: no idle deadline from here on.
			if !slot.toRecording() {
				return
			}
			d.serveRecording(c, cred, req)
			return
		}
		if req.Op == proto.OpWatch {
			// The connection becomes a read-only live view (livewatch.go).
			d.serveWatch(c, cred, req)
			return
		}
		if err := proto.WriteJSON(c, d.answer(cred, req)); err != nil {
			return
		}
	}
}

func (d *Daemon) answer(cred *syscall.Ucred, req proto.Request) proto.Response {
	switch req.Op {
	case "status":
		st := d.Status()
		return proto.Response{OK: true, Status: &st}
	case "reload":
		if cred.Uid != 0 {
			return proto.Response{Error: fmt.Sprintf("reload is for root only (you are uid %d)", cred.Uid)}
		}
		err := d.Reload(fmt.Sprintf("requested by pid %d", cred.Pid))
		st := d.Status()
		if err != nil {
			return proto.Response{Error: err.Error(), Status: &st}
		}
		return proto.Response{OK: true, Status: &st}
	case proto.OpSessionOpen, proto.OpSessionClose:
		return d.session(cred, req)
	case proto.OpSessions:
		return d.answerSessions(cred) // all for root and auditors (livewatch.go)
	default:
		return proto.Response{Error: fmt.Sprintf("unknown operation %q", req.Op)}
	}
}

// peerCred returns the kernel's view of the client: never what the client says.
func peerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return cred, nil
}
