package recorder

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// Sending.
const (
	maxFramePayload = 256 << 10 // events per TypeEvents frame
	flushBytes      = 64 << 10  // send at once when this much is waiting
	maxFlushDelay   = 5 * time.Millisecond
	firstBackoff    = 50 * time.Millisecond
)

var errAborted = errors.New("recording link aborted")

// dialOpen connects to recd and sends open; it returns the connection (nil when the
// grant is not a recording) and recd's grant. The whole exchange is bounded by timeout.
func dialOpen(path string, timeout time.Duration, open proto.RecordOpen) (net.Conn, proto.RecordGrant, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, proto.RecordGrant{}, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := proto.WriteJSON(c, proto.Request{Op: proto.OpRecordOpen, Record: &open}); err != nil {
		c.Close()
		return nil, proto.RecordGrant{}, fmt.Errorf("sending the open request: %w", err)
	}
	// The answer is decoded leniently (unlike proto.ReadJSON): a recorder started before
	// recd was upgraded must still be able to resume with a newer recd.
	var resp proto.Response
	f, err := proto.ReadFrame(c)
	if err == nil && f.Type != proto.TypeJSON {
		err = fmt.Errorf("frame type %q", f.Type)
	}
	if err == nil {
		err = json.Unmarshal(f.Payload, &resp)
	}
	if err != nil {
		c.Close()
		return nil, proto.RecordGrant{}, fmt.Errorf("reading recd's answer: %w", err)
	}
	if resp.Record == nil {
		c.Close()
		if resp.Error == "" {
			resp.Error = "no grant in the answer"
		}
		return nil, proto.RecordGrant{}, &refusal{msg: resp.Error}
	}
	g := *resp.Record
	if g.Refused != "" || g.Nested || g.Rec == "" {
		c.Close()
		return nil, g, nil
	}
	_ = c.SetDeadline(time.Time{})
	return c, g, nil
}

// refusal is an error answer from recd (as opposed to recd being unreachable).
type refusal struct{ msg string }

func (r *refusal) Error() string { return "recd: " + r.msg }

// link owns the connection to recd: it (re)connects, sends the queue's events, feeds
// acknowledgements back to the queue and finally closes the recording. It runs in one
// goroutine (run) plus one reader goroutine per connection.
type link struct {
	path        string
	openTimeout time.Duration
	retryMax    time.Duration
	latency     time.Duration
	logf        func(string, ...any)

	q    *queue
	open proto.RecordOpen
	rec  string // recording ID, "" until a first open succeeded

	finishCh chan *proto.RecordClose // the close request, once
	abortCh  chan struct{}
	done     chan struct{}
	abortOne sync.Once

	mu   sync.Mutex
	conn net.Conn // current connection, closed by abort

	opened   atomic.Bool  // a recording was opened (rec is set)
	progress atomic.Int64 // unix nanos of the last acknowledgement that freed events
	closed   atomic.Bool  // recd answered the close
	buf      []byte
}

func newLink(o *Options, q *queue, open proto.RecordOpen, rec string, latency time.Duration) *link {
	l := &link{
		path: o.SocketPath, openTimeout: o.OpenTimeout, retryMax: o.RetryMax, latency: latency, logf: o.logf,
		q: q, open: open, rec: rec,
		finishCh: make(chan *proto.RecordClose, 1), abortCh: make(chan struct{}), done: make(chan struct{}),
	}
	l.opened.Store(rec != "")
	return l
}

// run sends until the recording is closed, abandoned or the link aborted. c is the
// connection of the first open, nil when recd was unreachable.
func (l *link) run(c net.Conn) {
	defer close(l.done)
	backoff := firstBackoff
	var closeReq *proto.RecordClose
	for {
		if c == nil {
			var err error
			c, err = l.reconnect()
			if errors.Is(err, errAborted) {
				return
			}
			if err != nil {
				l.logf("recd-session: reconnecting: %v", err)
				if r := (*refusal)(nil); errors.As(err, &r) {
					// recd answered ("try again": it is reading the recording back from
					// the journal, after a restart under load that can take minutes): it
					// works on it, so finish waits on, up to CloseMax, instead of giving
					// up after CloseTimeout as it does when recd is gone or silent.
					l.progress.Store(time.Now().UnixNano())
				}
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-l.abortCh:
					t.Stop()
					return
				case req := <-l.finishCh:
					t.Stop()
					closeReq = req
				}
				backoff = min(2*backoff, l.retryMax)
				continue
			}
			backoff = firstBackoff
		}
		l.setConn(c)
		err := l.stream(c, &closeReq)
		l.setConn(nil)
		c.Close()
		c = nil
		if err == nil || errors.Is(err, errAborted) {
			return
		}
		l.logf("recd-session: connection to recd lost: %v", err)
	}
}

func (l *link) setConn(c net.Conn) {
	l.mu.Lock()
	l.conn = c
	l.mu.Unlock()
	l.q.setConnected(c != nil)
	select {
	case <-l.abortCh:
		if c != nil {
			c.Close()
		}
	default:
	}
}

// reconnect opens the recording again: a first open when recd was never reached, else a
// resume. A refusal abandons the recording (the session goes on unrecorded).
func (l *link) reconnect() (net.Conn, error) {
	select {
	case <-l.abortCh:
		return nil, errAborted
	default:
	}
	open := l.open
	if l.rec != "" {
		open.Resume = &proto.Resume{Rec: l.rec, FirstUnacked: l.q.firstUnacked()}
	}
	c, g, err := dialOpen(l.path, l.openTimeout, open)
	var r *refusal
	if errors.As(err, &r) && l.rec == "" {
		// recd is back but cannot record this session: with on_unavailable = allow it
		// answers with an error, and the session runs on unrecorded.
		l.logf("recd-session: %v", err)
		l.q.abandon()
		return nil, errAborted
	}
	if err != nil {
		// Unreachable, or an error answer to a resume ("try again"): retried, within the
		// bounds finish sets.
		return nil, err
	}
	if c == nil {
		l.logf("recd-session: recd refused the recording (refused=%q nested=%v)", g.Refused, g.Nested)
		l.q.abandon()
		return nil, errAborted
	}
	if l.rec == "" {
		l.rec = g.Rec
		l.opened.Store(true)
		l.q.rewind()
	} else {
		seq := g.ResumeSeq
		if seq == 0 {
			seq = open.Resume.FirstUnacked
		}
		l.q.resume(seq, g.ResumeSkip)
	}
	return c, nil
}

// stream sends events on c until the close is answered (nil) or c fails.
func (l *link) stream(c net.Conn, closeReq **proto.RecordClose) error {
	stop := make(chan struct{})
	errCh := make(chan error, 1)
	respCh := make(chan proto.Response, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.read(c, stop, errCh, respCh)
	}()
	defer func() {
		close(stop)
		c.Close()
		wg.Wait()
	}()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var batch []proto.Event
	closeSent := false
	for {
		if *closeReq == nil {
			select {
			case req := <-l.finishCh:
				*closeReq = req
			default:
			}
		}
		var wait time.Duration
		batch, wait = l.q.take(batch, maxFramePayload, flushBytes, l.latency, *closeReq != nil)
		if len(batch) > 0 {
			if err := l.writeEvents(c, batch); err != nil {
				return err
			}
			clear(batch)
			continue
		}
		if *closeReq != nil && !closeSent && l.q.allSent() {
			req := **closeReq
			req.LastSeq = l.q.lastSeq()
			if err := proto.WriteJSON(c, proto.Request{Op: proto.OpRecordClose, Close: &req}); err != nil {
				return err
			}
			closeSent = true
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-l.q.kick:
		case <-timer.C:
		case req := <-l.finishCh:
			*closeReq = req
		case err := <-errCh:
			select {
			case resp := <-respCh: // the answer came before the connection closed
				if closeSent {
					l.closeAnswered(resp)
					return nil
				}
			default:
			}
			return err
		case resp := <-respCh:
			if !closeSent {
				return fmt.Errorf("unexpected answer from recd: %s", resp.Error)
			}
			l.closeAnswered(resp)
			return nil
		case <-l.abortCh:
			return errAborted
		}
		if wait > 0 && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (l *link) closeAnswered(resp proto.Response) {
	if !resp.OK {
		l.logf("recd-session: recd answered the close with an error: %s", resp.Error)
	}
	l.closed.Store(true)
}

// writeEvents sends one TypeEvents frame (proto's framing, assembled in one buffer).
func (l *link) writeEvents(c net.Conn, batch []proto.Event) error {
	b := append(l.buf[:0], 0, 0, 0, 0, proto.TypeEvents)
	for _, e := range batch {
		b = proto.AppendEvent(b, e)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	l.buf = b
	_, err := c.Write(b)
	return err
}

// read handles what recd sends: acknowledgements and the answer to the close.
func (l *link) read(c net.Conn, stop <-chan struct{}, errCh chan<- error, respCh chan<- proto.Response) {
	for {
		f, err := proto.ReadFrame(c)
		if err != nil {
			select {
			case errCh <- err:
			case <-stop:
			}
			return
		}
		switch f.Type {
		case proto.TypeAck:
			a, err := proto.DecodeAck(f.Payload)
			if err != nil {
				errCh <- err
				return
			}
			if l.q.ack(a.Next) {
				l.progress.Store(time.Now().UnixNano())
			}
		case proto.TypeJSON:
			var resp proto.Response
			if err := json.Unmarshal(f.Payload, &resp); err != nil {
				errCh <- fmt.Errorf("decoding recd's answer: %w", err)
				return
			}
			select {
			case respCh <- resp:
			case <-stop:
				return
			}
		default:
			errCh <- fmt.Errorf("unexpected frame type %q from recd", f.Type)
			return
		}
	}
}

// finish hands the close to the link and waits until recd answered it, for at most idle
// without progress (acknowledgements extend the wait, up to hardCap in all). It returns
// whether recd confirmed the close.
func (l *link) finish(req *proto.RecordClose, idle, hardCap time.Duration) bool {
	l.q.finish()
	l.finishCh <- req
	start := time.Now()
	l.progress.Store(start.UnixNano())
	for {
		last := time.Unix(0, l.progress.Load())
		deadline := last.Add(idle)
		if hard := start.Add(hardCap); deadline.After(hard) {
			deadline = hard
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			l.abort()
			<-l.done
			return l.closed.Load()
		}
		t := time.NewTimer(wait)
		select {
		case <-l.done:
			t.Stop()
			return l.closed.Load()
		case <-t.C:
		}
	}
}

// abort stops the link at once.
func (l *link) abort() {
	l.abortOne.Do(func() {
		close(l.abortCh)
		l.mu.Lock()
		if l.conn != nil {
			l.conn.Close()
		}
		l.mu.Unlock()
	})
}
