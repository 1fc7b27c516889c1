package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/recd-dev/recd/internal/chain"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/internal/tlog"
	"github.com/recd-dev/recd/recd/journalwriter"
	"github.com/recd-dev/recd/recd/journalwriter/fakejournal"
)

// The recording tests run real daemons (with their real journal writer child: this test
// binary re-executed) against a fake journald socket. Recorders are fake clients in this
// process: each binds its socket to a path naming the PID and UID it plays, and the
// daemon's credential seam reads them from there instead of SO_PEERCRED; /proc, the user
// database and audit session IDs are fakes too.

const bootID = "0123456789abcdef0123456789abcdef"

// procTable is a fake /proc.
type procTable struct {
	mu    sync.Mutex
	procs map[int32]procInfo
	audit map[int32]uint32
}

func (p *procTable) add(pid, ppid int32) {
	p.mu.Lock()
	p.procs[pid] = procInfo{PPID: ppid, Start: uint64(pid) * 10}
	p.mu.Unlock()
}

func (p *procTable) kill(pid int32) {
	p.mu.Lock()
	delete(p.procs, pid)
	p.mu.Unlock()
}

func (p *procTable) get(pid int32) (procInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pi, ok := p.procs[pid]; ok {
		return pi, nil
	}
	return procInfo{}, os.ErrNotExist
}

func (p *procTable) auditOf(pid int32) (uint32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.audit[pid]
	return a, ok
}

// harness is a fake journal, a fake system and the daemons started on them.
type harness struct {
	t     *testing.T
	dir   string
	sock  string
	j     *fakejournal.Journal
	procs *procTable
	cfg   config.Recorder
	logs  *syncBuffer
	tune  func(*Options)

	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "recd-rec-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	j, err := fakejournal.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	cfg := config.Default().Recorder
	cfg.Latency = 1
	h := &harness{t: t, dir: dir, sock: filepath.Join(dir, "recd.sock"), j: j, cfg: cfg, logs: &syncBuffer{},
		procs: &procTable{procs: map[int32]procInfo{1: {Start: 1}}, audit: map[int32]uint32{}}}
	if err := os.WriteFile(filepath.Join(dir, "recd.conf"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("recd log:\n%s", h.logs)
		}
	})
	return h
}

// start starts a daemon (stopping none: call stop first for a restart).
func (h *harness) start() *Daemon {
	h.t.Helper()
	opts := Options{
		ConfigPath: filepath.Join(h.dir, "recd.conf"), DropinDir: filepath.Join(h.dir, "conf.d"),
		SocketPath: h.sock, Activate: func() (string, error) { return "ok", nil },
		Log: log.New(h.logs, "", 0), JournalSocket: h.j.Path,
		Recorder:    func() config.Recorder { return h.cfg },
		GracePeriod: 5 * time.Second,
	}
	if h.tune != nil {
		h.tune(&opts)
	}
	d := New(opts)
	d.bootID = bootID
	d.proc = h.procs.get
	d.auditSessionOf = h.procs.auditOf
	d.sessions.alive = func(pid int32) bool { _, err := h.procs.get(pid); return err == nil }
	d.lookupName = func(uid uint32) (string, error) {
		switch uid {
		case 0:
			return "root", nil
		case 1001:
			return "alice", nil
		case 1002:
			return "bob", nil
		}
		return "", fmt.Errorf("no user %d", uid)
	}
	d.lookupUID = func(name string) (uint32, error) {
		switch name {
		case "alice":
			return 1001, nil
		case "bob":
			return 1002, nil
		}
		return 0, fmt.Errorf("no user %s", name)
	}
	d.fqdn.lookup = func(string) string { return "host.example" }
	d.readJournal = h.readJournal
	d.credOf = fakeCred
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	h.d, h.cancel, h.done = d, cancel, done
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("unix", h.sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatal("recd did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return d
}

// stop stops the daemon as SIGTERM does (crash: as kill -9 would, without flushing).
func (h *harness) stopWith(crash bool) {
	if h.d == nil {
		return
	}
	h.d.crashStop = crash
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Errorf("recd did not stop")
	}
	h.d = nil
}

func (h *harness) stop() { h.stopWith(false) }

// readJournal is the test seam for journalctl: the fake journal's entries of rec.
func (h *harness) readJournal(ctx context.Context, rec string, fn func(journal.Entry) error) error {
	for _, e := range h.j.Entries() {
		if v, _ := e.Get("RECD_REC"); string(v) != rec {
			continue
		}
		je := journal.Entry{}
		for _, f := range e {
			je[f.Name] = append(je[f.Name], f.Value)
		}
		if err := fn(je); err != nil {
			return err
		}
	}
	return nil
}

// fakeCred reads the PID and UID a test client plays from its bound socket path
// (".../c-<pid>-<uid>-<n>").
func fakeCred(c *net.UnixConn) (*syscall.Ucred, error) {
	name := filepath.Base(c.RemoteAddr().String())
	parts := strings.Split(name, "-")
	if len(parts) != 4 || parts[0] != "c" {
		return nil, fmt.Errorf("client without a fake identity: %q", name)
	}
	pid, err1 := strconv.Atoi(parts[1])
	uid, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bad fake identity %q", name)
	}
	return &syscall.Ucred{Pid: int32(pid), Uid: uint32(uid), Gid: uint32(uid)}, nil
}

var clientN struct {
	sync.Mutex
	n int
}

// client is a fake recorder (or pam_recd) connection.
type client struct {
	t        *testing.T
	c        *net.UnixConn
	pid      int32
	uid      uint32
	mu       sync.Mutex
	ack      uint64
	changed  chan struct{}
	resp     chan proto.Response
	readDone chan struct{}
}

func (h *harness) dial(pid int32, uid uint32) *client {
	h.t.Helper()
	clientN.Lock()
	clientN.n++
	n := clientN.n
	clientN.Unlock()
	local := &net.UnixAddr{Name: filepath.Join(h.dir, fmt.Sprintf("c-%d-%d-%d", pid, uid, n)), Net: "unix"}
	c, err := net.DialUnix("unix", local, &net.UnixAddr{Name: h.sock, Net: "unix"})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return &client{t: h.t, c: c, pid: pid, uid: uid, changed: make(chan struct{}), resp: make(chan proto.Response, 4)}
}

// request sends one control request and reads the answer.
func (c *client) request(req proto.Request) proto.Response {
	c.t.Helper()
	_ = c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := proto.WriteJSON(c.c, req); err != nil {
		c.t.Fatal(err)
	}
	var resp proto.Response
	if err := proto.ReadJSON(c.c, &resp); err != nil {
		c.t.Fatal(err)
	}
	_ = c.c.SetDeadline(time.Time{})
	return resp
}

// open sends a record-open and, when granted a recording, starts reading acks.
func (c *client) open(o proto.RecordOpen) proto.Response {
	c.t.Helper()
	resp := c.request(proto.Request{Op: proto.OpRecordOpen, Record: &o})
	if resp.Record != nil && resp.Record.Rec != "" && !resp.Record.Nested && resp.Record.Refused == "" {
		c.readDone = make(chan struct{})
		go c.read()
	}
	return resp
}

func (c *client) read() {
	defer close(c.readDone)
	for {
		f, err := proto.ReadFrame(c.c)
		if err != nil {
			return
		}
		switch f.Type {
		case proto.TypeAck:
			a, err := proto.DecodeAck(f.Payload)
			if err != nil {
				return
			}
			c.mu.Lock()
			if a.Next < c.ack {
				c.t.Errorf("ack went backwards: %d after %d", a.Next, c.ack)
			}
			c.ack = a.Next
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		case proto.TypeJSON:
			var r proto.Response
			if err := json.Unmarshal(f.Payload, &r); err != nil {
				c.t.Errorf("bad response: %v", err)
				return
			}
			c.resp <- r
		}
	}
}

func (c *client) acked() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ack
}

// waitAck waits until every event before next is acknowledged.
func (c *client) waitAck(next uint64, limit time.Duration) {
	c.t.Helper()
	deadline := time.After(limit)
	for {
		c.mu.Lock()
		ok, ch := c.ack >= next, c.changed
		got := c.ack
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			c.t.Fatalf("ack %d not received within %v (last ack %d)", next, limit, got)
		}
	}
}

func (c *client) send(evs ...proto.Event) {
	c.t.Helper()
	if err := proto.WriteFrame(c.c, proto.Frame{Type: proto.TypeEvents, Payload: proto.EncodeEvents(evs)}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) close(cl proto.RecordClose) proto.Response {
	c.t.Helper()
	if err := proto.WriteJSON(c.c, proto.Request{Op: proto.OpRecordClose, Close: &cl}); err != nil {
		c.t.Fatal(err)
	}
	select {
	case r := <-c.resp:
		return r
	case <-time.After(30 * time.Second):
		c.t.Fatal("no answer to the close")
	}
	return proto.Response{}
}

func ttyOpen() proto.RecordOpen {
	return proto.RecordOpen{Mode: proto.ModeTTY, Term: "xterm", Shell: "/bin/bash", Login: true,
		Window: &proto.Window{Cols: 80, Rows: 24}, StartUnixMicro: 1700000000000000}
}

// stream is a fake recorder's event stream: it keeps every event until acknowledged.
type stream struct {
	next   uint64
	micros uint64
	held   []proto.Event
	out    bytes.Buffer // all output, as the terminal showed it
}

func newStream() *stream { return &stream{next: 1} }

func (s *stream) add(kind proto.EventKind, data []byte) proto.Event {
	s.micros += 1500
	e := proto.Event{Seq: s.next, Micros: s.micros, Kind: kind, Data: data}
	s.next++
	s.held = append(s.held, e)
	if kind == proto.EventOutput {
		s.out.Write(data)
	}
	return e
}

func (s *stream) output(text string) proto.Event { return s.add(proto.EventOutput, []byte(text)) }

// drop forgets acknowledged events.
func (s *stream) drop(ack uint64) {
	i := 0
	for i < len(s.held) && s.held[i].Seq < ack {
		i++
	}
	s.held = s.held[i:]
}

// resend returns the held events from seq on, the first without its skip bytes.
func (s *stream) resend(seq uint64, skip uint32) []proto.Event {
	var out []proto.Event
	for _, e := range s.held {
		if e.Seq < seq {
			continue
		}
		if e.Seq == seq && skip > 0 {
			e.Data = e.Data[skip:]
		}
		out = append(out, e)
	}
	return out
}

// recEntries returns the entries of recording rec in journal order, without duplicates
// (an entry sent twice by a restarted writer child).
func recEntries(t *testing.T, j *fakejournal.Journal, rec string) []map[string][]byte {
	t.Helper()
	var out []map[string][]byte
	seen := map[string]string{}
	for _, e := range j.Entries() {
		m := e.Map()
		if _, ok := m["RECD_ENTRY"]; !ok || string(m["RECD_REC"]) != rec {
			continue // another recording's, or recd's own log (a logout names the recording)
		}
		n := string(m["RECD_ENTRY"])
		if c, ok := seen[n]; ok {
			if c != string(m["RECD_CHAIN"]) {
				t.Fatalf("entry %s twice with different chains", n)
			}
			continue
		}
		seen[n] = string(m["RECD_CHAIN"])
		out = append(out, m)
	}
	return out
}

// verify checks a recording the way recctl verify and tlog-play would: entries 1..n in
// order, the chain intact, TLOG_IDs contiguous, the tlog messages a valid sequence; it
// returns the output they replay and the entries.
func verify(t *testing.T, j *fakejournal.Journal, rec string) ([]byte, []map[string][]byte) {
	t.Helper()
	// The writer's confirmation means journald's socket has the entries; wait until the
	// fake journal has read them.
	waitEntries(t, j, "closing entry of "+rec, hasEntry(rec, "close"))
	es := recEntries(t, j, rec)
	if len(es) == 0 {
		t.Fatalf("no entries of %s", rec)
	}
	prev := chain.Seed(rec)
	var dec tlog.Decoder
	var out bytes.Buffer
	id := uint64(0)
	for i, e := range es {
		if n := string(e["RECD_ENTRY"]); n != strconv.Itoa(i+1) {
			t.Fatalf("entry %d has RECD_ENTRY %s", i+1, n)
		}
		want := chain.Next(prev, e)
		if got := string(e["RECD_CHAIN"]); got != want {
			t.Fatalf("entry %d: chain %s, want %s", i+1, got, want)
		}
		prev = want
		// _COMM is the writer's; journald (like the fake) reads it from /proc, so an entry
		// processed after its writer was killed has none, only _PID and _UID.
		if comm, ok := e["_COMM"]; ok && string(comm) != journalwriter.Comm || !ok && e["_PID"] == nil {
			t.Fatalf("entry %d: _COMM=%q", i+1, e["_COMM"])
		}
		if string(e["SYSLOG_IDENTIFIER"]) != "recd" {
			t.Fatalf("entry %d: SYSLOG_IDENTIFIER=%q", i+1, e["SYSLOG_IDENTIFIER"])
		}
		if string(e["RECD_EVENT"]) != "message" {
			if _, ok := e["TLOG_REC"]; ok {
				t.Fatalf("entry %d (%s) has TLOG_REC", i+1, e["RECD_EVENT"])
			}
			continue
		}
		id++
		for _, f := range []string{"TLOG_REC", "TLOG_USER", "TLOG_SESSION", "TLOG_ID", "PRIORITY", "RECD_NEXT", "RECD_ORIGIN_US", "RECD_LAST_US"} {
			if _, ok := e[f]; !ok {
				t.Fatalf("message entry %d lacks %s", i+1, f)
			}
		}
		if string(e["TLOG_ID"]) != strconv.FormatUint(id, 10) || string(e["TLOG_REC"]) != rec || string(e["PRIORITY"]) != "6" {
			t.Fatalf("message entry %d: TLOG_ID=%s (want %d) TLOG_REC=%s PRIORITY=%s", i+1, e["TLOG_ID"], id, e["TLOG_REC"], e["PRIORITY"])
		}
		m, err := tlog.ParseMessage(e["MESSAGE"])
		if err != nil {
			t.Fatalf("message entry %d: %v\n%s", i+1, err, e["MESSAGE"])
		}
		if m.ID != id || m.Rec != rec {
			t.Fatalf("message entry %d: JSON id %d rec %s", i+1, m.ID, m.Rec)
		}
		pkts, err := dec.Decode(m)
		if err != nil {
			t.Fatalf("message entry %d: %v", i+1, err)
		}
		for _, p := range pkts {
			if p.Kind == tlog.PacketOutput {
				out.Write(p.Data)
			}
		}
	}
	return out.Bytes(), es
}

func events(es []map[string][]byte) []string {
	var out []string
	for _, e := range es {
		ev := string(e["RECD_EVENT"])
		if ev == "note" {
			ev += ":" + string(e["RECD_NOTE"])
		}
		out = append(out, ev)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func waitEntries(t *testing.T, j *fakejournal.Journal, what string, cond func([]fakejournal.Entry) bool) {
	t.Helper()
	if err := j.Wait(10*time.Second, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func hasEntry(rec, event string) func([]fakejournal.Entry) bool {
	return func(es []fakejournal.Entry) bool {
		for _, e := range es {
			if r, _ := e.Get("RECD_REC"); string(r) == rec {
				if v, _ := e.Get("RECD_EVENT"); string(v) == event {
					return true
				}
			}
		}
		return false
	}
}

// A recording from open to close: the entries, their fields, the chain, the tlog
// messages and what they replay; acknowledgements; the closing entry's counts.
func TestRecordingEntries(t *testing.T) {
	h := newHarness(t)
	h.cfg.Payload = 64
	h.start()
	h.procs.add(2001, 1)
	h.procs.audit[2001] = 17
	c := h.dial(2001, 1001)
	resp := c.open(ttyOpen())
	g := resp.Record
	if !resp.OK || g == nil || g.Rec != recID(bootID, 2001, 20010) || g.ResumeSeq != 1 {
		t.Fatalf("open: %+v %+v", resp, g)
	}
	if g.Settings.LatencyMillis != 500 || !g.Settings.LogOutput || g.Settings.Notice != config.DefaultNotice {
		t.Fatalf("settings: %+v", g.Settings)
	}
	s := newStream()
	c.send(s.add(proto.EventWindow, proto.WindowData(proto.Window{Cols: 80, Rows: 24})),
		s.output("hello \xc3"), s.output("\xa9 world\r\n"), s.output(strings.Repeat("0123456789", 20)))
	c.send(s.add(proto.EventWindow, proto.WindowData(proto.Window{Cols: 100, Rows: 30})), s.output("bye\r\n"),
		s.add(proto.EventInput, []byte("secret")))
	c.waitAck(s.next, 10*time.Second) // the latency flush writes the partial message
	resp = c.close(proto.RecordClose{LastSeq: s.next - 1, ExitStatus: 3, Reason: "exit", BytesOut: 300, BytesIn: 9})
	if !resp.OK {
		t.Fatalf("close: %+v", resp)
	}
	out, es := verify(t, h.j, g.Rec)
	if !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("replayed output\n%q\nwant\n%q", out, s.out.Bytes())
	}
	ev := events(es)
	if ev[0] != "open" || ev[len(ev)-1] != "close" || count(ev, "open") != 1 || count(ev, "close") != 1 || count(ev, "message") < 5 {
		t.Fatalf("entries: %v", ev)
	}
	open, last := es[0], es[len(es)-1]
	for k, v := range map[string]string{"MESSAGE_ID": msgIDOpen, "RECD_USER": "alice", "RECD_UID": "1001", "RECD_MODE": "tty",
		"RECD_TERM": "xterm", "RECD_SHELL": "/bin/bash", "RECD_AUDIT_SESSION": "17", "RECD_RECORDER_PID": "2001"} {
		if string(open[k]) != v {
			t.Errorf("open entry %s=%q, want %q", k, open[k], v)
		}
	}
	for k, v := range map[string]string{"MESSAGE_ID": msgIDClose, "RECD_STATUS": "complete", "RECD_REASON": "exit",
		"RECD_MESSAGES": strconv.Itoa(count(ev, "message")), "RECD_BYTES_OUT": strconv.Itoa(s.out.Len()), "RECD_BYTES_IN": "0",
		"RECD_RELAYED_OUT": "300", "RECD_RELAYED_IN": "9", "RECD_EXIT_STATUS": "3", "RECD_DROPPED_BYTES": "0", "RECD_LOST_BYTES": "0",
		"RECD_DURATION_US": strconv.FormatUint(s.micros, 10)} {
		if string(last[k]) != v {
			t.Errorf("close entry %s=%q, want %q", k, last[k], v)
		}
	}
	// The messages carry the header of the recording and where the stream stands.
	first := es[1]
	if string(first["TLOG_USER"]) != "alice" || string(first["TLOG_SESSION"]) != "17" || string(first["RECD_WINDOW"]) != "80x24" {
		t.Errorf("first message: %q %q %q", first["TLOG_USER"], first["TLOG_SESSION"], first["RECD_WINDOW"])
	}
	if !bytes.HasPrefix(first["MESSAGE"], []byte(`{"ver":"2.3","host":"host.example","rec":"`+g.Rec+`","user":"alice","term":"xterm","session":17,"id":1,"pos":0,`)) {
		t.Errorf("first message: %s", first["MESSAGE"])
	}
	lastMsg := es[len(es)-2]
	if string(lastMsg["RECD_NEXT"]) != fmt.Sprintf("%d:0", s.next) || string(lastMsg["RECD_WINDOW"]) != "100x30" {
		t.Errorf("last message: RECD_NEXT=%s RECD_WINDOW=%s", lastMsg["RECD_NEXT"], lastMsg["RECD_WINDOW"])
	}
	for _, e := range es {
		if bytes.Contains(e["MESSAGE"], []byte("secret")) {
			t.Errorf("input recorded with log_input off: %s", e["MESSAGE"])
		}
	}
	if n := len(h.d.recs.all()); n != 0 {
		t.Errorf("%d recordings still open after the close", n)
	}
}

// A recorder is acknowledged only what the journal took: while journald is away, no
// acknowledgement; when it is back, all of them.
func TestRecordingAckAfterJournal(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2101, 1)
	c := h.dial(2101, 1001)
	g := c.open(ttyOpen()).Record
	waitEntries(t, h.j, "open entry", hasEntry(g.Rec, "open"))
	h.j.Stop()
	s := newStream()
	c.send(s.output("while journald is away\r\n"))
	time.Sleep(1500 * time.Millisecond) // beyond the latency flush
	if a := c.acked(); a != 0 {
		t.Fatalf("acknowledged %d while journald was away", a)
	}
	if err := h.j.Start(); err != nil {
		t.Fatal(err)
	}
	c.waitAck(s.next, 10*time.Second)
	if !c.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("output %q", out)
	}
}

// resumeAfterRestart streams part of a recording, restarts recd (gracefully, or as kill
// -9 would), resumes and finishes it; the recording must have neither gap nor duplicate.
func resumeAfterRestart(t *testing.T, crash bool) {
	h := newHarness(t)
	h.cfg.Payload = 40 // messages end inside events: RECD_NEXT with a skip
	h.start()
	h.procs.add(2201, 1)
	c := h.dial(2201, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	var batch []proto.Event
	for i := 0; i < 30; i++ {
		batch = append(batch, s.output(fmt.Sprintf("line %02d: %s \xe2\x82\xac\r\n", i, strings.Repeat("x", i))))
		if i%7 == 6 {
			c.send(batch...)
			batch = nil
		}
	}
	c.send(batch...)
	c.waitAck(10, 10*time.Second)
	s.drop(c.acked())
	h.stopWith(crash)
	<-c.readDone
	s.drop(c.acked())

	h.start()
	c2 := h.dial(2201, 1001)
	o := ttyOpen()
	o.Resume = &proto.Resume{Rec: g.Rec, FirstUnacked: s.held[0].Seq}
	resp := c2.open(o)
	g2 := resp.Record
	if !resp.OK || g2 == nil || g2.Rec != g.Rec {
		t.Fatalf("resume: %+v", resp)
	}
	if g2.ResumeSeq < s.held[0].Seq {
		t.Fatalf("resume at %d, but the recorder holds only from %d", g2.ResumeSeq, s.held[0].Seq)
	}
	c2.send(s.resend(g2.ResumeSeq, g2.ResumeSkip)...)
	c2.send(s.output("after the restart\r\n"), s.output("end\r\n"))
	if !c2.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	out, es := verify(t, h.j, g.Rec)
	if !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("replayed output\n%q\nwant\n%q", out, s.out.Bytes())
	}
	ev := events(es)
	if count(ev, "open") != 1 || count(ev, "note:resumed") != 1 || ev[len(ev)-1] != "close" {
		t.Fatalf("entries: %v", ev)
	}
	if st := string(es[len(es)-1]["RECD_STATUS"]); st != "complete" {
		t.Errorf("status %s", st)
	}
	if n, _ := strconv.Atoi(string(es[len(es)-1]["RECD_BYTES_OUT"])); n != s.out.Len() {
		t.Errorf("RECD_BYTES_OUT=%d, want %d", n, s.out.Len())
	}
}

func TestResumeAfterRestart(t *testing.T) { resumeAfterRestart(t, false) }

func TestResumeAfterCrash(t *testing.T) { resumeAfterRestart(t, true) }

// A recorder whose connection broke reconnects to the same recd: the recording goes on.
func TestReconnectSameDaemon(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2301, 1)
	c := h.dial(2301, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	c.send(s.output("before\r\n"), s.output("more "))
	time.Sleep(100 * time.Millisecond)
	c.c.Close()
	<-c.readDone
	c2 := h.dial(2301, 1001)
	o := ttyOpen()
	o.Resume = &proto.Resume{Rec: g.Rec, FirstUnacked: c.acked()}
	resp := c2.open(o)
	if !resp.OK || resp.Record == nil || resp.Record.ResumeSeq != s.next {
		t.Fatalf("reconnect: %+v %+v", resp, resp.Record)
	}
	c2.send(s.resend(resp.Record.ResumeSeq, resp.Record.ResumeSkip)...)
	c2.send(s.output("after\r\n"))
	if !c2.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	out, es := verify(t, h.j, g.Rec)
	if !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("output %q", out)
	}
	if ev := events(es); count(ev, "open") != 1 || ev[len(ev)-1] != "close" {
		t.Fatalf("entries %v", ev)
	}
}

// A recorder that vanished is closed as aborted: at once when its process is gone, after
// the grace period when it lives on without reconnecting.
func TestAbortedRecordings(t *testing.T) {
	h := newHarness(t)
	h.tune = func(o *Options) { o.GracePeriod = time.Second }
	h.start()
	for _, tc := range []struct {
		pid  int32
		kill bool
	}{{2401, true}, {2402, false}} {
		h.procs.add(tc.pid, 1)
		c := h.dial(tc.pid, 1001)
		g := c.open(ttyOpen()).Record
		s := newStream()
		c.send(s.output("some output\r\n"))
		if tc.kill {
			h.procs.kill(tc.pid)
		}
		start := time.Now()
		c.c.Close()
		waitEntries(t, h.j, "close entry", hasEntry(g.Rec, "close"))
		took := time.Since(start)
		if tc.kill && took > 700*time.Millisecond || !tc.kill && took < 900*time.Millisecond {
			t.Errorf("pid %d (killed %v): closed after %v", tc.pid, tc.kill, took)
		}
		out, es := verify(t, h.j, g.Rec)
		if !bytes.Equal(out, s.out.Bytes()) {
			t.Errorf("output %q", out)
		}
		if st := string(es[len(es)-1]["RECD_STATUS"]); st != "aborted" {
			t.Errorf("status %q", st)
		}
	}
}

// One recording per login session: nested by ancestry (no audit IDs), nested by audit
// session ID, and two unrelated logins without audit IDs are two recordings.
func TestNesting(t *testing.T) {
	h := newHarness(t)
	h.start()
	// alice's login: recorder 3001; su inside: 3001 → bash 3002 → su 3003 → recorder 3004.
	h.procs.add(3001, 1)
	h.procs.add(3002, 3001)
	h.procs.add(3003, 3002)
	h.procs.add(3004, 3003)
	outer := h.dial(3001, 1001)
	g := outer.open(ttyOpen()).Record
	inner := h.dial(3004, 1002).open(ttyOpen()).Record
	if inner == nil || !inner.Nested || inner.Outer != g.Rec || inner.Rec != "" {
		t.Fatalf("nested by ancestry: %+v", inner)
	}
	// Another login of alice, unrelated and without audit ID: its own recording.
	h.procs.add(3101, 1)
	other := h.dial(3101, 1001).open(ttyOpen()).Record
	if other == nil || other.Nested || other.Rec == "" || other.Rec == g.Rec {
		t.Fatalf("concurrent login: %+v", other)
	}
	// Same audit session, no ancestry (sudo through a new process tree, for instance).
	h.procs.add(3201, 1)
	h.procs.audit[3201] = 42
	byAudit := h.dial(3201, 1001)
	ga := byAudit.open(ttyOpen()).Record
	h.procs.add(3202, 1)
	h.procs.audit[3202] = 42
	nested := h.dial(3202, 0).open(ttyOpen()).Record
	if nested == nil || !nested.Nested || nested.Outer != ga.Rec {
		t.Fatalf("nested by audit session: %+v", nested)
	}
	// The unset audit ID never nests.
	h.procs.add(3301, 1)
	h.procs.audit[3301] = proto.AuditSessionUnset
	h.procs.add(3302, 1)
	h.procs.audit[3302] = proto.AuditSessionUnset
	h.dial(3301, 1001).open(ttyOpen())
	if r := h.dial(3302, 1001).open(ttyOpen()).Record; r == nil || r.Nested {
		t.Fatalf("unset audit IDs nested: %+v", r)
	}
	if !outer.close(proto.RecordClose{}).OK {
		t.Fatal("close failed")
	}
	_, es := verify(t, h.j, g.Rec)
	var note map[string][]byte
	for _, e := range es {
		if string(e["RECD_NOTE"]) == "nested" {
			note = e
		}
	}
	if note == nil || string(note["RECD_NESTED_USER"]) != "bob" || string(note["RECD_NESTED_PID"]) != "3004" || string(note["MESSAGE_ID"]) != msgIDNote {
		t.Fatalf("nested note: %v", events(es))
	}
}

// A client can only write to its own recording: a resume naming another process's
// recording is refused, and so is one from another user.
func TestForeignResumeRefused(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(4001, 1)
	g := h.dial(4001, 1001).open(ttyOpen()).Record
	h.procs.add(4002, 1)
	for _, tc := range []struct {
		pid int32
		uid uint32
	}{{4002, 1002}, {4002, 1001}, {4001, 1002}} {
		o := ttyOpen()
		o.Resume = &proto.Resume{Rec: g.Rec, FirstUnacked: 1}
		resp := h.dial(tc.pid, tc.uid).open(o)
		if resp.OK || resp.Record != nil || resp.Error != errOwnRecording {
			t.Errorf("pid %d uid %d: %+v", tc.pid, tc.uid, resp)
		}
	}
	waitEntries(t, h.j, "refusal logged", func(es []fakejournal.Entry) bool {
		n := 0
		for _, e := range es {
			if id, _ := e.Get("MESSAGE_ID"); string(id) == msgIDRefused {
				n++
			}
		}
		return n == 3
	})
	// A made-up recording ID of one's own boot but not one's own process: refused too.
	o := ttyOpen()
	o.Resume = &proto.Resume{Rec: recID(bootID, 9999, 1), FirstUnacked: 1}
	if resp := h.dial(4002, 1002).open(o); resp.Error != errOwnRecording {
		t.Errorf("made-up ID: %+v", resp)
	}
}

// limit_action = drop: dropped messages are counted, TLOG_IDs stay contiguous, the close
// says truncated.
func TestRateLimitDrop(t *testing.T) {
	h := newHarness(t)
	h.cfg.Payload = 100
	h.cfg.LimitAction = config.LimitDrop
	h.cfg.LimitRate = 1000
	h.cfg.LimitBurst = 600
	h.start()
	h.procs.add(5001, 1)
	c := h.dial(5001, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	var evs []proto.Event
	for i := 0; i < 40; i++ {
		evs = append(evs, s.output(fmt.Sprintf("%02d %s\r\n", i, strings.Repeat("y", 60))))
	}
	c.send(evs...)
	time.Sleep(1200 * time.Millisecond) // the bucket refills
	c.send(s.output("final\r\n"))
	resp := c.close(proto.RecordClose{LastSeq: s.next - 1})
	if !resp.OK {
		t.Fatal("close failed")
	}
	out, es := verify(t, h.j, g.Rec) // checks that TLOG_IDs are contiguous
	var dropped uint64
	for _, e := range es {
		if v, ok := e["RECD_DROPPED"]; ok {
			n, _ := strconv.ParseUint(string(v), 10, 64)
			dropped += n
		}
	}
	last := es[len(es)-1]
	total, _ := strconv.ParseUint(string(last["RECD_DROPPED_BYTES"]), 10, 64)
	if total == 0 || string(last["RECD_STATUS"]) != "truncated" {
		t.Fatalf("close: status %s dropped %d", last["RECD_STATUS"], total)
	}
	if uint64(len(out))+total != uint64(s.out.Len()) {
		t.Fatalf("recorded %d + dropped %d != %d output bytes", len(out), total, s.out.Len())
	}
	if dropped != total {
		t.Fatalf("RECD_DROPPED sums to %d of %d dropped", dropped, total)
	}
	if !bytes.HasSuffix(out, []byte("final\r\n")) {
		t.Fatalf("the message after the drops is missing: %q", out)
	}
}

// limit_action = delay: every message is written, later; the recorder's acks wait.
func TestRateLimitDelay(t *testing.T) {
	h := newHarness(t)
	h.cfg.Payload = 100
	h.cfg.LimitAction = config.LimitDelay
	h.cfg.LimitRate = 2000
	h.cfg.LimitBurst = 200
	h.start()
	h.procs.add(5101, 1)
	c := h.dial(5101, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	var evs []proto.Event
	for i := 0; i < 10; i++ {
		evs = append(evs, s.output(strings.Repeat("z", 90)+"\r\n"))
	}
	start := time.Now()
	c.send(evs...)
	if !c.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("about 1.5 KB of messages at 2000 B/s after a 200 B burst took only %v", took)
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("output %q", out)
	}
}

// The writer child dies in the middle of a recording: it is restarted, nothing is lost.
func TestWriterChildRestart(t *testing.T) {
	h := newHarness(t)
	h.cfg.Payload = 64
	h.start()
	h.procs.add(5201, 1)
	c := h.dial(5201, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	for i := 0; i < 20; i++ {
		c.send(s.output(fmt.Sprintf("%02d %s\r\n", i, strings.Repeat("w", 100))))
		if i == 10 {
			old := h.d.writer.ChildPID()
			if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !c.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("output %q", out)
	}
	if !strings.Contains(h.logs.String(), "restarting it") {
		t.Errorf("no restart in the log:\n%s", h.logs)
	}
}

// Without a journal writer recd cannot record: on_unavailable = deny refuses non-root
// users, otherwise the recorder is told to go on unrecorded.
func TestCannotRecord(t *testing.T) {
	h := newHarness(t)
	h.tune = func(o *Options) { o.WriterExe = "/nonexistent/recd" }
	h.start()
	h.procs.add(5301, 1)
	if resp := h.dial(5301, 1001).open(ttyOpen()); resp.Record != nil || !strings.Contains(resp.Error, "cannot record") {
		t.Fatalf("allow: %+v", resp)
	}
	h.cfg.OnUnavailable = config.UnavailableDeny
	resp := h.dial(5301, 1001).open(ttyOpen())
	if !resp.OK || resp.Record == nil || resp.Record.Refused == "" {
		t.Fatalf("deny: %+v", resp)
	}
	if resp := h.dial(5301, 0).open(ttyOpen()); resp.Record != nil {
		t.Fatalf("deny refused root: %+v", resp)
	}
}

// Logins registered by pam_recd give the recording its service, tty and remote host; the
// login and logout entries carry the MESSAGE_IDs, and the logout the recording ID;
// "sessions" lists recordings, all for root and one's own for others.
func TestLoginsAndSessions(t *testing.T) {
	h := newHarness(t)
	h.start()
	// sshd's session process 6000 registers alice's login; the recorder is its grandchild.
	h.procs.add(6000, 1)
	h.procs.add(6001, 6000)
	h.procs.add(6002, 6001)
	pam := h.dial(6000, 0)
	login := proto.Request{Op: proto.OpSessionOpen, User: "alice", Service: "sshd", TTY: "ssh", RHost: "10.0.0.5"}
	if r := pam.request(login); !r.OK {
		t.Fatalf("session-open: %+v", r)
	}
	c := h.dial(6002, 1001)
	o := ttyOpen()
	o.TTY = "/dev/pts/7"
	g := c.open(o).Record
	h.procs.add(6101, 1)
	h.dial(6101, 1002).open(ttyOpen())

	all := h.dial(1, 0).request(proto.Request{Op: proto.OpSessions})
	mine := h.dial(1, 1001).request(proto.Request{Op: proto.OpSessions})
	if len(all.Recordings) != 2 || len(mine.Recordings) != 1 {
		t.Fatalf("sessions: root sees %d, alice %d", len(all.Recordings), len(mine.Recordings))
	}
	a := mine.Recordings[0]
	if a.Rec != g.Rec || a.User != "alice" || a.Service != "sshd" || a.TTY != "/dev/pts/7" || a.RHost != "10.0.0.5" || !a.Connected || a.RecorderPID != 6002 {
		t.Fatalf("alice's recording: %+v", a)
	}
	if !c.close(proto.RecordClose{}).OK {
		t.Fatal("close failed")
	}
	logout := login
	logout.Op = proto.OpSessionClose
	if r := pam.request(logout); !r.OK {
		t.Fatalf("session-close: %+v", r)
	}
	_, es := verify(t, h.j, g.Rec)
	if string(es[0]["RECD_SERVICE"]) != "sshd" || string(es[0]["RECD_RHOST"]) != "10.0.0.5" || string(es[0]["RECD_TTY"]) != "/dev/pts/7" {
		t.Errorf("open entry: %v", es[0])
	}
	if !strings.Contains(string(es[0]["MESSAGE"]), "of alice started: sshd on /dev/pts/7 from 10.0.0.5") {
		t.Errorf("open MESSAGE %q", es[0]["MESSAGE"])
	}
	waitEntries(t, h.j, "login and logout entries", func(es []fakejournal.Entry) bool {
		var in, out bool
		for _, e := range es {
			m := e.Map()
			switch string(m["MESSAGE_ID"]) {
			case msgIDLogin:
				in = string(m["RECD_USER"]) == "alice" && string(m["RECD_SERVICE"]) == "sshd" && string(m["_COMM"]) != journalwriter.Comm
			case msgIDLogout:
				out = string(m["RECD_RECORDING"]) == g.Rec && string(m["RECD_RHOST"]) == "10.0.0.5" && m["RECD_REC"] == nil
			}
		}
		return in && out
	})
}

// Bounds: a frame with a malformed batch ends the connection, not recd; the per-user
// limit refuses the 65th recording of one user.
func TestRecordingBounds(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(7001, 1)
	c := h.dial(7001, 1001)
	g := c.open(ttyOpen()).Record
	if err := proto.WriteFrame(c.c, proto.Frame{Type: proto.TypeEvents, Payload: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.readDone:
	case <-time.After(5 * time.Second):
		t.Fatal("connection with a malformed frame not closed")
	}
	if h.d.recs.get(g.Rec) == nil {
		t.Fatal("recording dropped at once; it should wait for the recorder")
	}
	for i := int32(0); i < maxRecordingsPerUID; i++ {
		h.procs.add(7100+i, 1)
		h.dial(7100+i, 1002).open(ttyOpen())
	}
	h.procs.add(7300, 1)
	if resp := h.dial(7300, 1002).open(ttyOpen()); resp.Record != nil || !strings.Contains(resp.Error, "recordings open") {
		t.Fatalf("65th recording: %+v", resp)
	}
	if resp := h.dial(7300, 1002).open(proto.RecordOpen{Mode: "weird"}); !strings.Contains(resp.Error, "bad request") {
		t.Fatalf("bad mode: %+v", resp)
	}
}

func TestRenumber(t *testing.T) {
	in := []byte(`{"ver":"2.3","host":"h","rec":"r","user":"u,\"id\":9","term":"x","session":1,"id":17,"pos":0}` + "\n")
	want := `{"ver":"2.3","host":"h","rec":"r","user":"u,\"id\":9","term":"x","session":1,"id":5,"pos":0}` + "\n"
	if got := string(renumber(in, 5)); got != want {
		t.Fatalf("renumber:\n%s\nwant\n%s", got, want)
	}
}

func TestParseProcStat(t *testing.T) {
	p, err := parseProcStat([]byte("1234 (a (b) c) S 77 1234 1234 34817 1234 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3\n"))
	if err != nil || p.PPID != 77 || p.Start != 98765 || ttyName(p.TTY) != "/dev/pts/1" {
		t.Fatalf("%+v %v %s", p, err, ttyName(p.TTY))
	}
	if recID("ab", 0x600, 0xb0b9) != "ab-600-b0b9" {
		t.Fatal("recID")
	}
}
