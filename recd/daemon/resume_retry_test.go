package daemon

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/recd/journalwriter/fakejournal"
)

// A resume whose grant the recorder never read (it gave up after its open timeout while
// recd was still reading the recording back from the journal: slow under load) is
// retried. The retry finds the recording in memory, still at the point the journal
// left it, inside an event: it must be told to skip the bytes of that event the journal
// has, or they are recorded twice. (Found by the load test, tests/load.)
func TestResumeRetriedAfterGivingUp(t *testing.T) {
	h := newHarness(t)
	h.cfg.Payload = 40 // messages end inside events: RECD_NEXT with a skip
	h.start()
	h.procs.add(2251, 1)
	c := h.dial(2251, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	for i := 0; i < 12; i++ {
		c.send(s.output(fmt.Sprintf("line %02d: %s\r\n", i, strings.Repeat("y", 90+i))))
	}
	c.waitAck(5, 10*time.Second)
	h.stopWith(true)
	<-c.readDone
	s.drop(c.acked())

	h.start()
	o := ttyOpen()
	o.Resume = &proto.Resume{Rec: g.Rec, FirstUnacked: s.held[0].Seq}
	// First attempt: the recorder sends the resume and gives up before the answer.
	c1 := h.dial(2251, 1001)
	if err := proto.WriteJSON(c1.c, proto.Request{Op: proto.OpRecordOpen, Record: &o}); err != nil {
		t.Fatal(err)
	}
	c1.c.Close()
	waitEntries(t, h.j, "the resumed note", hasEntry(g.Rec, "note"))
	// Second attempt: the recording is in memory now.
	c2 := h.dial(2251, 1001)
	resp := c2.open(o)
	g2 := resp.Record
	if !resp.OK || g2 == nil || g2.Rec != g.Rec {
		t.Fatalf("second resume: %+v", resp)
	}
	if g2.ResumeSkip == 0 {
		t.Errorf("second resume: grant %+v has no skip, but the journal ends inside event %d", g2, g2.ResumeSeq)
	}
	c2.send(s.resend(g2.ResumeSeq, g2.ResumeSkip)...)
	c2.send(s.output("after the restart\r\n"))
	if !c2.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("replayed output\n%q\nwant\n%q", out, s.out.Bytes())
	}
}

// While a recording is being read back from the journal for one connection of its
// recorder, another resume of it is answered at once with "try again": it does not queue
// a second read (after a crash under load, recorders retry every few seconds while each
// read waits its turn; duplicate reads fed the storm). Once the read is done, the next
// try is attached to the recording in memory.
func TestResumeWhileReadInFlight(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2261, 1)
	c := h.dial(2261, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	c.send(s.output("before the crash\r\n"))
	c.waitAck(s.next, 10*time.Second)
	h.stopWith(true)
	<-c.readDone
	s.drop(c.acked())

	d := h.start()
	o := ttyOpen()
	o.Resume = &proto.Resume{Rec: g.Rec, FirstUnacked: s.next}
	d.recs.startRead(g.Rec) // another connection's read, in flight
	start := time.Now()
	resp := h.dial(2261, 1001).request(proto.Request{Op: proto.OpRecordOpen, Record: &o})
	if resp.Record != nil || !strings.Contains(resp.Error, "try again") {
		t.Fatalf("resume during a read in flight: %+v", resp)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the answer took %v", d)
	}
	d.recs.endRead(g.Rec)
	c2 := h.dial(2261, 1001)
	resp = c2.open(o)
	if !resp.OK || resp.Record == nil || resp.Record.Rec != g.Rec {
		t.Fatalf("resume after the read: %+v", resp)
	}
	c2.send(s.output("after\r\n"))
	if !c2.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("replayed %q, want %q", out, s.out.Bytes())
	}
}

// A recorder whose first open recd answered too late (it gave up after OpenTimeout: recd
// was busy, its journal writer full) opens again, with the same recording ID: it gets
// the recording it opened, not a refusal that would leave its session unrecorded and
// the recording without a close entry. (Found by the load test's chaos run.)
func TestFirstOpenRetried(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2271, 1)
	c1 := h.dial(2271, 1001)
	o := ttyOpen()
	if err := proto.WriteJSON(c1.c, proto.Request{Op: proto.OpRecordOpen, Record: &o}); err != nil {
		t.Fatal(err)
	}
	c1.c.Close() // gave up waiting
	var rec string
	waitEntries(t, h.j, "the open entry", func(es []fakejournal.Entry) bool {
		for _, e := range es {
			if v, _ := e.Get("RECD_EVENT"); string(v) == "open" {
				r, _ := e.Get("RECD_REC")
				rec = string(r)
				return true
			}
		}
		return false
	})
	c2 := h.dial(2271, 1001)
	resp := c2.open(o)
	if !resp.OK || resp.Record == nil || resp.Record.Rec != rec {
		t.Fatalf("second first-open: %+v (recording %s)", resp, rec)
	}
	s := newStream()
	c2.send(s.output("recorded after all\r\n"))
	if !c2.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	out, es := verify(t, h.j, rec)
	if !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("replayed %q", out)
	}
	if ev := events(es); count(ev, "open") != 1 || ev[len(ev)-1] != "close" {
		t.Fatalf("entries %v", ev)
	}
}

// A resume of a recording recd has closed (its recorder stayed away past the grace
// period) is refused in the grant, which the recorder takes as final, not with an error
// answer, which it would retry, reading the recording back every few seconds for good.
func TestResumeOfClosedRecordingRefused(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2291, 1)
	c := h.dial(2291, 1001)
	g := c.open(ttyOpen()).Record
	s := newStream()
	c.send(s.output("all of it\r\n"))
	if !c.close(proto.RecordClose{LastSeq: s.next - 1}).OK {
		t.Fatal("close failed")
	}
	h.stopWith(false)
	h.start()
	o := ttyOpen()
	o.Resume = &proto.Resume{Rec: g.Rec, FirstUnacked: s.next}
	resp := h.dial(2291, 1001).request(proto.Request{Op: proto.OpRecordOpen, Record: &o})
	if resp.Record == nil || resp.Record.Refused == "" || resp.Record.Rec != "" {
		t.Fatalf("resume of a closed recording: %+v, want a refusal in the grant", resp)
	}
	if out, _ := verify(t, h.j, g.Rec); !bytes.Equal(out, s.out.Bytes()) {
		t.Fatalf("replayed %q, want %q", out, s.out.Bytes())
	}
}
