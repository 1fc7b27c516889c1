package recorder

import (
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// A session that ends while a restarted recd is still reading its recording back from the
// journal (recd answers its resume attempts with "try again") waits for recd, up to
// CloseMax, and closes the recording complete; it does not give up after CloseTimeout as
// it does when recd is gone or silent. (Found by the load test, tests/load: after a kill
// -9 of recd with 100 open recordings, reading them back took minutes, and sessions that
// ended meanwhile were closed as aborted, their unacknowledged output lost.)
func TestCloseWaitsWhileRecdBusy(t *testing.T) {
	set := defaultSettings()
	set.RecordCommands = "full"
	f := newFakeRecd(t, set)
	first := true
	f.afterGrant = func(f *fakeRecd) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !first {
			return false
		}
		first = false
		f.errorAnswer = "recd is reading this recording back from the journal; try again"
		f.awayForLocked(100*time.Millisecond, nil)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			time.Sleep(1500 * time.Millisecond)
			f.mu.Lock()
			f.errorAnswer = ""
			f.mu.Unlock()
		}()
		return true
	}
	o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "echo one; sleep 0.3; echo two")
	o.OpenTimeout = 200 * time.Millisecond
	o.CloseTimeout = 300 * time.Millisecond // > RetryMax, as 10 s > 1 s by default
	o.RetryMax = 100 * time.Millisecond
	r := runPiped(t, o, nil, nil)
	if r.res.Status != 0 || string(r.stdout) != "one\ntwo\n" {
		t.Fatalf("status %d stdout %q", r.res.Status, r.stdout)
	}
	rec := f.recording()
	f.mu.Lock()
	closes := len(f.closes)
	f.mu.Unlock()
	if closes != 1 || string(rec.out) != "one\ntwo\n" {
		t.Errorf("%d closes, recorded %q: the recorder gave up while recd was busy", closes, rec.out)
	}
	checkNoLeaks(t)
}

// Two resumes at the same point (recd killed again before it wrote more of the event
// the journal ends in) drop the event's written bytes once: the skip counts from the
// event's first byte, not from what the previous resume left. (Found by the load test's
// chaos run: the second resume silently dropped the rest of the event.)
func TestQueueResumeTwiceAtTheSamePoint(t *testing.T) {
	q := newQueue(1<<20, false, time.Now())
	q.addData(proto.EventOutput, []byte("0123456789"), true)
	q.addData(proto.EventOutput, []byte("next"), true) // coalesced or not: it follows
	if b, _ := q.take(nil, maxFramePayload, flushBytes, 0, true); len(b) == 0 {
		t.Fatal("nothing to send")
	}
	first := q.firstUnacked()
	want := ""
	for _, skip := range []uint32{4, 4, 6} {
		q.resume(first, skip)
		b, _ := q.take(nil, maxFramePayload, flushBytes, 0, true)
		var got string
		for _, e := range b {
			got += string(e.Data)
		}
		want = "0123456789next"[skip:]
		if got != want {
			t.Errorf("after resume(%d, %d): resent %q, want %q", first, skip, got, want)
		}
	}
}

// A resume refused in the grant (recd closed the recording while the recorder was away)
// is final: the session goes on unrecorded, and the recorder does not ask again.
func TestResumeRefusedIsFinal(t *testing.T) {
	set := defaultSettings()
	set.RecordCommands = "full"
	f := newFakeRecd(t, set)
	first := true
	f.afterGrant = func(f *fakeRecd) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !first {
			return false
		}
		first = false
		f.grant.Refused = "recording rec-1 was closed while the recorder was away; it cannot be resumed"
		return true // the connection drops: the recorder resumes, and is refused
	}
	o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "echo one; sleep 1; echo two")
	o.OpenTimeout = 200 * time.Millisecond
	o.RetryMax = 50 * time.Millisecond
	r := runPiped(t, o, nil, nil)
	if r.res.Status != 0 || string(r.stdout) != "one\ntwo\n" {
		t.Fatalf("status %d stdout %q", r.res.Status, r.stdout)
	}
	f.mu.Lock()
	opens := len(f.opens)
	f.mu.Unlock()
	if opens != 2 {
		t.Errorf("%d opens, want 2 (the first and one refused resume)", opens)
	}
	checkNoLeaks(t)
}
