package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// fakeConn is a net.Conn that records whether it was closed.
type fakeConn struct {
	net.Conn
	mu     sync.Mutex
	closed bool
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// SetReadDeadline is how the guard wakes an evicted connection's reader, which closes it.
func (c *fakeConn) SetReadDeadline(time.Time) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func TestHostileGuardLimits(t *testing.T) {
	g := newGuard(func(string, ...any) {})
	g.perUID, g.nonRoot, g.root, g.recPerUID = 3, 5, 2, 1
	bob := &syscall.Ucred{Uid: 1002, Pid: 7}
	var slots []*connSlot
	var conns []*fakeConn
	for i := 0; i < 3; i++ {
		c := &fakeConn{}
		s, why := g.acquire(c, bob)
		if s == nil {
			t.Fatalf("connection %d refused: %s", i, why)
		}
		slots, conns = append(slots, s), append(conns, c)
	}
	// All three busy: the fourth is refused.
	if s, why := g.acquire(&fakeConn{}, bob); s != nil || !strings.Contains(why, "uid 1002 has 3 connections") {
		t.Fatalf("fourth busy connection: %v %q", s, why)
	}
	// Two of them wait for a request: a new connection closes the one idle the longest.
	slots[1].setIdle(true)
	slots[2].setIdle(true)
	c4 := &fakeConn{}
	s4, why := g.acquire(c4, bob)
	if s4 == nil {
		t.Fatalf("new connection refused although two are idle: %s", why)
	}
	if !conns[1].isClosed() || conns[2].isClosed() || conns[0].isClosed() {
		t.Fatalf("closed: %v %v %v, want only the oldest idle one", conns[0].isClosed(), conns[1].isClosed(), conns[2].isClosed())
	}
	if !slots[1].wasEvicted() {
		t.Fatal("the evicted slot does not know it")
	}
	slots[1].release() // the handler's deferred release after eviction: no double count
	if n, _ := g.counts(1002); n != 3 {
		t.Fatalf("uid 1002 has %d control connections, want 3", n)
	}
	// The non-root total: erin takes the last 2 places; then a third user evicts from
	// the uid holding most (bob's idle slot 2).
	erin := &syscall.Ucred{Uid: 1005, Pid: 8}
	for i := 0; i < 2; i++ {
		if s, why := g.acquire(&fakeConn{}, erin); s == nil {
			t.Fatalf("erin %d: %s", i, why)
		}
	}
	if s, why := g.acquire(&fakeConn{}, &syscall.Ucred{Uid: 1006, Pid: 9}); s == nil || !conns[2].isClosed() {
		t.Fatalf("third user at the non-root total: %v %q (bob's idle closed: %v)", s, why, conns[2].isClosed())
	}
	// Root has its own budget, whatever the others hold.
	root := &syscall.Ucred{Uid: 0, Pid: 1}
	for i := 0; i < 2; i++ {
		if s, why := g.acquire(&fakeConn{}, root); s == nil {
			t.Fatalf("root %d refused while others are at their limits: %s", i, why)
		}
	}
	// A recording stream leaves the control budget; recording streams have their own bound.
	if !slots[0].toRecording() {
		t.Fatal("record-open refused")
	}
	if c, r := g.counts(1002); c != 1 || r != 1 {
		t.Fatalf("bob: %d control, %d recording, want 1 and 1", c, r)
	}
	var buf bytes.Buffer
	c5 := &fakeConn{Conn: &writeOnly{&buf}}
	s5, _ := g.acquire(c5, bob)
	if s5 == nil || s5.toRecording() || !strings.Contains(buf.String(), "recording connections") {
		t.Fatalf("second recording stream over a bound of 1: %q", buf.String())
	}
	s5.release()
	slots[0].release()
	s4.release()
	if c, r := g.counts(1002); c != 0 || r != 0 {
		t.Fatalf("bob after release: %d control, %d recording", c, r)
	}
}

type writeOnly struct{ w io.Writer }

func (w *writeOnly) Read([]byte) (int, error)         { return 0, io.EOF }
func (w *writeOnly) Write(p []byte) (int, error)      { return w.w.Write(p) }
func (w *writeOnly) Close() error                     { return nil }
func (w *writeOnly) LocalAddr() net.Addr              { return nil }
func (w *writeOnly) RemoteAddr() net.Addr             { return nil }
func (w *writeOnly) SetDeadline(time.Time) error      { return nil }
func (w *writeOnly) SetReadDeadline(time.Time) error  { return nil }
func (w *writeOnly) SetWriteDeadline(time.Time) error { return nil }

func TestHostileAbuseLogOncePerClient(t *testing.T) {
	var lines []string
	a := newAbuseLog(func(f string, args ...any) { lines = append(lines, fmt.Sprintf(f, args...)) })
	a.noTimer = true
	clock := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return clock }
	a.commOf = func(pid int32) string { return "evil" }
	for i := 0; i < 5000; i++ {
		a.note(1001, 4242, abuseMalformed, "decoding: bad")
	}
	for i := 0; i < 7; i++ {
		a.note(1001, 4242, abuseOverLimit, "over")
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "uid 1001 pid 4242 (evil): malformed frame: decoding: bad") {
		t.Fatalf("after 5007 bad things, lines:\n%s", strings.Join(lines, "\n"))
	}
	clock = clock.Add(30 * time.Second)
	a.flush()
	if len(lines) != 1 {
		t.Fatalf("a summary before the interval: %q", lines[1:])
	}
	clock = clock.Add(31 * time.Second)
	a.flush()
	if len(lines) != 2 || !strings.Contains(lines[1], "4999 malformed frames, 7 connections over the per-user limits") {
		t.Fatalf("summary: %q", lines[1:])
	}
	// Quiet for an interval: forgotten, so the next abuse is a first line again.
	clock = clock.Add(61 * time.Second)
	a.flush()
	if len(lines) != 2 || len(a.clients) != 0 || len(a.perUID) != 0 {
		t.Fatalf("after a quiet minute: %d lines, %d clients, %v", len(lines), len(a.clients), a.perUID)
	}
	// A fork flood: only maxAbuseClientsPerUID processes of a uid get lines of their own.
	lines = nil
	for pid := int32(1); pid <= 1000; pid++ {
		a.note(1003, pid, abuseSilent, "nothing")
	}
	if len(lines) != maxAbuseClientsPerUID+1 || !strings.Contains(lines[len(lines)-1], "uid 1003 (further processes)") {
		t.Fatalf("fork flood: %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// A client that goes on gets one summary a minute, inline.
	lines = nil
	for i := 0; i < 3; i++ {
		clock = clock.Add(61 * time.Second)
		a.note(1003, 1, abuseSilent, "nothing")
	}
	if len(lines) != 3 || !strings.Contains(lines[0], "1 connections without a request") {
		t.Fatalf("continuing client: %q", lines)
	}
}

// hostileDaemon is a daemon whose clients' uids come from the abstract address they bind
// (@recdtest-UID-N): one test process can then be many users.
func hostileDaemon(t *testing.T, tune func(g *guard)) (*Daemon, string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	dir := t.TempDir()
	conf := filepath.Join(dir, "recd.conf")
	if err := os.WriteFile(conf, []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fc := &fakeConfig{path: conf}
	sock := filepath.Join(dir, "run", "recd.sock")
	d := New(Options{
		ConfigPath: conf, DropinDir: filepath.Join(dir, "conf.d"), SocketPath: sock,
		Activate: fc.activate, Log: log.New(logs, "", 0),
		JournalSocket: filepath.Join(dir, "no-journal.socket"),
	})
	// Set before Run: the serving goroutines read both.
	real := d.credOf
	d.credOf = func(c *net.UnixConn) (*syscall.Ucred, error) {
		cred, err := real(c)
		if err != nil {
			return nil, err
		}
		if a, ok := c.RemoteAddr().(*net.UnixAddr); ok && strings.HasPrefix(a.Name, "@recdtest-") {
			f := strings.Split(a.Name, "-")
			uid, _ := strconv.Atoi(f[1])
			cred.Uid = uint32(uid)
		}
		return cred, nil
	}
	tune(d.guard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	probes := 0
	waitFor(t, 5*time.Second, "recd listens", func() bool {
		probes++ // as root: a probe without a request is no abuse (whoever runs the test)
		local := &net.UnixAddr{Net: "unix", Name: fmt.Sprintf("@recdtest-0-probe-%d-%d", os.Getpid(), probes)}
		c, err := net.DialUnix("unix", local, &net.UnixAddr{Net: "unix", Name: sock})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return d, sock, logs
}

var dialN struct {
	sync.Mutex
	n int
}

// dialAs connects to sock as uid (see hostileDaemon).
func dialAs(t *testing.T, sock string, uid int) *net.UnixConn {
	t.Helper()
	dialN.Lock()
	dialN.n++
	n := dialN.n
	dialN.Unlock()
	local := &net.UnixAddr{Net: "unix", Name: fmt.Sprintf("@recdtest-%d-%d-%d", uid, os.Getpid(), n)}
	c, err := net.DialUnix("unix", local, &net.UnixAddr{Net: "unix", Name: sock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func askStatus(c *net.UnixConn) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if err := proto.WriteJSON(c, proto.Request{Op: "status"}); err != nil {
		return err
	}
	var resp proto.Response
	if err := proto.ReadJSON(c, &resp); err != nil {
		return err
	}
	if !resp.OK {
		return fmt.Errorf("refused: %s", resp.Error)
	}
	return nil
}

// A user who opens hundreds of connections and sends nothing, or half a header, holds at
// most its own limit, never blocks root or another user, nor its own next request; each
// silent connection is closed after requestTimeout; the abuse is one line.
func TestHostileSlowLorisAndFlood(t *testing.T) {
	d, sock, logs := hostileDaemon(t, func(g *guard) {
		g.requestTimeout = 700 * time.Millisecond
		g.tarpitDelay = 200 * time.Millisecond
	})
	var held []*net.UnixConn
	for i := 0; i < 200; i++ {
		c := dialAs(t, sock, 1002)
		if i%2 == 1 {
			c.Write([]byte{0, 0}) // half a header
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	waitFor(t, 2*time.Second, "the flood accounted", func() bool {
		n, _ := d.guard.counts(1002)
		return n == maxControlPerUID
	})
	for _, uid := range []int{0, 1005, 1002} {
		start := time.Now()
		if err := askStatus(dialAs(t, sock, uid)); err != nil {
			t.Fatalf("uid %d during the flood: %v", uid, err)
		}
		t.Logf("uid %d answered in %v during the flood", uid, time.Since(start))
	}
	// Whatever bob still holds is closed after requestTimeout.
	waitFor(t, 3*time.Second, "bob's silent connections closed", func() bool {
		n, _ := d.guard.counts(1002)
		return n == 0
	})
	open := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil && !isEOF(err) {
			open++
		}
	}
	if open != 0 {
		t.Errorf("%d of bob's connections still open", open)
	}
	abuse := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "abuse:") {
			abuse++
		}
	}
	if abuse != 1 {
		t.Errorf("%d abuse lines, want 1 (one client):\n%s", abuse, logs.String())
	}
}

func isEOF(err error) bool {
	return err == io.EOF || strings.Contains(err.Error(), "reset by peer")
}

// Oversized and malformed frames are answered with an error and the connection closed;
// thousands of them are one log line.
func TestHostileMalformedFrames(t *testing.T) {
	_, sock, logs := hostileDaemon(t, func(*guard) {})
	bad := [][]byte{
		{0xff, 0xff, 0xff, 0xff},             // 4 GiB announced
		{0, 0x20, 0, 1, 'J'},                 // 2 MiB announced, one byte sent
		{0, 0, 0, 0},                         // empty frame
		append([]byte{0, 0, 0, 3}, "X{}"...), // unknown type
		append([]byte{0, 0, 0, 6}, "J{\"x\":"...),
		append([]byte{0, 0, 0, 14}, "J{\"op\":1,\"a\":2"...),
	}
	for i := 0; i < 600; i++ {
		c := dialAs(t, sock, 1002)
		c.Write(bad[i%len(bad)])
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var resp proto.Response
		if err := proto.ReadJSON(c, &resp); err != nil || resp.OK || !strings.HasPrefix(resp.Error, "bad request") {
			t.Fatalf("frame %x: %+v %v", bad[i%len(bad)], resp, err)
		}
		var b [1]byte
		if _, err := c.Read(b[:]); err == nil {
			t.Fatalf("frame %x: the connection stays open", bad[i%len(bad)])
		}
		c.Close()
	}
	if err := askStatus(dialAs(t, sock, 0)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "abuse:"); n != 1 {
		t.Errorf("%d abuse lines for 600 bad frames of one client, want 1:\n%s", n, logs.String())
	}
}
