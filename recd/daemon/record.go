package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/recd-dev/recd/internal/chain"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/internal/tlog"
	"github.com/recd-dev/recd/recd/journalwriter"
)

// The recording path.
//
// A recorder (recd-session) connects to recd.sock, sends Request{Op: OpRecordOpen} and,
// once granted, streams events (internal/proto/record.go). Each recording is an actor: one
// goroutine (recording.run) owns its tlog Encoder, its entry counter and hash chain, and
// turns events into journal entries in order (open, messages, notes, close), handing
// them to the journal writer child (package journalwriter). The connection's reader runs
// in the connection's own goroutine and passes frames to the actor; acknowledgements go
// back to the recorder from the writer's confirmations, never earlier: event n is
// acknowledged once every message holding a byte of it (and everything before it) was
// taken by journald.
//
// A recording outlives its connection: when the connection drops without a close, recd
// waits gracePeriod for the recorder to resume (only while the recorder process lives)
// and then closes the recording as aborted. When recd stops, it writes what it holds and
// no closing entries; the recorders resume with the next recd, which reads the
// recording's state back from the journal (resume.go).

// Bounds of the recording path.
const (
	// maxEventsPerFrame bounds the events of one TypeEvents frame (a frame is at most
	// proto.MaxFrame bytes anyway; this bounds the work per frame).
	maxEventsPerFrame = 32768
	// maxOpenField bounds each string of a RecordOpen (term, shell, command, tty).
	maxOpenField = 4096
	// maxPayload caps [recorder] payload: a tlog message of more than 1 MiB helps nobody.
	maxPayload = 1 << 20
	// writeTimeout bounds a write to a recorder that does not read.
	writeTimeout = 10 * time.Second
	// confirmTimeout bounds the wait for the journal before a reconnected recorder gets
	// its grant; it then retries.
	confirmTimeout = 20 * time.Second
)

// defaultGracePeriod is how long a recording whose connection dropped waits for its
// recorder to resume (Options.GracePeriod).
const defaultGracePeriod = 30 * time.Second

// recorderLatency is the part of [recorder] latency the recorder may hold data before
// sending it; recd holds a partial message for the rest, so that data reaches the journal
// within latency as with tlog.
func recorderLatency(cfg *config.Recorder) time.Duration {
	l := time.Duration(cfg.Latency) * time.Second / 2
	if l > time.Second {
		l = time.Second
	}
	return l
}

func recdLatency(cfg *config.Recorder) time.Duration {
	return time.Duration(cfg.Latency)*time.Second - recorderLatency(cfg)
}

// settingsOf is what the recorder is told of the [recorder] settings.
func settingsOf(cfg *config.Recorder) proto.RecorderSettings {
	return proto.RecorderSettings{
		Notice:         cfg.Notice,
		Shell:          cfg.Shell,
		LogInput:       cfg.LogInput,
		LogOutput:      cfg.LogOutput,
		LogWindow:      cfg.LogWindow,
		LimitAction:    string(cfg.LimitAction),
		Buffer:         cfg.Buffer,
		OnUnavailable:  string(cfg.OnUnavailable),
		RecordCommands: string(cfg.RecordCommands),
		LatencyMillis:  recorderLatency(cfg).Milliseconds(),
	}
}

// recConn is a recorder's connection once it carries a recording.
type recConn struct {
	c    *net.UnixConn
	wmu  sync.Mutex
	done chan struct{}
	once sync.Once

	ackMu   sync.Mutex
	ackVal  uint64
	ackKick chan struct{}
}

func newRecConn(c *net.UnixConn) *recConn {
	return &recConn{c: c, done: make(chan struct{}), ackKick: make(chan struct{}, 1)}
}

func (rc *recConn) write(f proto.Frame) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	_ = rc.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := proto.WriteFrame(rc.c, f)
	if err != nil {
		rc.c.Close() // the reader fails and the recording lets the connection go
	}
	return err
}

func (rc *recConn) respond(resp proto.Response) error {
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return rc.write(proto.Frame{Type: proto.TypeJSON, Payload: b})
}

// startAcks starts the goroutine that sends acknowledgements; only after the grant, so
// that the grant is the first frame the recorder reads.
func (rc *recConn) startAcks() { go rc.ackLoop() }

// ack makes n the acknowledgement to send (the latest wins; never blocks).
func (rc *recConn) ack(n uint64) {
	rc.ackMu.Lock()
	if n > rc.ackVal {
		rc.ackVal = n
	}
	rc.ackMu.Unlock()
	select {
	case rc.ackKick <- struct{}{}:
	default:
	}
}

func (rc *recConn) ackLoop() {
	var sent uint64
	for {
		select {
		case <-rc.done:
			return
		case <-rc.ackKick:
		}
		rc.ackMu.Lock()
		n := rc.ackVal
		rc.ackMu.Unlock()
		if n > sent {
			if rc.write(proto.Frame{Type: proto.TypeAck, Payload: proto.EncodeAck(proto.Ack{Next: n})}) != nil {
				return
			}
			sent = n
		}
	}
}

func (rc *recConn) close() {
	rc.once.Do(func() {
		close(rc.done)
		rc.c.Close()
	})
}

// connMsg is what a connection's reader hands the recording.
type connMsg struct {
	rc    *recConn
	evs   []proto.Event
	close *proto.RecordClose
	err   error
}

// attachReq gives a connection to the recording (first open or resume).
type attachReq struct {
	rc           *recConn
	kind         attachKind
	lost         uint64
	firstUnacked uint64
	// reply gets whether the grant was sent and the connection is the recording's now.
	reply chan bool
}

type attachKind int

const (
	attachNew     attachKind = iota // a new recording: write the open entry
	attachJournal                   // resumed from the journal after a restart of recd
	attachMemory                    // the recorder reconnected to the same recd
)

// loginInfo is what recd knows of the login a recording belongs to.
type loginInfo struct {
	service, tty, rhost string
	key                 *sessionKey // the pam_recd registration, when matched
}

// ackPoint: acknowledge ack once entry idx is confirmed.
type ackPoint struct {
	idx, ack uint64
}

// recStats are a recording's counters.
type recStats struct {
	messages, bytesIn, bytesOut, dropped, lost uint64
}

type nestedNote struct {
	user string
	pid  int32
}

// recording is one recording in progress.
type recording struct {
	d        *Daemon
	rec      string
	uid      uint32
	user     string
	recorder procRef
	audit    uint32
	login    loginInfo
	open     proto.RecordOpen
	cfg      config.Recorder
	started  time.Time
	header   tlog.Header

	in      chan connMsg
	attachC chan attachReq
	noteC   chan struct{}
	quit    chan struct{} // closed when recd stops
	done    chan struct{}

	mu        sync.Mutex
	conn      *recConn
	notes     []nestedNote
	stats     recStats
	subN      uint64 // entries submitted
	confN     uint64 // entries confirmed
	ackAfter  []ackPoint
	acked     uint64
	confKick  chan struct{}
	connected bool
	// live is the live view: recent output and watchers (livewatch.go).
	live *fanout

	// Owned by run.
	enc         *tlog.Encoder
	entryN      uint64
	chain       string
	nextSeq     uint64
	lastSeq     uint64
	lastMicros  uint64
	idShift     uint64
	bucket      *bucket
	dropPending uint64
	truncated   bool
	latency     *time.Timer
	latencyOn   bool

	// The state a recording resumed from the journal continues from (resume.go).
	resumeID     uint64
	resumeOrigin uint64
	resumeLast   uint64
	resumeWindow *tlog.Window
	resumeSkip   uint32
	hasResume    bool
}

func (d *Daemon) newRecording(rec string, uid uint32, user string, recorder procRef, audit uint32, login loginInfo, open proto.RecordOpen, cfg config.Recorder) *recording {
	if cfg.Payload > maxPayload {
		cfg.Payload = maxPayload
	}
	open.Resume = nil
	r := &recording{
		d: d, rec: rec, uid: uid, user: user, recorder: recorder, audit: audit, login: login,
		open: open, cfg: cfg, started: time.Now(),
		in: make(chan connMsg), attachC: make(chan attachReq), noteC: make(chan struct{}, 1),
		quit: d.quit, done: make(chan struct{}), confKick: make(chan struct{}, 1),
		chain: chain.Seed(rec), nextSeq: 1, live: newFanout(open.Window),
	}
	r.header = tlog.Header{Host: d.fqdn.get(), Rec: rec, User: user, Term: open.Term, Session: audit}
	r.enc = tlog.NewEncoder(r.header, tlog.EncoderOptions{Payload: cfg.Payload, StartUnixMicro: open.StartUnixMicro})
	if cfg.LimitAction != config.LimitPass && cfg.LimitRate > 0 {
		r.bucket = newBucket(cfg.LimitRate, cfg.LimitBurst, time.Now())
	}
	r.latency = time.NewTimer(time.Hour)
	r.latency.Stop()
	return r
}

// run is the recording's actor loop.
func (r *recording) run() {
	defer close(r.done)
	defer r.d.recs.release(r)
	defer r.latency.Stop()
	var (
		grace  *time.Timer
		graceC <-chan time.Time
		poll   *time.Ticker
		pollC  <-chan time.Time
	)
	stopGrace := func() {
		if grace != nil {
			grace.Stop()
			poll.Stop()
			grace, graceC, poll, pollC = nil, nil, nil, nil
		}
	}
	defer stopGrace()
	startGrace := func() {
		stopGrace()
		if !r.recorderAlive() {
			graceC = closedTimeC()
			return
		}
		grace = time.NewTimer(r.d.gracePeriod)
		poll = time.NewTicker(time.Second)
		graceC, pollC = grace.C, poll.C
	}
	for {
		select {
		case a := <-r.attachC:
			stopGrace()
			if !r.attach(a) {
				startGrace()
			}
		case m := <-r.in:
			if m.rc != r.current() {
				continue // a connection the recording already let go
			}
			switch {
			case m.err != nil:
				r.d.opts.Log.Printf("recording %s: connection of recorder pid %d lost: %v", r.rec, r.recorder.pid, m.err)
				r.detach()
				startGrace()
			case m.close != nil:
				r.finish(m.rc, m.close)
				return
			default:
				r.events(m.evs)
			}
		case <-r.noteC:
			r.writeNotes()
		case <-r.latency.C:
			r.latencyOn = false
			r.write(r.enc.Flush(), false)
			r.afterEvents()
		case <-pollC:
			if !r.recorderAlive() {
				r.abort("the recorder exited without closing the recording")
				return
			}
		case <-graceC:
			reason := "the recorder did not reconnect within " + r.d.gracePeriod.String()
			if !r.recorderAlive() {
				reason = "the recorder exited without closing the recording"
			}
			r.abort(reason)
			return
		case <-r.quit:
			r.stop()
			return
		}
	}
}

func closedTimeC() <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Now()
	return c
}

func (r *recording) current() *recConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

// recorderAlive reports whether the recorder process still runs (same PID and start time).
func (r *recording) recorderAlive() bool {
	p, err := r.d.proc(r.recorder.pid)
	return err == nil && p.Start == r.recorder.start
}

// detach lets the current connection go.
func (r *recording) detach() {
	r.mu.Lock()
	rc := r.conn
	r.conn = nil
	r.connected = false
	r.mu.Unlock()
	if rc != nil {
		rc.close()
	}
}

// attach makes a.rc the recording's connection, writes the entries the attach calls for
// and sends the grant. It reports whether the recorder has the grant.
func (r *recording) attach(a attachReq) bool {
	r.detach()
	grant := proto.RecordGrant{Rec: r.rec, Settings: settingsOf(&r.cfg)}
	switch a.kind {
	case attachNew:
		// A first open, or a resume of a recording the journal knows nothing of: it starts
		// anew with the same ID, from the oldest event the recorder still holds.
		r.writeOpen()
		r.nextSeq = max(1, a.firstUnacked)
		grant.ResumeSeq = r.nextSeq
	case attachJournal:
		r.note("resumed", fmt.Sprintf("recording %s of %s resumed: recd restarted and recorder pid %d reconnected", r.rec, r.user, r.recorder.pid))
		grant.ResumeSeq, grant.ResumeSkip = r.resumeFrom(a.firstUnacked)
	case attachMemory:
		// Everything received goes to the journal before the recorder is told it need not
		// resend it: the grant's ResumeSeq must name what is in the journal.
		r.write(r.enc.Cut(), true)
		r.afterEvents()
		if !r.waitWritten(confirmTimeout) {
			_ = a.rc.respond(proto.Response{Error: "the journal has not confirmed the recording yet; try again"})
			a.rc.close()
			a.reply <- false
			return false
		}
		// Until event nextSeq arrives, a recording resumed from the journal may stand
		// inside it (the journal holds its first resumeSkip bytes): a recorder that did
		// not get the first grant (it gave up while recd read the journal) must skip them.
		grant.ResumeSeq, grant.ResumeSkip = r.nextSeq, r.resumeSkip
	}
	if a.lost > 0 {
		r.lostNote(a.lost)
	}
	if err := a.rc.respond(proto.Response{OK: true, Record: &grant}); err != nil {
		a.rc.close()
		a.reply <- false
		return false
	}
	a.rc.startAcks()
	r.mu.Lock()
	r.conn = a.rc
	r.connected = true
	ack := r.acked
	r.mu.Unlock()
	if ack > 0 {
		a.rc.ack(ack)
	}
	a.reply <- true
	return true
}

// resumeFrom returns where a recorder resuming from the journal state must start
// resending. ResumeSeq/ResumeSkip come from the last message's RECD_NEXT, unless the
// recorder was acknowledged further (events without records, acknowledged when nothing
// was pending): it no longer holds those, and the recording needs none of them.
func (r *recording) resumeFrom(firstUnacked uint64) (uint64, uint32) {
	seq, skip := r.nextSeq, r.resumeSkip
	if firstUnacked > seq {
		seq, skip = firstUnacked, 0
		r.resumeSkip = 0
		if r.hasResume {
			r.enc.Resume(r.resumeID, r.resumeOrigin, r.resumeLast, r.resumeWindow, tlog.Position{Seq: seq})
		}
		r.nextSeq = seq
	}
	return seq, skip
}

// events turns a batch of events into messages and notes.
func (r *recording) events(evs []proto.Event) {
	for _, ev := range evs {
		if ev.Seq < r.nextSeq {
			continue // already in the recording (a resend)
		}
		if ev.Seq > r.nextSeq {
			r.d.opts.Log.Printf("recording %s: events %d to %d never arrived; the recording is truncated", r.rec, r.nextSeq, ev.Seq-1)
			r.truncated = true
		}
		r.nextSeq, r.lastSeq = ev.Seq+1, ev.Seq
		r.resumeSkip = 0 // the skip was for the event the resume named, now past
		if ev.Micros > r.lastMicros {
			r.lastMicros = ev.Micros
		}
		r.live.add(ev, &r.cfg) // to watchers at once, never waiting for them
		switch ev.Kind {
		case proto.EventOutput, proto.EventStderr:
			if r.cfg.LogOutput {
				r.write(r.enc.Output(ev.Seq, ev.Micros, ev.Data), false)
			} else {
				r.enc.Skip(ev.Seq)
			}
		case proto.EventInput:
			if r.cfg.LogInput {
				r.write(r.enc.Input(ev.Seq, ev.Micros, ev.Data), false)
			} else {
				r.enc.Skip(ev.Seq)
			}
		case proto.EventWindow:
			if r.cfg.LogWindow {
				w := proto.WindowOf(ev.Data)
				r.write(r.enc.Window(ev.Seq, ev.Micros, tlog.Window{Cols: w.Cols, Rows: w.Rows}), false)
			} else {
				r.enc.Skip(ev.Seq)
			}
		case proto.EventInputWithheld:
			// The note goes where the withheld input was: after what came before it.
			r.write(r.enc.Flush(), false)
			r.enc.Skip(ev.Seq)
			n := proto.CountOf(ev.Data)
			r.note("input-withheld", fmt.Sprintf("recording %s: %d bytes of input typed with echo off were not recorded", r.rec, n),
				"RECD_BYTES", strconv.FormatUint(n, 10))
		case proto.EventLost:
			r.write(r.enc.Flush(), false)
			r.enc.Skip(ev.Seq)
			r.lostNote(proto.CountOf(ev.Data))
		}
	}
	r.afterEvents()
}

// afterEvents acknowledges what needs no further message and arms the latency timer.
func (r *recording) afterEvents() {
	if r.enc.Pending() {
		if !r.latencyOn {
			r.latency.Reset(recdLatency(&r.cfg))
			r.latencyOn = true
		}
		return
	}
	if r.latencyOn {
		r.latency.Stop()
		r.latencyOn = false
	}
	// Nothing is held: every event received is in an entry submitted so far (or has no
	// record), so all of them are acknowledged once those entries are confirmed.
	r.ackWhenWritten(r.nextSeq)
}

// write writes messages through the rate limit. noDelay skips limit_action = delay
// (recd stopping, or a resume waiting for the journal).
func (r *recording) write(msgs []tlog.Message, noDelay bool) {
	for i := range msgs {
		r.writeMessage(&msgs[i], noDelay)
	}
}

func (r *recording) writeMessage(m *tlog.Message, noDelay bool) {
	if r.bucket != nil {
		now := time.Now()
		switch r.cfg.LimitAction {
		case config.LimitDrop:
			if !r.bucket.allow(len(m.JSON), now) {
				// Dropped: its output is counted and reported with the next message and in
				// the closing entry; it takes no TLOG_ID, so tlog-play plays on.
				r.dropPending += uint64(m.OutBytes)
				r.idShift++
				r.truncated = true
				r.mu.Lock()
				r.stats.dropped += uint64(m.OutBytes)
				r.mu.Unlock()
				return
			}
		case config.LimitDelay:
			if wait := r.bucket.wait(len(m.JSON), now); wait > 0 && !noDelay {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-r.quit:
					t.Stop()
				}
			}
		}
	}
	id := m.ID - r.idShift
	js := m.JSON
	if r.idShift > 0 {
		js = renumber(js, id)
	}
	var e journalwriter.Entry
	e.AddBytes("MESSAGE", js)
	e.Add("PRIORITY", "6")
	e.Add("TLOG_REC", r.rec)
	e.Add("TLOG_USER", r.header.User)
	e.Add("TLOG_SESSION", strconv.FormatUint(uint64(r.header.Session), 10))
	e.Add("TLOG_ID", strconv.FormatUint(id, 10))
	e.Add("RECD_NEXT", fmt.Sprintf("%d:%d", m.Next.Seq, m.Next.Skip))
	if m.Window != nil {
		e.Add("RECD_WINDOW", fmt.Sprintf("%dx%d", m.Window.Cols, m.Window.Rows))
	}
	e.Add("RECD_ORIGIN_US", strconv.FormatUint(m.OriginMicros, 10))
	e.Add("RECD_LAST_US", strconv.FormatUint(m.LastMicros, 10))
	if r.dropPending > 0 {
		e.Add("RECD_DROPPED", strconv.FormatUint(r.dropPending, 10))
		r.dropPending = 0
	}
	r.mu.Lock()
	r.stats.messages++
	r.stats.bytesIn += uint64(m.InBytes)
	r.stats.bytesOut += uint64(m.OutBytes)
	r.mu.Unlock()
	r.submit("message", e, m.Next.Seq)
}

// renumber replaces the "id" of a serialized tlog message. The first `,"id":` is the key:
// every '"' inside the string values before it is escaped as \".
func renumber(js []byte, id uint64) []byte {
	const key = `,"id":`
	i := bytes.Index(js, []byte(key))
	if i < 0 {
		return js
	}
	start := i + len(key)
	end := start
	for end < len(js) && js[end] >= '0' && js[end] <= '9' {
		end++
	}
	out := make([]byte, 0, len(js)+4)
	out = append(out, js[:start]...)
	out = strconv.AppendUint(out, id, 10)
	return append(out, js[end:]...)
}

// submit completes e with the fields every recording entry has (RECD_REC, RECD_ENTRY,
// RECD_EVENT, SYSLOG_IDENTIFIER and, over exactly the fields sent, RECD_CHAIN) and hands
// it to the writer. ack, when not 0, is the acknowledgement the recorder gets once the
// entry is confirmed.
func (r *recording) submit(event string, e journalwriter.Entry, ack uint64) {
	r.entryN++
	e.Add("RECD_REC", r.rec)
	e.Add("RECD_ENTRY", strconv.FormatUint(r.entryN, 10))
	e.Add("RECD_EVENT", event)
	e.Add("SYSLOG_IDENTIFIER", "recd")
	r.chain = chain.Next(r.chain, e.Map())
	e.Add(chain.Field, r.chain)
	r.mu.Lock()
	r.subN++
	idx := r.subN
	if ack > 0 {
		r.ackAfter = append(r.ackAfter, ackPoint{idx: idx, ack: ack})
	}
	r.mu.Unlock()
	if err := r.d.writer.Write(e, func() { r.confirmed(idx) }); err != nil {
		r.d.opts.Log.Printf("recording %s: entry %d not written: %v", r.rec, r.entryN, err)
	}
}

// confirmed is called by the writer (in order) when entry idx is in the journal.
func (r *recording) confirmed(idx uint64) {
	r.mu.Lock()
	r.confN = idx
	ack := r.acked
	n := 0
	for n < len(r.ackAfter) && r.ackAfter[n].idx <= idx {
		if r.ackAfter[n].ack > ack {
			ack = r.ackAfter[n].ack
		}
		n++
	}
	r.ackAfter = r.ackAfter[n:]
	rc := r.setAckLocked(ack)
	r.mu.Unlock()
	if rc != nil {
		rc.ack(ack)
	}
	select {
	case r.confKick <- struct{}{}:
	default:
	}
}

// setAckLocked raises the acknowledgement and returns the connection to send it on.
func (r *recording) setAckLocked(ack uint64) *recConn {
	if ack <= r.acked {
		return nil
	}
	r.acked = ack
	return r.conn
}

// ackWhenWritten acknowledges events before next once every entry submitted so far is
// confirmed (at once if they are).
func (r *recording) ackWhenWritten(next uint64) {
	r.mu.Lock()
	var rc *recConn
	if r.confN == r.subN {
		rc = r.setAckLocked(next)
	} else if next > r.acked {
		r.ackAfter = append(r.ackAfter, ackPoint{idx: r.subN, ack: next})
	}
	r.mu.Unlock()
	if rc != nil {
		rc.ack(next)
	}
}

// waitWritten waits until every entry submitted is confirmed, up to limit (or recd stops).
func (r *recording) waitWritten(limit time.Duration) bool {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		r.mu.Lock()
		ok := r.confN == r.subN
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-r.confKick:
		case <-t.C:
			return false
		case <-r.quit:
			return false
		}
	}
}

// writeOpen writes the open entry (RECD_ENTRY 1).
func (r *recording) writeOpen() {
	var e journalwriter.Entry
	e.Add("MESSAGE_ID", msgIDOpen)
	e.Add("PRIORITY", "6")
	e.Add("MESSAGE", r.describe("started"))
	add := func(k, v string) {
		if v != "" {
			e.Add(k, v)
		}
	}
	add("RECD_USER", r.user)
	add("RECD_UID", strconv.FormatUint(uint64(r.uid), 10))
	add("RECD_SERVICE", r.login.service)
	add("RECD_TTY", r.login.tty)
	add("RECD_RHOST", r.login.rhost)
	add("RECD_MODE", r.open.Mode)
	add("RECD_COMMAND", r.open.Command)
	add("RECD_TERM", r.open.Term)
	add("RECD_SHELL", r.open.Shell)
	add("RECD_AUDIT_SESSION", strconv.FormatUint(uint64(r.audit), 10))
	add("RECD_RECORDER_PID", strconv.Itoa(int(r.recorder.pid)))
	r.submit("open", e, 0)
}

// describe is the human sentence of the open entry: "recording … of alice started: sshd
// on /dev/pts/1 from 10.0.0.5".
func (r *recording) describe(what string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "recording %s of %s %s", r.rec, r.user, what)
	sep := ": "
	if r.login.service != "" {
		b.WriteString(sep + r.login.service)
		sep = " "
	}
	if r.login.tty != "" {
		b.WriteString(sep + "on " + r.login.tty)
		sep = " "
	}
	if r.login.rhost != "" {
		b.WriteString(sep + "from " + r.login.rhost)
	}
	return b.String()
}

// note writes a note entry.
func (r *recording) note(kind, msg string, fields ...string) {
	var e journalwriter.Entry
	e.Add("MESSAGE_ID", msgIDNote)
	e.Add("PRIORITY", "6")
	e.Add("MESSAGE", msg)
	e.Add("RECD_NOTE", kind)
	for i := 0; i+1 < len(fields); i += 2 {
		e.Add(fields[i], fields[i+1])
	}
	r.submit("note", e, 0)
}

func (r *recording) lostNote(n uint64) {
	r.truncated = true
	r.mu.Lock()
	r.stats.lost += n
	r.mu.Unlock()
	r.note("lost", fmt.Sprintf("recording %s: %d bytes of output were lost while recd was unavailable", r.rec, n),
		"RECD_BYTES", strconv.FormatUint(n, 10))
}

// addNested queues a nested note (called from another connection's goroutine).
func (r *recording) addNested(user string, pid int32) {
	r.mu.Lock()
	if len(r.notes) < 1024 {
		r.notes = append(r.notes, nestedNote{user: user, pid: pid})
	}
	r.mu.Unlock()
	select {
	case r.noteC <- struct{}{}:
	default:
	}
}

func (r *recording) writeNotes() {
	r.mu.Lock()
	notes := r.notes
	r.notes = nil
	r.mu.Unlock()
	if len(notes) > 0 {
		r.write(r.enc.Flush(), false)
	}
	for _, n := range notes {
		r.note("nested", fmt.Sprintf("recording %s: a nested login of %s (recorder pid %d) runs inside this session; its I/O is part of this recording", r.rec, n.user, n.pid),
			"RECD_NESTED_USER", n.user, "RECD_NESTED_PID", strconv.Itoa(int(n.pid)))
	}
	if len(notes) > 0 {
		r.afterEvents()
	}
}

// finish closes the recording on the recorder's request.
func (r *recording) finish(rc *recConn, c *proto.RecordClose) {
	r.writeNotes()
	if c.LastSeq >= r.nextSeq {
		r.d.opts.Log.Printf("recording %s: closed after event %d, but events from %d on never arrived", r.rec, c.LastSeq, r.nextSeq)
		r.truncated = true
	}
	r.write(r.enc.Cut(), false)
	if c.Lost > 0 {
		r.lostNote(c.Lost)
	}
	status := "complete"
	if r.truncated {
		status = "truncated"
	}
	reason := c.Reason
	if reason == "" {
		reason = "exit"
	}
	r.writeClose(status, reason, c)
	r.live.end(status, reason)
	r.waitWritten(24 * time.Hour) // until the journal has it, or recd stops
	r.d.recs.release(r)           // the recording is over once the recorder hears so
	_ = rc.respond(proto.Response{OK: true})
	r.detach()
	r.d.recordingClosed(r, status)
}

// abort closes a recording whose recorder is gone.
func (r *recording) abort(reason string) {
	r.writeNotes()
	r.write(r.enc.Cut(), true)
	r.writeClose("aborted", reason, nil)
	r.live.end("aborted", reason)
	r.detach()
	r.d.recordingClosed(r, "aborted")
}

func (r *recording) writeClose(status, reason string, c *proto.RecordClose) {
	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	var e journalwriter.Entry
	e.Add("MESSAGE_ID", msgIDClose)
	e.Add("PRIORITY", "6")
	e.Add("MESSAGE", fmt.Sprintf("recording %s of %s ended: %s (%s), %d messages, %d bytes of output recorded",
		r.rec, r.user, status, reason, st.messages, st.bytesOut))
	e.Add("RECD_STATUS", status)
	e.Add("RECD_REASON", reason)
	e.Add("RECD_MESSAGES", strconv.FormatUint(st.messages, 10))
	e.Add("RECD_BYTES_OUT", strconv.FormatUint(st.bytesOut, 10))
	e.Add("RECD_BYTES_IN", strconv.FormatUint(st.bytesIn, 10))
	if c != nil {
		e.Add("RECD_RELAYED_OUT", strconv.FormatUint(c.BytesOut, 10))
		e.Add("RECD_RELAYED_IN", strconv.FormatUint(c.BytesIn, 10))
		e.Add("RECD_RELAYED_ERR", strconv.FormatUint(c.BytesErr, 10))
		e.Add("RECD_EXIT_STATUS", strconv.Itoa(c.ExitStatus))
	}
	e.Add("RECD_DROPPED_BYTES", strconv.FormatUint(st.dropped, 10))
	e.Add("RECD_LOST_BYTES", strconv.FormatUint(st.lost, 10))
	e.Add("RECD_DURATION_US", strconv.FormatUint(r.lastMicros, 10))
	r.submit("close", e, 0)
}

// stop is recd stopping: what the recording holds goes to the journal, without a closing
// entry — the recorder resumes the recording with the next recd.
func (r *recording) stop() {
	if !r.d.crashStop {
		r.writeNotes()
		r.write(r.enc.Flush(), true)
	}
	r.live.end(proto.WatchStopped, "recd is stopping; the recording goes on with the next recd")
	r.detach()
}

// status describes the recording for the "sessions" operation.
func (r *recording) status() proto.ActiveRecording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return proto.ActiveRecording{
		Rec: r.rec, User: r.user, UID: r.uid, Service: r.login.service, TTY: r.login.tty,
		RHost: r.login.rhost, Mode: r.open.Mode, RecorderPID: r.recorder.pid, AuditSession: r.audit,
		Started: r.started.UTC().Format(time.RFC3339), Messages: r.stats.messages,
		BytesOut: r.stats.bytesOut, BytesIn: r.stats.bytesIn, Connected: r.connected,
	}
}

// readConn reads the recorder's frames and hands them to the recording, until the
// connection ends or the recording lets it go. It runs in the connection's goroutine.
func (r *recording) readConn(rc *recConn) {
	_ = rc.c.SetReadDeadline(time.Time{})
	for {
		m := connMsg{rc: rc}
		f, err := proto.ReadFrame(rc.c)
		switch {
		case err != nil:
			m.err = err
		case f.Type == proto.TypeEvents:
			m.evs, m.err = proto.DecodeEvents(f.Payload)
			if m.err == nil && len(m.evs) > maxEventsPerFrame {
				m.err = fmt.Errorf("%d events in one frame (limit %d)", len(m.evs), maxEventsPerFrame)
			}
		case f.Type == proto.TypeJSON:
			var req proto.Request
			dec := json.NewDecoder(bytes.NewReader(f.Payload))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				m.err = fmt.Errorf("decoding a request: %w", err)
			} else if req.Op != proto.OpRecordClose || req.Close == nil {
				m.err = fmt.Errorf("unexpected request %q on a recording connection", req.Op)
			} else {
				m.close = req.Close
			}
		default:
			m.err = fmt.Errorf("unexpected frame type %q on a recording connection", f.Type)
		}
		select {
		case r.in <- m:
		case <-rc.done:
			return
		case <-r.done:
			return
		}
		if m.err != nil {
			return
		}
		if m.close != nil {
			// The recording answers and then lets the connection go.
			select {
			case <-rc.done:
			case <-r.done:
			}
			return
		}
	}
}
