package daemon

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// Hostile clients.
//
// recd.sock is world-connectable: every user's recorder must reach it. So any local user
// can connect as often as they like, send garbage, or connect and send nothing. What recd
// owes the other users, and root above all (pam_recd registers each login from inside
// sshd, login or su, with a 250 ms budget), is that none of this takes their turn:
//
//   - Every connection is accounted to its uid (SO_PEERCRED) from the moment it is
//     accepted. A non-root uid has at most maxControlPerUID connections that do not
//     carry a recording, all non-root uids together maxControlNonRoot; root has its own
//     budget, maxControlRoot, which no other uid can use. A recording stream leaves the
//     control budget once granted (its own bound: maxRecordingsPerUID recordings, and
//     maxRecordingConnsPerUID connections for them, reconnects included).
//   - A connection that is waiting for a request ("idle": nothing sent yet, half a frame
//     sent, or between requests) holds its slot only until someone needs it: a new
//     connection over a limit closes the oldest idle connection of the same uid (of the
//     uid with most connections, for the non-root total) instead of being refused. Only
//     when every connection of the uid is busy inside recd is the new one refused. So
//     connections that send nothing never block a connection that sends a request.
//   - A connection refused or closed over the limits is kept open, unread, for
//     tarpitDelay before recd closes it (up to maxTarpit of them): a flood that reconnects
//     as soon as recd lets go of its connection is slowed to one try per connection and
//     second, instead of taking the CPU from everyone else.
//   - A request must arrive complete within requestTimeout of recd starting to wait for
//     it, or the connection is closed; an oversized or malformed frame is answered with
//     an error and the connection closed (proto.ReadFrame never allocates more than
//     proto.MaxFrame). The accept loop hands each connection to its own goroutine
//     before anything is read, so it never waits for a client.
//   - Abuse is logged once per client (uid and pid), when first seen, and then summed
//     up at most once per abuseInterval: a flood of a million bad frames is a couple of
//     log lines, not a million (abuseLog).
const (
	// maxControlPerUID bounds the control connections (status, sessions, session-open,
	// record-open before its grant, ...) of one non-root uid. recctl, pam_recd and
	// recd-session each need one at a time and only for milliseconds; 32 leaves room for
	// a user's burst of parallel logins.
	maxControlPerUID = 32
	// maxControlNonRoot bounds the control connections of all non-root uids together.
	maxControlNonRoot = 1024
	// maxControlRoot is root's own budget (pam_recd in every sshd, login, su; recctl).
	maxControlRoot = 1024
	// maxRecordingConnsPerUID bounds the recording streams of one non-root uid: its
	// recordings, plus a reconnecting recorder's new connection while the old one is still
	// being let go.
	maxRecordingConnsPerUID = 2 * maxRecordingsPerUID
	// requestTimeout is how long recd waits for a complete request frame.
	requestTimeout = 5 * time.Second
	// answerTimeout bounds answering one request, the write of the answer included.
	answerTimeout = 10 * time.Second
	// abuseInterval is how often at most one client's abuse is summed up in the log.
	abuseInterval = time.Minute
	// maxAbuseClientsPerUID is how many processes of one uid get lines of their own per
	// interval; further processes of the uid are summed up together.
	maxAbuseClientsPerUID = 4
	// maxAbuseClients bounds the clients the abuse log keeps apart.
	maxAbuseClients = 4096
	// tarpitDelay is how long a connection refused or closed over the limits is kept open
	// (not read, no CPU spent on it) before recd closes it: a flood that reconnects as
	// soon as recd closes its connection then reconnects once a second per connection,
	// not thousands of times, and leaves the CPU to the others.
	tarpitDelay = time.Second
	// maxTarpit bounds the connections kept that way; beyond it they are closed at once.
	maxTarpit = 512
	// maxResumeReadsPerUID bounds the journal reads for resumed recordings one non-root
	// uid has running or waiting at once, so that one user cannot hold every one of the
	// maxResumeReads turns.
	maxResumeReadsPerUID = 1
)

// connClass is what a connection is accounted as.
type connClass int

const (
	classControl connClass = iota
	classRecording
	classNone // refused or released
)

// uidConns are one uid's connections.
type uidConns struct {
	control, recording int
	idle               list.List // of *connSlot, oldest first
}

// connSlot is one accepted connection's place in the limits.
type connSlot struct {
	g       *guard
	c       net.Conn
	uid     uint32
	pid     int32
	class   connClass
	elem    *list.Element // in uidConns.idle while waiting for a request
	evicted bool
	served  int // requests read on this connection
}

// guard holds recd's defences against hostile clients: connection limits and the abuse log.
type guard struct {
	mu             sync.Mutex
	uids           map[uint32]*uidConns
	nonRootControl int
	// Limits (the constants above; smaller in tests).
	perUID, nonRoot, root, recPerUID int
	requestTimeout, tarpitDelay      time.Duration
	tarpitted                        int // connections in the tarpit (under mu)

	resumeMu    sync.Mutex
	resumeTurns map[uint32]chan struct{}

	abuse *abuseLog
}

func newGuard(logf func(string, ...any)) *guard {
	return &guard{uids: map[uint32]*uidConns{}, perUID: maxControlPerUID, nonRoot: maxControlNonRoot,
		root: maxControlRoot, recPerUID: maxRecordingConnsPerUID, requestTimeout: requestTimeout,
		tarpitDelay: tarpitDelay,
		resumeTurns: map[uint32]chan struct{}{}, abuse: newAbuseLog(logf)}
}

func (g *guard) uidLocked(uid uint32) *uidConns {
	u := g.uids[uid]
	if u == nil {
		u = &uidConns{}
		g.uids[uid] = u
	}
	return u
}

func (g *guard) forgetLocked(uid uint32) {
	if u := g.uids[uid]; u != nil && u.control == 0 && u.recording == 0 {
		delete(g.uids, uid)
	}
}

// acquire accounts a new connection to cred's uid. When the uid (or all non-root uids)
// is at its limit, the oldest idle connection makes room; when none is idle, acquire
// returns nil and the reason.
func (g *guard) acquire(c net.Conn, cred *syscall.Ucred) (*connSlot, string) {
	limit := g.perUID
	var closeLater []*connSlot
	ownEvicted := false
	defer func() {
		// The evicted connection's goroutine wakes from its read, sees it was evicted
		// and closes the connection (after the tarpit).
		for _, s := range closeLater {
			_ = s.c.SetReadDeadline(time.Now())
		}
		// Over its own limit, the new connection's client is the one to blame; over the
		// total, the client whose connection was closed (of the uid holding most).
		for i, s := range closeLater {
			if i == 0 && ownEvicted {
				g.abuse.note(cred.Uid, cred.Pid, abuseOverLimit, fmt.Sprintf(
					"a connection over the limit of %d per user: the user's connection idle the longest was closed for it", limit))
				continue
			}
			g.abuse.note(s.uid, s.pid, abuseOverLimit, fmt.Sprintf(
				"its idle connection closed: the users other than root have the most connections recd serves (%d)", g.nonRoot))
		}
	}()
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.uidLocked(cred.Uid)
	if cred.Uid == 0 {
		limit = g.root
	}
	if u.control >= limit {
		s := g.evictLocked(u)
		if s == nil {
			g.forgetLocked(cred.Uid)
			return nil, fmt.Sprintf("uid %d has %d connections to recd in use, the most recd serves for one user; try again", cred.Uid, u.control)
		}
		closeLater = append(closeLater, s)
		ownEvicted = true
	}
	if cred.Uid != 0 && g.nonRootControl >= g.nonRoot {
		// Make room at the expense of the uid that holds most.
		var most *uidConns
		for uid, o := range g.uids {
			if uid != 0 && o.idle.Len() > 0 && (most == nil || o.control > most.control) {
				most = o
			}
		}
		var s *connSlot
		if most != nil {
			s = g.evictLocked(most)
		}
		if s == nil {
			g.forgetLocked(cred.Uid)
			return nil, fmt.Sprintf("recd has %d connections of users other than root in use, the most it serves; try again", g.nonRootControl)
		}
		closeLater = append(closeLater, s)
	}
	u.control++
	if cred.Uid != 0 {
		g.nonRootControl++
	}
	return &connSlot{g: g, c: c, uid: cred.Uid, pid: cred.Pid, class: classControl}, ""
}

// evictLocked takes the oldest idle connection of u out of the accounting and returns it
// (the caller wakes its reader, which closes it), or nil when none is idle.
func (g *guard) evictLocked(u *uidConns) *connSlot {
	e := u.idle.Front()
	if e == nil {
		return nil
	}
	s := e.Value.(*connSlot)
	s.evicted = true
	g.releaseLocked(s)
	return s
}

func (g *guard) releaseLocked(s *connSlot) {
	u := g.uids[s.uid]
	if s.elem != nil {
		u.idle.Remove(s.elem)
		s.elem = nil
	}
	switch s.class {
	case classControl:
		u.control--
		if s.uid != 0 {
			g.nonRootControl--
		}
	case classRecording:
		u.recording--
	}
	s.class = classNone
	g.forgetLocked(s.uid)
}

// release gives the connection's slot back (once; later calls do nothing).
func (s *connSlot) release() {
	s.g.mu.Lock()
	if s.class != classNone {
		s.g.releaseLocked(s)
	}
	s.g.mu.Unlock()
}

// setIdle marks the connection as waiting for a request (evictable) or busy.
func (s *connSlot) setIdle(idle bool) {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	if s.class != classControl {
		return
	}
	u := s.g.uids[s.uid]
	switch {
	case idle && s.elem == nil:
		s.elem = u.idle.PushBack(s)
	case !idle && s.elem != nil:
		u.idle.Remove(s.elem)
		s.elem = nil
	}
}

// wasEvicted reports whether recd closed the connection to make room.
func (s *connSlot) wasEvicted() bool {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	return s.evicted
}

// toRecording moves the connection from the control budget to the recording streams
// (record-open). Over the uid's bound of recording streams it answers with an error and
// returns false.
func (s *connSlot) toRecording() bool {
	g := s.g
	g.mu.Lock()
	if s.class != classControl {
		g.mu.Unlock()
		return false
	}
	u := g.uids[s.uid]
	if s.uid != 0 && u.recording >= g.recPerUID {
		n := u.recording
		g.mu.Unlock()
		g.abuse.note(s.uid, s.pid, abuseOverLimit, fmt.Sprintf("record-open over the limit of %d recording connections", g.recPerUID))
		_ = s.c.SetWriteDeadline(time.Now().Add(time.Second))
		_ = proto.WriteJSON(s.c, proto.Response{Error: fmt.Sprintf("uid %d has %d recording connections to recd, the most recd serves for one user", s.uid, n)})
		return false
	}
	if s.elem != nil {
		u.idle.Remove(s.elem)
		s.elem = nil
	}
	u.control--
	if s.uid != 0 {
		g.nonRootControl--
	}
	u.recording++
	s.class = classRecording
	g.mu.Unlock()
	return true
}

// tarpit keeps a connection recd is done with open for tarpitDelay before the caller
// closes it, unless maxTarpit connections are kept already.
func (g *guard) tarpit() {
	g.mu.Lock()
	if g.tarpitted >= maxTarpit || g.tarpitDelay <= 0 {
		g.mu.Unlock()
		return
	}
	g.tarpitted++
	g.mu.Unlock()
	time.Sleep(g.tarpitDelay)
	g.mu.Lock()
	g.tarpitted--
	g.mu.Unlock()
}

// counts returns the control and recording connections of uid (for tests and status).
func (g *guard) counts(uid uint32) (control, recording int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u := g.uids[uid]; u != nil {
		return u.control, u.recording
	}
	return 0, 0
}

// resumeTurn waits until uid may start a journal read for a resumed recording: at most
// maxResumeReadsPerUID at a time for a non-root uid (root: no bound beyond the global
// one). It returns the function that ends the turn.
func (g *guard) resumeTurn(ctx context.Context, uid uint32) (func(), error) {
	if uid == 0 {
		return func() {}, nil
	}
	g.resumeMu.Lock()
	ch := g.resumeTurns[uid]
	if ch == nil {
		ch = make(chan struct{}, maxResumeReadsPerUID)
		g.resumeTurns[uid] = ch
	}
	g.resumeMu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return func() {
		<-ch
		g.resumeMu.Lock()
		if len(ch) == 0 && g.resumeTurns[uid] == ch {
			delete(g.resumeTurns, uid)
		}
		g.resumeMu.Unlock()
	}, nil
}

// admitConn accounts a new connection (handle's first step). Over the limits it answers
// with the reason, keeps the connection for the tarpit and returns nil: the caller then
// closes it.
func (d *Daemon) admitConn(c *net.UnixConn, cred *syscall.Ucred) *connSlot {
	s, why := d.guard.acquire(c, cred)
	if s != nil {
		return s
	}
	d.guard.abuse.note(cred.Uid, cred.Pid, abuseOverLimit, why)
	// A fresh connection's send buffer is empty: this write does not wait for the client.
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_ = proto.WriteJSON(c, proto.Response{Error: why})
	d.guard.tarpit()
	return nil
}

// countingReader counts the bytes of the frame being read.
type countingReader struct {
	r io.Reader
	n int
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += n
	return n, err
}

// readRequest waits for the next request of a control connection, for at most
// requestTimeout. It returns false when the connection is to be closed: the client closed
// it, it timed out, it was closed to make room, or the frame was bad (answered with an
// error). Abuse is counted. On success the connection has answerTimeout for the answer.
func (d *Daemon) readRequest(c *net.UnixConn, s *connSlot, req *proto.Request) bool {
	s.setIdle(true)
	_ = c.SetDeadline(time.Now().Add(d.guard.requestTimeout))
	cr := &countingReader{r: c}
	var err error
	if s.wasEvicted() { // between setIdle and SetDeadline, which undid the wake-up
		err = os.ErrDeadlineExceeded
	} else {
		err = proto.ReadJSON(cr, req)
	}
	s.setIdle(false)
	if err == nil && !s.wasEvicted() {
		s.served++
		_ = c.SetDeadline(time.Now().Add(answerTimeout))
		return true
	}
	switch {
	case s.wasEvicted():
		// Made room for a newer connection of the same user (counted against the
		// client that caused it); kept a moment before the close, so that a flood that
		// reconnects at once is slowed down.
		d.guard.tarpit()
	case errors.Is(err, io.EOF) && cr.n == 0:
		// A clean close between requests; without any, from a user other than root, it
		// is a flood that does not wait for recd (root: a second recd checking whether
		// one listens).
		if s.served == 0 && s.uid != 0 {
			d.guard.abuse.note(s.uid, s.pid, abuseSilent, "connected and closed without a request")
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		switch {
		case cr.n > 0:
			d.guard.abuse.note(s.uid, s.pid, abuseHalfFrame, fmt.Sprintf("%d bytes of a frame, then nothing for %v", cr.n, d.guard.requestTimeout))
		case s.served == 0:
			d.guard.abuse.note(s.uid, s.pid, abuseSilent, fmt.Sprintf("connected and sent nothing for %v", d.guard.requestTimeout))
		}
	default:
		kind := abuseMalformed
		if errors.Is(err, proto.ErrFrameTooLarge) {
			kind = abuseOversized
		}
		d.guard.abuse.note(s.uid, s.pid, kind, err.Error())
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_ = proto.WriteJSON(c, proto.Response{Error: "bad request: " + err.Error()})
	}
	return false
}

// acceptFailed logs a failed accept (out of file descriptors, most likely) at most once
// per abuseInterval, with the count of failures since the last line.
func (d *Daemon) acceptFailed(err error) {
	a := d.guard.abuse
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acceptFails++
	if now := a.now(); a.acceptLast.IsZero() || now.Sub(a.acceptLast) >= abuseInterval {
		if a.acceptFails > 1 {
			a.logf("accept: %v (%d failures since the last line)", err, a.acceptFails)
		} else {
			a.logf("accept: %v", err)
		}
		a.acceptFails, a.acceptLast = 0, now
	}
}

// ensureSocketDir creates the socket's directory (mode 0755 whatever the umask) or checks
// the one that exists: a directory, not a symlink, owned by root (or recd's own uid), and
// writable by nobody else, since whoever can write it can put a socket of their own in
// recd's place.
func ensureSocketDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("setting the mode of %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory (%v); remove it, recd creates it", dir, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, who could replace recd's socket (fix: chown root:root %s)", dir, st.Uid, dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		if err := os.Chmod(dir, fi.Mode().Perm()&^0o022); err != nil {
			return fmt.Errorf("%s is writable by others and its mode cannot be fixed: %w", filepath.Clean(dir), err)
		}
	}
	return nil
}
