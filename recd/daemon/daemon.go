// Package daemon is recd's long-running part: it keeps the compiled policy snapshot in step
// with /etc/recd (reloading within milliseconds of a change, keeping the last good policy
// when an edit is broken) and answers control requests on /run/recd/recd.sock.
//
// The recording path (recorders streaming to recd, journal writing) is added by the recorder
// issue on the same socket and frame format (internal/proto).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sdaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/recd-dev/recd/internal/proto"
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
}

// New returns a daemon; Run starts it.
func New(opts Options) *Daemon {
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = log.New(os.Stderr, "recd: ", 0)
	}
	return &Daemon{opts: opts, status: proto.Status{PID: os.Getpid(), Started: now()},
		sessions: newSessions(), lookupUID: lookupUID, auditSessionOf: auditSessionOf}
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
	ln.Close()
	w.close()
	return err
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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
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
			d.opts.Log.Printf("accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go d.handle(c.(*net.UnixConn))
	}
}

// handle answers the requests of one control connection.
func (d *Daemon) handle(c *net.UnixConn) {
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil {
		d.opts.Log.Printf("refusing a connection: %v", err)
		return
	}
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var req proto.Request
		if err := proto.ReadJSON(c, &req); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.EOF) {
				_ = proto.WriteJSON(c, proto.Response{Error: "bad request: " + err.Error()})
			}
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
