package recorder

import (
	"sync"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// eventCost is what an event costs in the buffer beyond its data: its encoded header
// (21 bytes) and, in memory, its proto.Event and the allocation's rounding. The buffer
// counts the capacity of each event's data, so the limit bounds memory, not just payload.
const eventCost = 64

// coalesceMicros: data of one kind arriving within this time of the previous unsent event
// of that kind is appended to it (tlog's timing has millisecond resolution).
const coalesceMicros = 1000

// inputReserve lets input and control events exceed the buffer by this much, so that a
// full buffer with limit_action = delay never stops the user from typing (^C included).
const inputReserve = 64 << 10

// queue holds a recording's events from the moment they happen until recd acknowledges
// them. The relays add events (never waiting on the network, except under
// limit_action = delay when the buffer is full); the link takes them for sending, and
// acknowledgements free them. Its size is bounded by limit bytes (data + headers).
type queue struct {
	mu    sync.Mutex
	space *sync.Cond // broadcast when bytes are freed or waiting is called off

	evs    []proto.Event // unacknowledged events, consecutive sequence numbers
	sent   int           // evs[:sent] went out on the current connection
	unsent int64         // Σ len(Data) of evs[sent:], to wake the link only when worth it
	held   int64         // bytes held: Σ len(Data)+eventCost
	limit  int64
	delay  bool // limit_action = delay: a full buffer throttles output instead of dropping it

	next  uint64 // sequence number of the next event
	start time.Time
	last  uint64 // Micros of the newest event; time never goes backwards

	dropping bool   // the buffer overflowed: data is dropped until acknowledgements free half of it
	lost     uint64 // bytes dropped and not yet reported by an EventLost
	lostAll  uint64 // all bytes ever dropped
	noWait   bool   // shutting down: adds never block

	// skipSeq and skipped: the first skipped bytes of event skipSeq (evs[0]) were dropped
	// by a resume, the journal having them. A resume's skip counts from the event's
	// first byte, so a second resume at the same point (recd restarted again before it
	// wrote more of the event) must not drop them a second time.
	skipSeq uint64
	skipped int

	// connected is true while a connection to recd is open; progress is when recd last
	// acknowledged (or the connection opened). While recd is there and keeps acknowledging,
	// a full buffer holds the output relay back instead of dropping output: a burst larger
	// than the buffer slows the terminal to the pace of the recording rather than losing
	// what the user saw. Only when recd is away, or stalls for stallLimit, is output dropped
	// (and the loss recorded), so a stopped recd never freezes a login.
	connected bool
	progress  time.Time
	off       bool // recording abandoned: adds are discarded
	finished  bool // no more events will be added

	kick chan struct{} // wakes the link (cap 1)
}

func newQueue(limit int64, delay bool, start time.Time) *queue {
	q := &queue{limit: limit, delay: delay, next: 1, start: start, kick: make(chan struct{}, 1)}
	q.space = sync.NewCond(&q.mu)
	return q
}

func (q *queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// micros is the time since the recording's start; the caller holds mu.
func (q *queue) micros() uint64 {
	m := uint64(time.Since(q.start) / time.Microsecond)
	if m < q.last {
		m = q.last
	}
	q.last = m
	return m
}

func (q *queue) fits(cost, limit int64) bool { return q.held == 0 || q.held+cost <= limit }

// appendLocked adds a new event.
func (q *queue) appendLocked(kind proto.EventKind, data []byte, m uint64) {
	q.evs = append(q.evs, proto.Event{Seq: q.next, Micros: m, Kind: kind, Data: data})
	q.next++
	q.held += int64(cap(data)) + eventCost
	q.unsent += int64(len(data))
}

// wakeLocked wakes the link when it has something new to do: a first unsent event (it
// then starts its latency timer) or a full batch. Waking it for every chunk would cost a
// goroutine switch per read.
func (q *queue) wakeLocked() {
	if len(q.evs)-1 == q.sent || q.unsent >= flushBytes {
		q.wake()
	}
}

func (q *queue) recountLocked() {
	q.unsent = 0
	for _, e := range q.evs[q.sent:] {
		q.unsent += int64(len(e.Data))
	}
}

// reportLostLocked ends a gap once half the buffer is free again (or at once, when force
// is set): the dropped bytes become an EventLost and data is accepted again.
func (q *queue) reportLostLocked(force bool) {
	if !q.dropping || (!force && q.held > q.limit/2) {
		return
	}
	q.dropping = false
	if q.lost > 0 {
		q.appendLocked(proto.EventLost, proto.CountData(q.lost), q.micros())
		q.lost = 0
	}
}

// addData records bytes of output (throttle = true: the caller is the output relay,
// which may be held back under limit_action = delay) or input. data is copied and split
// into events of at most proto.MaxEventData bytes. When the buffer is full and the
// caller may not wait, the bytes are counted as lost, to be reported when room returns.
func (q *queue) addData(kind proto.EventKind, data []byte, throttle bool) {
	for len(data) > 0 {
		n := min(len(data), proto.MaxEventData)
		q.add(kind, data[:n], throttle)
		data = data[n:]
	}
}

func (q *queue) add(kind proto.EventKind, d []byte, throttle bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.off || q.finished {
		return
	}
	cost := int64(len(d)) + eventCost
	limit := q.limit
	if !throttle {
		limit += inputReserve
	}
	if throttle && q.delay {
		for (q.dropping || !q.fits(cost, limit)) && !q.noWait && !q.off {
			q.space.Wait()
		}
		if q.off {
			return
		}
	} else if throttle && !q.fits(cost, limit) && q.connected && !q.noWait {
		q.waitForRecdLocked(cost, limit)
		if q.off {
			return
		}
	}
	if q.dropping || !q.fits(cost, limit) {
		// One gap, not a sieve: once full, everything is dropped until recd has
		// acknowledged enough to free half the buffer; then the loss is recorded, in place.
		q.dropping = true
		q.lost += uint64(len(d))
		q.lostAll += uint64(len(d))
		return
	}
	m := q.micros()
	if i := len(q.evs) - 1; i >= q.sent && i >= 0 && q.evs[i].Kind == kind &&
		len(q.evs[i].Data)+len(d) <= proto.MaxEventData && m-q.evs[i].Micros < coalesceMicros {
		old := cap(q.evs[i].Data)
		q.evs[i].Data = append(q.evs[i].Data, d...)
		q.held += int64(cap(q.evs[i].Data) - old)
		q.unsent += int64(len(d))
	} else {
		q.appendLocked(kind, append([]byte(nil), d...), m)
	}
	q.wakeLocked()
}

// addWindow records a window size. A newer size replaces one not yet sent.
func (q *queue) addWindow(w proto.Window) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.off || q.finished {
		return
	}
	if i := len(q.evs) - 1; i >= q.sent && i >= 0 && q.evs[i].Kind == proto.EventWindow {
		q.evs[i].Data = proto.WindowData(w)
	} else {
		q.appendLocked(proto.EventWindow, proto.WindowData(w), q.micros())
	}
	q.wake()
}

// addWithheld records that n bytes of input were not recorded (typed with echo off).
func (q *queue) addWithheld(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.off || q.finished {
		return
	}
	if i := len(q.evs) - 1; i >= q.sent && i >= 0 && q.evs[i].Kind == proto.EventInputWithheld {
		q.evs[i].Data = proto.CountData(proto.CountOf(q.evs[i].Data) + uint64(n))
	} else {
		q.appendLocked(proto.EventInputWithheld, proto.CountData(uint64(n)), q.micros())
	}
	q.wake()
}

// dropLocked frees the events before seq.
func (q *queue) dropLocked(seq uint64) int {
	i := 0
	for i < len(q.evs) && q.evs[i].Seq < seq {
		q.held -= int64(cap(q.evs[i].Data)) + eventCost
		i++
	}
	if i == 0 {
		return 0
	}
	clear(q.evs[:i]) // let the data go
	q.evs = q.evs[i:]
	if len(q.evs) == 0 {
		q.evs = nil
	}
	if i > q.sent {
		q.sent = 0
		q.recountLocked()
	} else {
		q.sent -= i
	}
	return i
}

// ack frees the events recd has written (Seq < next). It reports whether any was freed.
func (q *queue) ack(next uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dropLocked(next) == 0 {
		return false
	}
	q.progress = time.Now()
	if !q.finished {
		q.reportLostLocked(false)
	}
	q.space.Broadcast()
	q.wake()
	return true
}

// resume applies a grant's resume point: events before seq are in the journal, and so
// are the first skip bytes of event seq. Everything else is sent again.
func (q *queue) resume(seq uint64, skip uint32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropLocked(seq)
	if !q.finished {
		q.reportLostLocked(false)
	}
	q.sent = 0
	if len(q.evs) > 0 && q.evs[0].Seq == seq && skip > 0 {
		switch q.evs[0].Kind {
		case proto.EventOutput, proto.EventStderr, proto.EventInput:
			if q.skipSeq != seq {
				q.skipSeq, q.skipped = seq, 0
			}
			n := min(int(skip)-q.skipped, len(q.evs[0].Data))
			if n > 0 {
				old := cap(q.evs[0].Data)
				q.evs[0].Data = q.evs[0].Data[n:]
				q.held -= int64(old - cap(q.evs[0].Data))
				q.skipped += n
			}
		}
	}
	q.recountLocked()
	q.space.Broadcast()
	q.wake()
}

// rewind makes every held event unsent (a new connection, first open).
func (q *queue) rewind() {
	q.mu.Lock()
	q.sent = 0
	q.recountLocked()
	q.mu.Unlock()
	q.wake()
}

// take copies into batch the unsent events that fit in one frame of at most maxBytes
// and marks them sent. Unless flush is set, it holds them back while they are fewer
// than flushBytes and the oldest is younger than latency, and then returns how long
// to wait.
func (q *queue) take(batch []proto.Event, maxBytes, flushBytes int, latency time.Duration, flush bool) ([]proto.Event, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch = batch[:0]
	if q.sent >= len(q.evs) {
		return batch, 0
	}
	size, end := 0, q.sent
	for end < len(q.evs) && (end == q.sent || size+q.evs[end].EncodedSize() <= maxBytes) {
		size += q.evs[end].EncodedSize()
		end++
	}
	if !flush && !q.finished && size < flushBytes && end == len(q.evs) {
		age := time.Duration(q.micros()-q.evs[q.sent].Micros) * time.Microsecond
		if age < latency {
			return batch, latency - age
		}
	}
	batch = append(batch, q.evs[q.sent:end]...)
	for _, e := range q.evs[q.sent:end] {
		q.unsent -= int64(len(e.Data))
	}
	q.sent = end
	return batch, 0
}

// allSent reports whether every held event was sent on the current connection.
func (q *queue) allSent() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sent >= len(q.evs)
}

// firstUnacked is the oldest event held, or the next one when none is held.
func (q *queue) firstUnacked() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.evs) > 0 {
		return q.evs[0].Seq
	}
	return q.next
}

// lastSeq is the sequence number of the newest event (0 if none).
func (q *queue) lastSeq() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.next - 1
}

// setNoWait stops adds from blocking from now on (the session is ending).
// stallLimit is how long the output relay waits for a connected recd that acknowledges
// nothing before the queue falls back to dropping (and recording the loss).
const stallLimit = 2 * time.Second

// waitForRecdLocked holds the output relay while the buffer is full, recd is connected and
// it acknowledged something within stallLimit. q.mu is held.
func (q *queue) waitForRecdLocked(cost, limit int64) {
	stop := make(chan struct{})
	defer close(stop)
	go func() { // cond has no timeout: re-check the stall every 100 ms
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				q.mu.Lock()
				q.space.Broadcast()
				q.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	for !q.fits(cost, limit) && q.connected && !q.noWait && !q.off && time.Since(q.progress) < stallLimit {
		q.space.Wait()
	}
}

// setConnected tells the queue whether a connection to recd is open.
func (q *queue) setConnected(c bool) {
	q.mu.Lock()
	q.connected = c
	if c {
		q.progress = time.Now()
	}
	q.space.Broadcast()
	q.mu.Unlock()
}

func (q *queue) setNoWait() {
	q.mu.Lock()
	q.noWait = true
	q.space.Broadcast()
	q.mu.Unlock()
}

// finish ends the stream: unreported losses become an EventLost whatever the room, and
// no event is added afterwards.
func (q *queue) finish() {
	q.mu.Lock()
	q.noWait = true
	q.reportLostLocked(true)
	q.finished = true
	q.space.Broadcast()
	q.mu.Unlock()
	q.wake()
}

// abandon stops recording: recd refused the recording after the session had started.
func (q *queue) abandon() {
	q.mu.Lock()
	q.off = true
	q.evs, q.sent, q.held, q.unsent = nil, 0, 0, 0
	q.space.Broadcast()
	q.mu.Unlock()
}

// dropped is the number of bytes ever dropped for lack of room.
func (q *queue) dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lostAll
}
