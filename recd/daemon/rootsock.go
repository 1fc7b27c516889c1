package daemon

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// Root's lane (proto.RootSocketPath).
//
// Every limit in limits.go applies after accept, when SO_PEERCRED tells who connected;
// but the kernel queues connections on a listening socket in one FIFO backlog before
// that. A user who connects and closes in a tight loop keeps the backlog of recd.sock
// full, and root's connection then waits behind thousands of others (measured: half of
// pam_recd's registrations missed their 250 ms budget under one such process). So root
// has a socket of its own, root.sock next to recd.sock, mode 0600: its backlog and its
// accept loop are root's alone. pam_recd tries it first when it runs as root. recd
// creates it itself (also under socket activation: recd.socket stays as it is) and
// removes it when it stops; it serves only uid 0 there, closing any other connection at
// once, so that a wider mode in the moment between bind and chmod gives nobody a lane.

// rootSocketPath is root.sock in the directory of the public socket.
func rootSocketPath(public string) string {
	if public == "" {
		public = proto.SocketPath
	}
	return filepath.Join(filepath.Dir(public), proto.RootSocketName)
}

// startRootLane listens on root.sock and serves it until the returned function is called.
// When the socket cannot be made, recd runs on without it (pam_recd uses recd.sock).
func (d *Daemon) startRootLane() (stop func()) {
	path := rootSocketPath(d.opts.SocketPath)
	ln, err := listenRoot(path)
	if err != nil {
		d.opts.Log.Printf("root's own socket is off (pam_recd registers through the public one): %v", err)
		return func() {}
	}
	go d.serveRoot(ln)
	return func() { ln.Close() }
}

func listenRoot(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, &fs.PathError{Op: "listen", Path: path, Err: fs.ErrExist}
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, &fs.PathError{Op: "listen", Path: path, Err: fs.ErrExist} // another recd
		}
		_ = os.Remove(path) // left by a recd that did not stop cleanly
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (d *Daemon) serveRoot(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				d.acceptFailed(err)
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		go func(c *net.UnixConn) {
			if cred, err := d.credOf(c); err != nil || cred.Uid != 0 {
				c.Close() // root's lane is root's
				return
			}
			d.handle(c)
		}(c.(*net.UnixConn))
	}
}
