package daemon

// The live view of a recording in progress (recctl watch) and the list of recordings in
// progress (recctl sessions).
//
// Each recording has a fanout: the recording's actor hands it every output and window
// event as it takes it from the recorder (before the tlog encoder holds it for the
// journal), and the fanout keeps a ring of the recent output and a bounded queue per
// watcher. A watcher's own goroutine writes its queue to its connection; the actor never
// waits for a watcher. A watcher whose queue overflows is not queued for any more: when it
// catches up it gets the number of bytes it missed and a fresh snapshot (it skips ahead);
// one whose socket does not take a write for watchWriteTimeout is dropped. Watching is
// read-only: recd reads nothing from a watcher after its request, and ends the watch if
// it sends anything.
//
// Only root and the members of the [access] auditors group may watch; the same people see
// every recording in progress in OpSessions, anyone else only their own.

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/proto"
)

// Bounds of the live view.
const (
	// ringSize is how much recent output a recording keeps for a new watcher's snapshot.
	ringSize = 64 << 10
	// watcherQueueBytes and watcherQueueEvents bound what waits for one watcher.
	watcherQueueBytes  = 256 << 10
	watcherQueueEvents = 4096
	// maxWatchers bounds the watchers of one recording.
	maxWatchers = 16
	// watchWriteTimeout is how long a write to a watcher may block before it is dropped.
	watchWriteTimeout = 10 * time.Second
	// maxLivePayload bounds one TypeLive frame.
	maxLivePayload = 256 << 10
)

// msgIDWatch is the MESSAGE_ID of recd's "watch started" entry.
const msgIDWatch = "0b8f3ac4e1d94c5e9a6f2d7c31e8b540"

// outputRing keeps the last ringSize bytes of a recording's output and where the last
// screen clear in them starts, so that a snapshot can start on a clean screen.
type outputRing struct {
	buf     []byte // ringSize bytes once the first output came
	end     uint64 // bytes ever written: the absolute position after the last one
	mark    uint64 // absolute position of the last screen clear
	hasMark bool
	tail    [maxClearSeq - 1]byte // the last bytes written, for a clear split across writes
	tailN   int
}

// Screen clears: RIS, and ED 2 with or without the cursor-home before it. A snapshot
// starts at the last one.
var clearSeqs = [][]byte{
	[]byte("\x1bc"), []byte("\x1b[2J"), []byte("\x1b[H\x1b[2J"), []byte("\x1b[;H\x1b[2J"), []byte("\x1b[1;1H\x1b[2J"),
}

const maxClearSeq = len("\x1b[1;1H\x1b[2J")

// lastClear returns where the last screen clear in b starts and ends, or -1: of the
// clears that end last, the longest (a cursor-home and the ED 2 after it are one clear).
//
// Every clear starts with ESC, so it looks only at the ESC bytes, found with
// bytes.IndexByte (vectorised): this runs on every chunk of output, and five
// bytes.LastIndex scans of each chunk cost recd a fifth of its CPU under a burst.
func lastClear(b []byte) (start, end int) {
	start, end = -1, -1
	for i := 0; i < len(b); i++ {
		k := bytes.IndexByte(b[i:], 0x1b)
		if k < 0 {
			break
		}
		i += k
		for _, s := range clearSeqs {
			if bytes.HasPrefix(b[i:], s) {
				if e := i + len(s); e > end || e == end && i < start {
					start, end = i, e
				}
			}
		}
	}
	return start, end
}

func (r *outputRing) write(p []byte) {
	if len(p) == 0 {
		return
	}
	start := r.end
	i, e := lastClear(p)
	if i >= 0 {
		r.mark, r.hasMark = start+uint64(i), true
	}
	// A clear that starts in the previous write: it wins over one found in p unless that
	// one ends later (the same end: the ED 2 of a cursor-home split from it).
	if r.tailN > 0 && (i < 0 || e < maxClearSeq) {
		probe := append(append(make([]byte, 0, 2*maxClearSeq), r.tail[:r.tailN]...), p[:min(len(p), maxClearSeq-1)]...)
		if j, f := lastClear(probe); j >= 0 && j < r.tailN && (i < 0 || f-r.tailN >= e) {
			r.mark, r.hasMark = start-uint64(r.tailN)+uint64(j), true
		}
	}
	if r.buf == nil {
		r.buf = make([]byte, ringSize)
	}
	q := p
	if len(q) > ringSize {
		q = q[len(q)-ringSize:]
	}
	off := int((r.end + uint64(len(p)-len(q))) % ringSize)
	n := copy(r.buf[off:], q)
	copy(r.buf, q[n:])
	r.end += uint64(len(p))
	// Keep the last len(tail) bytes written.
	if len(p) >= len(r.tail) {
		r.tailN = copy(r.tail[:], p[len(p)-len(r.tail):])
	} else {
		keep := min(r.tailN, len(r.tail)-len(p))
		copy(r.tail[:], r.tail[r.tailN-keep:r.tailN])
		r.tailN = keep + copy(r.tail[keep:], p)
	}
}

// snapshot returns the output from the last screen clear on, or (without one in the
// ring) the last ringSize bytes from the first line start.
func (r *outputRing) snapshot() []byte {
	first := uint64(0)
	if r.end > ringSize {
		first = r.end - ringSize
	}
	from := first
	if r.hasMark && r.mark >= first {
		from = r.mark
	}
	out := make([]byte, 0, r.end-from)
	for pos := from; pos < r.end; {
		off := int(pos % ringSize)
		n := min(int(r.end-pos), ringSize-off)
		out = append(out, r.buf[off:off+n]...)
		pos += uint64(n)
	}
	if from == first && first > 0 {
		// Cut mid-line (perhaps mid-sequence): start at the next line when there is one
		// near.
		if i := bytes.IndexByte(out[:min(len(out), 4096)], '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	return out
}

// liveWatcher is one watcher's queue; its fields are guarded by the fanout's mutex.
type liveWatcher struct {
	kick    chan struct{}
	timeout time.Duration // for each write to the watcher
	queue   []proto.LiveEvent
	queued  int
	lagging bool   // the queue overflowed: nothing is queued until the watcher resyncs
	skipped uint64 // output bytes the watcher missed while lagging
	end     *proto.WatchEnd
}

func (w *liveWatcher) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *liveWatcher) push(e proto.LiveEvent) {
	if w.end != nil {
		return
	}
	if w.lagging {
		if e.Kind == proto.LiveOutput {
			w.skipped += uint64(len(e.Data))
		}
		return
	}
	if w.queued+len(e.Data) > watcherQueueBytes || len(w.queue) >= watcherQueueEvents {
		w.lagging = true
		for _, q := range append(w.queue, e) {
			if q.Kind == proto.LiveOutput {
				w.skipped += uint64(len(q.Data))
			}
		}
		w.queue, w.queued = nil, 0
		w.wake()
		return
	}
	w.queue = append(w.queue, e)
	w.queued += len(e.Data)
	w.wake()
}

// fanout is a recording's live view: the recent output and the watchers.
type fanout struct {
	mu       sync.Mutex
	ring     outputRing
	window   *proto.Window
	received uint64 // output bytes received
	watchers map[*liveWatcher]struct{}
	ended    *proto.WatchEnd
	// writeTimeout is watchWriteTimeout (shorter in tests).
	writeTimeout time.Duration
}

func newFanout(w *proto.Window) *fanout {
	f := &fanout{watchers: map[*liveWatcher]struct{}{}, writeTimeout: watchWriteTimeout}
	if w != nil {
		win := *w
		f.window = &win
	}
	return f
}

// add takes one event of the recording (called by the recording's actor, in order; never
// blocks on a watcher). Only what the recording records is shown: output under
// log_output, window changes under log_window.
func (f *fanout) add(ev proto.Event, cfg *config.Recorder) {
	var kind proto.LiveKind
	switch ev.Kind {
	case proto.EventOutput, proto.EventStderr:
		if !cfg.LogOutput {
			return
		}
		kind = proto.LiveOutput
	case proto.EventWindow:
		if !cfg.LogWindow {
			return
		}
		kind = proto.LiveWindow
	default:
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended != nil {
		return
	}
	if kind == proto.LiveOutput {
		f.ring.write(ev.Data)
		f.received += uint64(len(ev.Data))
	} else {
		w := proto.WindowOf(ev.Data)
		f.window = &w
	}
	if len(f.watchers) == 0 {
		return
	}
	e := proto.LiveEvent{Kind: kind, Micros: ev.Micros, Data: bytes.Clone(ev.Data)}
	for w := range f.watchers {
		w.push(e)
	}
}

// end ends every watch with end (the recording closed, or recd stops).
func (f *fanout) end(status, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended != nil {
		return
	}
	f.ended = &proto.WatchEnd{Status: status, Reason: reason}
	for w := range f.watchers {
		w.end = f.ended
		w.wake()
	}
}

// snapshotLocked is what a watcher starting now needs: the window and the recent output.
func (f *fanout) snapshotLocked() []proto.LiveEvent {
	var evs []proto.LiveEvent
	if f.window != nil {
		evs = append(evs, proto.LiveEvent{Kind: proto.LiveWindow, Data: proto.WindowData(*f.window)})
	}
	return append(evs, proto.LiveEvent{Kind: proto.LiveSnapshot, Data: f.ring.snapshot()})
}

// attach registers a watcher and returns it with its first batch (the snapshot) and the
// output bytes received so far; nothing is lost or repeated between the two.
func (f *fanout) attach() (*liveWatcher, []proto.LiveEvent, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended != nil {
		return nil, nil, 0, fmt.Errorf("the recording has just ended (%s)", f.ended.Status)
	}
	if len(f.watchers) >= maxWatchers {
		return nil, nil, 0, fmt.Errorf("the recording has %d watchers, the most recd allows", len(f.watchers))
	}
	w := &liveWatcher{kick: make(chan struct{}, 1), timeout: f.writeTimeout}
	f.watchers[w] = struct{}{}
	return w, f.snapshotLocked(), f.received, nil
}

func (f *fanout) detach(w *liveWatcher) {
	f.mu.Lock()
	delete(f.watchers, w)
	f.mu.Unlock()
}

func (f *fanout) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

// next returns what is to be sent to w now: its queue, or (after it lagged) the skip
// marker and a fresh snapshot; and the end, once the queue before it is taken.
func (f *fanout) next(w *liveWatcher) ([]proto.LiveEvent, *proto.WatchEnd) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.lagging {
		evs := append([]proto.LiveEvent{{Kind: proto.LiveSkipped, Data: proto.CountData(w.skipped)}}, f.snapshotLocked()...)
		w.lagging, w.skipped = false, 0
		w.queue, w.queued = nil, 0
		return evs, w.end
	}
	evs := w.queue
	w.queue, w.queued = nil, 0
	return evs, w.end
}

// readsAll reports whether uid may read every recording and watch any session: root,
// and the members of the [access] auditors group (listed, or by primary group); if not,
// why. The configuration on disk is read at each call, so a change of the group applies
// at once; one that does not validate names no auditors.
func (d *Daemon) readsAll(uid uint32) (bool, string) {
	if uid == 0 {
		return true, ""
	}
	cfg, err := config.Load(d.opts.ConfigPath, d.opts.DropinDir)
	if err != nil {
		return false, "the configuration does not validate, so no auditors group is known"
	}
	group := cfg.Access.Auditors
	if group == "" {
		return false, "no [access] auditors group is configured"
	}
	name, err := d.lookupName(uid)
	if err != nil || name == "" {
		return false, "no user has that uid"
	}
	dir := d.opts.Directory
	if dir == nil {
		dir = policy.System()
	}
	g, err := dir.LookupGroup(group)
	if err != nil {
		return false, fmt.Sprintf("the auditors group %s does not exist", group)
	}
	if slices.Contains(g.Members, name) {
		return true, ""
	}
	if u, err := dir.LookupUser(name); err == nil && u.GID == g.GID {
		return true, ""
	}
	return false, fmt.Sprintf("%s is not a member of the auditors group %s", name, group)
}

// answerSessions answers OpSessions: every recording in progress for root and auditors,
// one's own for anyone else.
func (d *Daemon) answerSessions(cred *syscall.Ucred) proto.Response {
	uid := cred.Uid
	if all, _ := d.readsAll(uid); all {
		uid = 0
	}
	return proto.Response{OK: true, Recordings: d.recordingsFor(uid)}
}

// serveWatch handles a connection that sent OpWatch: it checks the caller, answers, and
// then streams the recording's live view until the recording ends, the watcher goes, or
// recd stops.
func (d *Daemon) serveWatch(c *net.UnixConn, cred *syscall.Ucred, req proto.Request) {
	reply := func(r proto.WatchReply) error {
		_ = c.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
		return proto.WriteJSON(c, r)
	}
	if req.Watch == nil || req.Watch.Rec == "" {
		_ = reply(proto.WatchReply{Error: "bad request: watch without a recording ID"})
		return
	}
	rec := req.Watch.Rec
	who, err := d.lookupName(cred.Uid)
	if err != nil || who == "" {
		who = strconv.FormatUint(uint64(cred.Uid), 10)
	}
	if ok, why := d.readsAll(cred.Uid); !ok {
		d.opts.Log.Printf("watch of recording %s by uid %d (%s) pid %d refused: %s", logValue(rec), cred.Uid, logValue(who), cred.Pid, why)
		_ = reply(proto.WatchReply{Denied: true,
			Error: fmt.Sprintf("watching a session is for root and the auditors group (you are uid %d: %s)", cred.Uid, why)})
		return
	}
	r := d.recs.get(rec)
	if r == nil {
		_ = reply(proto.WatchReply{NotFound: true, Error: fmt.Sprintf("no recording %s is in progress", rec)})
		return
	}
	if !r.cfg.LogOutput {
		_ = reply(proto.WatchReply{Error: fmt.Sprintf("recording %s does not record output (log_output = no): there is nothing to watch", rec)})
		return
	}
	w, first, received, err := r.live.attach()
	if err != nil {
		_ = reply(proto.WatchReply{Error: fmt.Sprintf("recording %s: %v", rec, err)})
		return
	}
	defer r.live.detach(w)
	st := r.status()
	if reply(proto.WatchReply{OK: true, Recording: &st, Received: received}) != nil {
		return
	}
	d.event(msgIDWatch, journal.PriNotice,
		fmt.Sprintf("recording %s of %s: watched live by uid %d (%s) pid %d", rec, logValue(r.user), cred.Uid, logValue(who), cred.Pid),
		map[string]string{"RECD_RECORDING": rec, "RECD_USER": r.user, "RECD_WATCHER": who,
			"RECD_WATCHER_UID": strconv.FormatUint(uint64(cred.Uid), 10), "RECD_WATCHER_PID": strconv.Itoa(int(cred.Pid))})
	started := time.Now()
	why := ""
	defer func() {
		d.opts.Log.Printf("recording %s: the live view of uid %d (%s) pid %d ended after %s: %s", rec, cred.Uid, logValue(who), cred.Pid,
			time.Since(started).Round(time.Second), why)
	}()

	// Read-only: anything the watcher sends, or its hang-up, ends the watch.
	_ = c.SetReadDeadline(time.Time{})
	gone := make(chan string, 1)
	go func() {
		var b [1]byte
		if n, err := c.Read(b[:]); n > 0 {
			gone <- "the watcher sent data on a read-only view"
		} else {
			gone <- fmt.Sprintf("the watcher left (%v)", err)
		}
	}()
	evs := first
	for {
		if len(evs) > 0 {
			if err := writeLive(c, evs, w.timeout); err != nil {
				why = fmt.Sprintf("dropped: a write did not complete: %v", err)
				return
			}
		}
		select {
		case why = <-gone:
			return
		default:
		}
		var end *proto.WatchEnd
		evs, end = r.live.next(w)
		if len(evs) > 0 {
			continue
		}
		if end != nil {
			_ = c.SetWriteDeadline(time.Now().Add(w.timeout))
			_ = proto.WriteJSON(c, end)
			why = "the recording ended: " + end.Status
			if end.Status == proto.WatchStopped {
				why = "recd is stopping"
			}
			return
		}
		select {
		case <-w.kick:
		case why = <-gone:
			return
		}
	}
}

// writeLive writes evs in frames of at most maxLivePayload bytes.
func writeLive(c *net.UnixConn, evs []proto.LiveEvent, timeout time.Duration) error {
	for len(evs) > 0 {
		n, size := 0, 0
		for n < len(evs) && (n == 0 || size+evs[n].EncodedSize() <= maxLivePayload) {
			size += evs[n].EncodedSize()
			n++
		}
		_ = c.SetWriteDeadline(time.Now().Add(timeout))
		if err := proto.WriteFrame(c, proto.Frame{Type: proto.TypeLive, Payload: proto.EncodeLive(evs[:n])}); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}
