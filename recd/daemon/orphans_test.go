package daemon

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// A recording whose recorder died while recd was down is closed as aborted by the next
// recd, its chain continued; one whose recorder lives is left for it to resume. (Found
// by the load test's chaos run: a recorder killed just before recd was killed left its
// recording open for good.)
func TestOrphanClosedOnStart(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.procs.add(2281, 1)
	h.procs.add(2282, 1)
	dead := h.dial(2281, 1001)
	gd := dead.open(ttyOpen()).Record
	alive := h.dial(2282, 1001)
	ga := alive.open(ttyOpen()).Record
	s := newStream()
	dead.send(s.output("output before the crash\r\n"))
	dead.waitAck(s.next, 10*time.Second)
	h.stopWith(true)
	<-dead.readDone
	h.procs.kill(2281) // died while no recd ran

	d := h.start()
	d.closeOrphans(context.Background(), func(context.Context) ([]string, error) {
		return []string{gd.Rec, ga.Rec}, nil
	})
	out, es := verify(t, h.j, gd.Rec)
	if !bytes.Equal(out, s.out.Bytes()) {
		t.Errorf("replayed %q, want %q", out, s.out.Bytes())
	}
	last := es[len(es)-1]
	if st := string(last["RECD_STATUS"]); st != "aborted" {
		t.Errorf("the orphan is closed %q, want aborted", st)
	}
	if d.recs.get(gd.Rec) != nil {
		t.Error("the orphan is still in the table")
	}
	for _, e := range h.j.Entries() {
		if rec, _ := e.Get("RECD_REC"); string(rec) == ga.Rec {
			if ev, _ := e.Get("RECD_EVENT"); string(ev) == "close" {
				t.Fatal("the recording of a live recorder was closed")
			}
		}
	}
	// The live recorder resumes its recording as usual.
	c := h.dial(2282, 1001)
	o := ttyOpen()
	o.Resume = &proto.Resume{Rec: ga.Rec, FirstUnacked: 1}
	if resp := c.open(o); !resp.OK || resp.Record == nil || resp.Record.Rec != ga.Rec {
		t.Fatalf("resume of the live one: %+v", resp)
	}
}
