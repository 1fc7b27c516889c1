package daemon

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
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
