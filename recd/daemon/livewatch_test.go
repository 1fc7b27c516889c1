package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/proto"
)

func TestOutputRingSnapshot(t *testing.T) {
	t.Run("from the last clear", func(t *testing.T) {
		var r outputRing
		r.write([]byte("old screen\r\n\x1b[H\x1b[2Jsecond\r\n"))
		r.write([]byte("more\x1b[H"))
		r.write([]byte("\x1b[2Jthird $ ")) // the clear straddles two writes
		if got := string(r.snapshot()); got != "\x1b[H\x1b[2Jthird $ " {
			t.Fatalf("snapshot %q", got)
		}
		r.write([]byte("x\x1bcRIS"))
		if got := string(r.snapshot()); got != "\x1bcRIS" {
			t.Fatalf("after RIS: %q", got)
		}
		r.write([]byte("\x1b[1;1"))
		r.write([]byte("H"))
		r.write([]byte("\x1b[2"))
		r.write([]byte("J!"))
		if got := string(r.snapshot()); got != "\x1b[1;1H\x1b[2J!" {
			t.Fatalf("clear split over four writes: %q", got)
		}
	})
	t.Run("without a clear: the last 64 KiB from a line start", func(t *testing.T) {
		var r outputRing
		var all bytes.Buffer
		for i := 0; all.Len() < 3*ringSize; i++ {
			line := []byte(strings.Repeat("y", i%97) + "\r\n")
			all.Write(line)
			r.write(line)
		}
		got := r.snapshot()
		if len(got) > ringSize || len(got) < ringSize-200 || !bytes.HasSuffix(all.Bytes(), got) {
			t.Fatalf("snapshot of %d bytes is not the end of the output", len(got))
		}
		if i := bytes.LastIndex(all.Bytes(), got); i == 0 || all.Bytes()[i-1] != '\n' {
			t.Fatalf("snapshot does not start at a line start")
		}
	})
	t.Run("one write larger than the ring", func(t *testing.T) {
		var r outputRing
		r.write([]byte("\x1bc"))
		big := bytes.Repeat([]byte("0123456789abcde\n"), ringSize/8)
		r.write(big)
		if got := r.snapshot(); !bytes.Equal(got, big[len(big)-ringSize+16:]) {
			t.Fatalf("snapshot of %d bytes, want the last %d of the write", len(got), ringSize-16)
		}
	})
	t.Run("a clear older than the ring is forgotten", func(t *testing.T) {
		var r outputRing
		r.write([]byte("\x1b[2Jstart\n"))
		lines := bytes.Repeat([]byte("zzzzzzzzz\n"), ringSize/10+10)
		r.write(lines)
		if got := r.snapshot(); len(got) > ringSize || len(got) < ringSize-10 || got[0] != 'z' || !bytes.HasSuffix(lines, got) {
			t.Fatalf("snapshot of %d bytes: %.40q", len(got), got)
		}
	})
}

// liveClient is a test client of the live view.
type liveClient struct {
	t     *testing.T
	c     *client
	reply proto.WatchReply
}

func (h *harness) watch(pid int32, uid uint32, rec string) *liveClient {
	h.t.Helper()
	c := h.dial(pid, uid)
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	req := proto.Request{Op: proto.OpWatch}
	if rec != "" {
		req.Watch = &proto.WatchRequest{Rec: rec}
	}
	if err := proto.WriteJSON(c.c, req); err != nil {
		h.t.Fatal(err)
	}
	w := &liveClient{t: h.t, c: c}
	if err := proto.ReadJSON(c.c, &w.reply); err != nil {
		h.t.Fatal(err)
	}
	_ = c.c.SetDeadline(time.Time{})
	return w
}

// next reads the next frame: live events, or the end.
func (w *liveClient) next(limit time.Duration) ([]proto.LiveEvent, *proto.WatchEnd, error) {
	_ = w.c.c.SetReadDeadline(time.Now().Add(limit))
	f, err := proto.ReadFrame(w.c.c)
	if err != nil {
		return nil, nil, err
	}
	switch f.Type {
	case proto.TypeLive:
		evs, err := proto.DecodeLive(f.Payload)
		return evs, nil, err
	case proto.TypeJSON:
		var end proto.WatchEnd
		dec := json.NewDecoder(bytes.NewReader(f.Payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&end); err != nil {
			return nil, nil, err
		}
		return nil, &end, nil
	}
	return nil, nil, errors.New("unexpected frame type " + string(f.Type))
}

// expect reads until it has seen want among the output (live or snapshot) and returns
// every event read.
func (w *liveClient) expect(want string, limit time.Duration) []proto.LiveEvent {
	w.t.Helper()
	var all []proto.LiveEvent
	var out bytes.Buffer
	deadline := time.Now().Add(limit)
	for !strings.Contains(out.String(), want) {
		evs, end, err := w.next(time.Until(deadline))
		if err != nil || end != nil {
			w.t.Fatalf("watching for %q: %v %+v; output so far %q", want, err, end, out.String())
		}
		for _, e := range evs {
			if e.Kind == proto.LiveOutput || e.Kind == proto.LiveSnapshot {
				out.Write(e.Data)
			}
		}
		all = append(all, evs...)
	}
	return all
}

// A watcher gets the window and the screen since the last clear, then each output and
// window event as recd receives it (long before the journal has it), never input; the
// close ends the watch with the recording's status.
func TestWatchSnapshotThenLive(t *testing.T) {
	h := newHarness(t)
	h.cfg.Latency = 10 // the journal gets messages 5 s late; the watcher must not wait for that
	h.start()
	h.procs.add(2301, 1)
	c := h.dial(2301, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	c.send(s.output("before the clear\r\n"), s.output("\x1b[H\x1b[2J"), s.output("alice$ "))
	r := h.d.recs.get(g.Rec)
	waitFor(t, 10*time.Second, "recd has the output", func() bool { r.live.mu.Lock(); defer r.live.mu.Unlock(); return r.live.received == uint64(s.out.Len()) })

	w := h.watch(900, 0, g.Rec)
	if !w.reply.OK || w.reply.Recording == nil || w.reply.Recording.User != "alice" || w.reply.Recording.Rec != g.Rec || w.reply.Received != uint64(s.out.Len()) {
		t.Fatalf("reply %+v (recording %+v)", w.reply, w.reply.Recording)
	}
	evs, end, err := w.next(5 * time.Second)
	if err != nil || end != nil || len(evs) != 2 || evs[0].Kind != proto.LiveWindow || proto.WindowOf(evs[0].Data) != (proto.Window{Cols: 80, Rows: 24}) ||
		evs[1].Kind != proto.LiveSnapshot || string(evs[1].Data) != "\x1b[H\x1b[2Jalice$ " {
		t.Fatalf("first batch: %+v %+v %v", evs, end, err)
	}

	sent := time.Now()
	c.send(s.add(proto.EventInput, []byte("typed secret")), s.add(proto.EventWindow, proto.WindowData(proto.Window{Cols: 100, Rows: 30})),
		s.output("live line\r\n"))
	got := w.expect("live line\r\n", 5*time.Second)
	if d := time.Since(sent); d > time.Second {
		t.Errorf("live output took %v", d)
	}
	t.Logf("live output reached the watcher %v after the recorder sent it", time.Since(sent))
	if c.acked() >= s.next {
		t.Errorf("the journal already had the output: the test does not show that watchers do not wait for it")
	}
	var kinds []proto.LiveKind
	for _, e := range got {
		kinds = append(kinds, e.Kind)
		if bytes.Contains(e.Data, []byte("secret")) {
			t.Errorf("the watcher got input: %q", e.Data)
		}
	}
	if len(got) != 2 || got[0].Kind != proto.LiveWindow || proto.WindowOf(got[0].Data) != (proto.Window{Cols: 100, Rows: 30}) || got[1].Micros != s.micros {
		t.Fatalf("live events %q: %+v", kinds, got)
	}

	if !c.close(proto.RecordClose{LastSeq: s.next - 1, Reason: "exit"}).OK {
		t.Fatal("close failed")
	}
	evs, end, err = w.next(10 * time.Second)
	if err != nil || len(evs) != 0 || end == nil || end.Status != "complete" || end.Reason != "exit" {
		t.Fatalf("after the close: %+v %+v %v", evs, end, err)
	}
	if _, _, err := w.next(5 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v, want EOF", err)
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("the recording is not the output: %q", out)
	}
	waitFor(t, 10*time.Second, "the watch event in the journal", func() bool {
		for _, e := range h.j.Entries() {
			if id, _ := e.Get("MESSAGE_ID"); string(id) == msgIDWatch {
				m := e.Map()
				return string(m["RECD_RECORDING"]) == g.Rec && string(m["RECD_WATCHER"]) == "root" && string(m["RECD_WATCHER_PID"]) == "900"
			}
		}
		return false
	})
}

// floodOutput sends n bytes of numbered lines in frames of many events and waits until
// the recorder has every acknowledgement: the journal, not any watcher, sets the pace.
func floodOutput(t *testing.T, c *client, s *stream, n int) {
	t.Helper()
	start := time.Now()
	line := 0
	for sent := 0; sent < n; {
		var batch []proto.Event
		for size := 0; size < 256<<10 && sent < n; {
			var b bytes.Buffer
			for b.Len() < 16<<10 {
				line++
				b.WriteString(strings.Repeat("flood ", 10))
				b.WriteString(strconv.Itoa(line) + "\r\n")
			}
			batch = append(batch, s.output(b.String()))
			size += b.Len()
			sent += b.Len()
		}
		c.send(batch...)
	}
	c.waitAck(s.next, 30*time.Second)
	t.Logf("%d bytes recorded and acknowledged in %v", n, time.Since(start))
}

// A watcher that does not read never holds up the recording: its queue stays bounded,
// and when it reads again it learns how much it missed, gets a fresh snapshot and goes on
// live; missed plus received is exactly what the session printed.
func TestWatchSlowWatcherSkipsAhead(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2401, 1)
	c := h.dial(2401, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	w := h.watch(901, 0, g.Rec)
	if !w.reply.OK {
		t.Fatalf("reply %+v", w.reply)
	}
	floodOutput(t, c, s, 8<<20)
	r := h.d.recs.get(g.Rec)
	r.live.mu.Lock()
	for lw := range r.live.watchers {
		if lw.queued > watcherQueueBytes || len(lw.queue) > watcherQueueEvents || !lw.lagging {
			t.Errorf("watcher queue: %d bytes, %d events, lagging %v", lw.queued, len(lw.queue), lw.lagging)
		}
	}
	r.live.mu.Unlock()

	c.send(s.output("after the flood\r\n"))
	var live, skipped uint64
	var snapshotAfterSkip []byte
	sawSkip := false
	var out bytes.Buffer
	for !strings.Contains(out.String(), "after the flood\r\n") {
		evs, end, err := w.next(10 * time.Second)
		if err != nil || end != nil {
			t.Fatalf("reading the watch: %v %+v", err, end)
		}
		for _, e := range evs {
			switch e.Kind {
			case proto.LiveOutput:
				live += uint64(len(e.Data))
				out.Write(e.Data)
			case proto.LiveSkipped:
				sawSkip = true
				skipped += proto.CountOf(e.Data)
			case proto.LiveSnapshot:
				if sawSkip {
					snapshotAfterSkip = e.Data
					out.Write(e.Data)
				}
			}
		}
	}
	if !sawSkip || len(snapshotAfterSkip) == 0 || len(snapshotAfterSkip) > ringSize {
		t.Fatalf("no skip marker with a snapshot (skip %v, snapshot %d bytes)", sawSkip, len(snapshotAfterSkip))
	}
	if !bytes.HasSuffix(s.out.Bytes()[:s.out.Len()-len("after the flood\r\n")], snapshotAfterSkip) &&
		!bytes.HasSuffix(s.out.Bytes(), snapshotAfterSkip) {
		t.Errorf("the snapshot after the skip is not the latest output")
	}
	if live+skipped != uint64(s.out.Len()) {
		t.Errorf("received %d + skipped %d bytes, the session printed %d", live, skipped, s.out.Len())
	}
	t.Logf("watcher: %d bytes live, %d skipped", live, skipped)
	if !c.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	if _, end, err := w.next(10 * time.Second); err != nil || end == nil || end.Status != "complete" {
		t.Fatalf("end: %+v %v", end, err)
	}
}

// A watcher whose socket takes nothing for the write timeout is dropped; the recording
// goes on untouched.
func TestWatchStuckWatcherDropped(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2451, 1)
	c := h.dial(2451, 1001)
	g := c.open(ttyOpen()).Record
	r := h.d.recs.get(g.Rec)
	r.live.mu.Lock()
	r.live.writeTimeout = 300 * time.Millisecond
	r.live.mu.Unlock()
	w := h.watch(902, 0, g.Rec)
	if !w.reply.OK {
		t.Fatalf("reply %+v", w.reply)
	}
	s := newStream()
	floodOutput(t, c, s, 4<<20)
	waitFor(t, 10*time.Second, "the stuck watcher is dropped", func() bool { return r.live.count() == 0 })
	if !strings.Contains(h.logs.String(), "dropped: a write did not complete") {
		t.Errorf("recd did not log the drop:\n%s", h.logs)
	}
	c.send(s.output("still recording\r\n"))
	c.waitAck(s.next, 10*time.Second)
	if !c.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatal("the recording lost output")
	}
}

// The live view is read-only: a watcher that sends anything is cut off, and nothing
// reaches the session or the recording.
func TestWatchReadOnly(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2461, 1)
	c := h.dial(2461, 1001)
	g := c.open(ttyOpen()).Record
	w := h.watch(903, 0, g.Rec)
	if !w.reply.OK {
		t.Fatalf("reply %+v", w.reply)
	}
	if err := proto.WriteFrame(w.c.c, proto.Frame{Type: proto.TypeEvents, Payload: proto.EncodeEvents([]proto.Event{{Seq: 1, Kind: proto.EventInput, Data: []byte("rm -rf /\r")}})}); err != nil {
		t.Fatal(err)
	}
	r := h.d.recs.get(g.Rec)
	waitFor(t, 10*time.Second, "the watcher is cut off", func() bool { return r.live.count() == 0 })
	for {
		if _, _, err := w.next(5 * time.Second); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("reading after the write: %v", err)
			}
			break
		}
	}
	s := newStream()
	c.send(s.output("ok\r\n"))
	c.waitAck(s.next, 10*time.Second)
	c.close(proto.RecordClose{LastSeq: s.next - 1})
	out, es := verify(t, h.j, g.Rec)
	if string(out) != "ok\r\n" {
		t.Fatalf("recording output %q", out)
	}
	for _, e := range es {
		if bytes.Contains(e["MESSAGE"], []byte("rm -rf")) {
			t.Fatal("the watcher's bytes are in the recording")
		}
	}
	if !strings.Contains(h.logs.String(), "read-only") {
		t.Errorf("recd did not log why the watcher was cut off:\n%s", h.logs)
	}
}

// Root and the auditors group see every session and may watch; anyone else sees their
// own sessions and may not watch, with an error that says why.
func TestWatchAccess(t *testing.T) {
	h := newHarness(t)
	h.tune = func(o *Options) {
		o.Directory = policy.NewMemoryDirectory(
			[]policy.User{{Name: "alice", UID: 1001, GID: 1001}, {Name: "bob", UID: 1002, GID: 1002}},
			[]policy.Group{{Name: "alice", GID: 1001}, {Name: "bob", GID: 1002}, {Name: "auditors", GID: 900, Members: []string{"alice"}}})
	}
	conf := filepath.Join(h.dir, "recd.conf")
	writeConf := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConf("[access]\nauditors = auditors\n")
	h.start()
	h.procs.add(2501, 1)
	h.procs.add(2502, 1)
	ca := h.dial(2501, 1001)
	ra := ca.open(ttyOpen()).Record.Rec
	cb := h.dial(2502, 1002)
	rb := cb.open(ttyOpen()).Record.Rec

	sessions := func(uid uint32) []string {
		t.Helper()
		resp := h.dial(910, uid).request(proto.Request{Op: proto.OpSessions})
		if !resp.OK {
			t.Fatalf("sessions as uid %d: %+v", uid, resp)
		}
		var recs []string
		for _, r := range resp.Recordings {
			recs = append(recs, r.User)
		}
		return recs
	}
	for uid, want := range map[uint32]string{0: "alice,bob", 1001: "alice,bob", 1002: "bob"} {
		if got := strings.Join(sessions(uid), ","); got != want {
			t.Errorf("sessions as uid %d: %s, want %s", uid, got, want)
		}
	}
	if w := h.watch(911, 1002, ra); w.reply.OK || !w.reply.Denied || !strings.Contains(w.reply.Error, "bob is not a member of the auditors group auditors") {
		t.Errorf("bob watching alice: %+v", w.reply)
	}
	if w := h.watch(912, 1002, rb); w.reply.OK || !w.reply.Denied {
		t.Errorf("bob watching himself: %+v (watching is for root and auditors only)", w.reply)
	}
	if w := h.watch(913, 1001, rb); !w.reply.OK || w.reply.Recording.User != "bob" {
		t.Errorf("alice (auditor) watching bob: %+v", w.reply)
	}
	if w := h.watch(914, 0, "nosuchrec-1-2"); w.reply.OK || !w.reply.NotFound {
		t.Errorf("watching an unknown recording: %+v", w.reply)
	}
	if w := h.watch(915, 0, ""); w.reply.OK || !strings.Contains(w.reply.Error, "bad request") {
		t.Errorf("watch without an ID: %+v", w.reply)
	}

	// Without an auditors group, only root.
	writeConf("[access]\n")
	if got := strings.Join(sessions(1001), ","); got != "alice" {
		t.Errorf("sessions as alice without auditors: %s", got)
	}
	if w := h.watch(916, 1001, rb); w.reply.OK || !w.reply.Denied || !strings.Contains(w.reply.Error, "no [access] auditors group is configured") {
		t.Errorf("alice watching without auditors: %+v", w.reply)
	}
	if w := h.watch(917, 0, rb); !w.reply.OK {
		t.Errorf("root watching: %+v", w.reply)
	}
}

// With log_output off nothing is recorded, so there is nothing to watch.
func TestWatchWithoutOutputRecorded(t *testing.T) {
	h := newHarness(t)
	h.cfg = config.Default().Recorder
	h.cfg.LogOutput = false
	h.start()
	h.procs.add(2601, 1)
	c := h.dial(2601, 1001)
	g := c.open(ttyOpen()).Record
	if w := h.watch(920, 0, g.Rec); w.reply.OK || !strings.Contains(w.reply.Error, "log_output") {
		t.Fatalf("reply %+v", w.reply)
	}
}

// A watch ends with the recording: aborted when its recorder vanished, "stopped" when
// recd stops (the recording goes on with the next recd).
func TestWatchEnds(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2701, 1)
	h.procs.add(2702, 1)
	c1 := h.dial(2701, 1001)
	g1 := c1.open(ttyOpen()).Record
	c2 := h.dial(2702, 1001)
	g2 := c2.open(ttyOpen()).Record
	w1 := h.watch(930, 0, g1.Rec)
	w2 := h.watch(931, 0, g2.Rec)
	for _, w := range []*liveClient{w1, w2} {
		if _, _, err := w.next(5 * time.Second); err != nil || !w.reply.OK {
			t.Fatalf("watch: %+v %v", w.reply, err)
		}
	}
	h.procs.kill(2701)
	c1.c.Close()
	if evs, end, err := w1.next(15 * time.Second); err != nil || len(evs) != 0 || end == nil || end.Status != "aborted" || !strings.Contains(end.Reason, "recorder exited") {
		t.Fatalf("after the recorder vanished: %+v %+v %v", evs, end, err)
	}
	h.stop()
	if _, end, err := w2.next(15 * time.Second); err != nil || end == nil || end.Status != proto.WatchStopped {
		t.Fatalf("after recd stopped: %+v %v", end, err)
	}
}

// A recording has a bounded number of watchers.
func TestWatchersBounded(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2801, 1)
	c := h.dial(2801, 1001)
	g := c.open(ttyOpen()).Record
	for i := 0; i < maxWatchers; i++ {
		if w := h.watch(int32(940+i), 0, g.Rec); !w.reply.OK {
			t.Fatalf("watcher %d: %+v", i, w.reply)
		}
	}
	if w := h.watch(999, 0, g.Rec); w.reply.OK || !strings.Contains(w.reply.Error, "the most recd allows") {
		t.Fatalf("watcher %d: %+v", maxWatchers+1, w.reply)
	}
}

// lastClear finds the same clear as the plain definition (the last occurrence of each
// sequence; of those ending last, the longest) on random output rich in escapes.
func TestLastClearMatchesDefinition(t *testing.T) {
	reference := func(b []byte) (int, int) {
		start, end := -1, -1
		for _, s := range clearSeqs {
			i := bytes.LastIndex(b, s)
			if i < 0 {
				continue
			}
			if e := i + len(s); e > end || e == end && i < start {
				start, end = i, e
			}
		}
		return start, end
	}
	pieces := [][]byte{[]byte("\x1b"), []byte("["), []byte("2J"), []byte("H"), []byte("c"), []byte(";"), []byte("1;1"), []byte("text "), []byte("\r\n")}
	rng := rand.New(rand.NewSource(7))
	for n := 0; n < 20000; n++ {
		var b []byte
		for k := rng.Intn(12); k > 0; k-- {
			b = append(b, pieces[rng.Intn(len(pieces))]...)
		}
		gs, ge := lastClear(b)
		ws, we := reference(b)
		if gs != ws || ge != we {
			t.Fatalf("lastClear(%q) = %d, %d; want %d, %d", b, gs, ge, ws, we)
		}
	}
}
