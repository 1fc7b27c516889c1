package recorder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// fakeRecd is the server side of the recording protocol, as little of it as the tests
// need: it grants, journals events (checking that sequence numbers are contiguous across
// reconnects), acknowledges them, resumes, and answers the close.
type fakeRecd struct {
	t    *testing.T
	path string

	mu          sync.Mutex
	ln          net.Listener
	conns       map[net.Conn]bool
	grant       proto.RecordGrant // template: Settings, Nested, Refused
	nrec        int
	rec         string
	opens       []proto.RecordOpen
	grants      []proto.RecordGrant
	closes      []proto.RecordClose
	journal     []proto.Event // written events; a resumed event's rest is appended to it
	next        uint64        // next sequence number expected
	partial     uint32        // bytes of event next already written
	holdAck     bool          // do not acknowledge
	errorAnswer string        // answer opens with this error (recd cannot record, allow)

	// cut, when set, is called for each events frame with the events received; it returns
	// how many of them are written (the last of these only partly, when partial > 0) and
	// whether to drop the connection and go away instead of acknowledging.
	cut func(f *fakeRecd, evs []proto.Event) (keep int, partial uint32, drop bool)
	// afterGrant, when set, runs after each grant is sent; returning true drops the connection.
	afterGrant func(f *fakeRecd) bool

	wg sync.WaitGroup
}

func newFakeRecd(t *testing.T, set proto.RecorderSettings) *fakeRecd {
	t.Helper()
	dir, err := os.MkdirTemp("", "recd-fake")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRecd{t: t, path: filepath.Join(dir, "recd.sock"), conns: map[net.Conn]bool{}, next: 1}
	f.grant.Settings = set
	t.Cleanup(func() {
		f.down()
		f.wg.Wait()
		os.RemoveAll(dir)
	})
	f.up()
	return f
}

func defaultSettings() proto.RecorderSettings {
	return proto.RecorderSettings{
		Notice: "ATTENTION! Your session is being recorded!", Shell: "/bin/bash",
		LogOutput: true, LogWindow: true, LimitAction: "pass", Buffer: 8 << 20,
		OnUnavailable: "allow", RecordCommands: "metadata", LatencyMillis: 10000,
	}
}

// up starts listening.
func (f *fakeRecd) up() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		return
	}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		f.t.Errorf("fake recd: %v", err)
		return
	}
	f.ln = ln
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns[c] = true
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c)
				f.mu.Lock()
				delete(f.conns, c)
				f.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

// down stops listening and drops every connection, as recd killed with SIGKILL.
func (f *fakeRecd) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downLocked()
}

func (f *fakeRecd) downLocked() {
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		c.Close()
	}
}

// awayFor goes down now and comes back after d.
func (f *fakeRecd) awayForLocked(d time.Duration, back func()) {
	f.downLocked()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		time.Sleep(d)
		if back != nil {
			back()
		}
		f.up()
	}()
}

func (f *fakeRecd) serve(c net.Conn) {
	var req proto.Request
	if err := proto.ReadJSON(c, &req); err != nil {
		return
	}
	if req.Op != proto.OpRecordOpen || req.Record == nil {
		f.t.Errorf("fake recd: first request %q", req.Op)
		return
	}
	f.mu.Lock()
	open := *req.Record
	f.opens = append(f.opens, open)
	e := f.errorAnswer
	for _, v := range []string{open.Term, open.Shell, open.Command, open.TTY} {
		if len(v) > 4096 { // as recd/daemon's validOpen
			e = "bad request: field too long"
		}
	}
	if e != "" {
		f.mu.Unlock()
		_ = proto.WriteJSON(c, proto.Response{Error: e})
		return
	}
	g := f.grant
	if g.Refused == "" && !g.Nested {
		if r := open.Resume; r != nil {
			if r.Rec != f.rec {
				f.t.Errorf("fake recd: resume of %q, recording is %q", r.Rec, f.rec)
			}
			if r.FirstUnacked > f.next {
				f.t.Errorf("fake recd: resume from %d, but %d is the next event not written", r.FirstUnacked, f.next)
			}
			g.ResumeSeq, g.ResumeSkip = f.next, f.partial
		} else {
			f.nrec++
			f.rec = fmt.Sprintf("rec-%d", f.nrec)
			f.journal, f.next, f.partial = nil, 1, 0
		}
		g.Rec = f.rec
	}
	f.grants = append(f.grants, g)
	f.mu.Unlock()
	if err := proto.WriteJSON(c, proto.Response{OK: true, Record: &g}); err != nil {
		return
	}
	if g.Rec == "" {
		return
	}
	if f.afterGrant != nil && f.afterGrant(f) {
		return
	}
	for {
		fr, err := proto.ReadFrame(c)
		if err != nil {
			return
		}
		switch fr.Type {
		case proto.TypeEvents:
			evs, err := proto.DecodeEvents(fr.Payload)
			if err != nil {
				f.t.Errorf("fake recd: %v", err)
				return
			}
			f.mu.Lock()
			keep, partial, drop := len(evs), uint32(0), false
			if f.cut != nil {
				keep, partial, drop = f.cut(f, evs)
			}
			for i, e := range evs[:keep] {
				if e.Seq != f.next {
					f.t.Errorf("fake recd: event %d arrived, want %d", e.Seq, f.next)
					f.mu.Unlock()
					return
				}
				data := e.Data
				if i == keep-1 && partial > 0 {
					data = data[:partial]
				}
				if f.partial > 0 {
					last := &f.journal[len(f.journal)-1]
					if last.Seq != e.Seq {
						f.t.Errorf("fake recd: rest of event %d expected, got %d", last.Seq, e.Seq)
					}
					last.Data = append(last.Data, data...)
					f.partial += uint32(len(data))
				} else {
					f.journal = append(f.journal, proto.Event{Seq: e.Seq, Micros: e.Micros, Kind: e.Kind, Data: bytes.Clone(data)})
					f.partial = uint32(len(data))
				}
				if i == keep-1 && partial > 0 {
					break // event e is written only up to f.partial
				}
				f.next++
				f.partial = 0
			}
			if drop {
				f.mu.Unlock()
				return
			}
			next, hold := f.next, f.holdAck
			f.mu.Unlock()
			if !hold {
				if err := proto.WriteFrame(c, proto.Frame{Type: proto.TypeAck, Payload: proto.EncodeAck(proto.Ack{Next: next})}); err != nil {
					return
				}
			}
		case proto.TypeJSON:
			var r proto.Request
			if err := json.Unmarshal(fr.Payload, &r); err != nil || r.Op != proto.OpRecordClose || r.Close == nil {
				f.t.Errorf("fake recd: bad close %v %+v", err, r)
				return
			}
			f.mu.Lock()
			if r.Close.LastSeq != f.next-1 || f.partial != 0 {
				f.t.Errorf("fake recd: close says last event %d, journal has %d (partial %d)", r.Close.LastSeq, f.next-1, f.partial)
			}
			f.closes = append(f.closes, *r.Close)
			f.mu.Unlock()
			_ = proto.WriteJSON(c, proto.Response{OK: true})
			return
		default:
			f.t.Errorf("fake recd: frame type %q", fr.Type)
			return
		}
	}
}

// recording is what the fake journal holds, by kind.
type recording struct {
	events         []proto.Event
	out, err, in   []byte
	windows        []proto.Window
	withheld, lost uint64
}

func (f *fakeRecd) recording() recording {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r recording
	r.events = append(r.events, f.journal...)
	for _, e := range f.journal {
		switch e.Kind {
		case proto.EventOutput:
			r.out = append(r.out, e.Data...)
		case proto.EventStderr:
			r.err = append(r.err, e.Data...)
		case proto.EventInput:
			r.in = append(r.in, e.Data...)
		case proto.EventWindow:
			r.windows = append(r.windows, proto.WindowOf(e.Data))
		case proto.EventInputWithheld:
			r.withheld += proto.CountOf(e.Data)
		case proto.EventLost:
			r.lost += proto.CountOf(e.Data)
		}
	}
	return r
}

func (f *fakeRecd) closed() []proto.RecordClose {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.RecordClose(nil), f.closes...)
}

// checkNoLeaks waits until no goroutine of the recorder (link, session, queue) is left.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var leaked []string
		for _, g := range strings.Split(stacks, "\n\n") {
			for _, fn := range []string{"recorder.(*link)", "recorder.(*session)", "recorder.(*queue)", "recorder.dialOpen", "recorder.Run"} {
				if strings.Contains(g, fn) && !strings.Contains(g, "recorder.Test") {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d recorder goroutines left:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var errHooked = errors.New("exec hooked by the test")
