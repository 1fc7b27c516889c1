package daemon

import (
	"syscall"
	"testing"

	"github.com/recd-dev/recd/internal/proto"
)

func TestSessionsList(t *testing.T) {
	d, _ := sessionDaemon(t, nil)
	for i, u := range []string{"alice", "bob"} {
		req := proto.Request{Op: proto.OpSessionOpen, User: u, Service: "sshd", TTY: "ssh", RHost: "10.0.0.9"}
		if resp := d.answer(&syscall.Ucred{Pid: int32(200 + i), Uid: 0}, req); !resp.OK {
			t.Fatalf("session-open %s: %+v", u, resp)
		}
	}
	got := d.Sessions()
	if len(got) != 2 || got[0].User != "alice" || got[1].User != "bob" {
		t.Fatalf("Sessions: %+v", got)
	}
	a := got[0]
	if a.Service != "sshd" || a.TTY != "ssh" || a.RHost != "10.0.0.9" || a.PID != 200 || a.UID != 0 ||
		a.AuditSession != proto.AuditSessionUnset || a.Opened.IsZero() {
		t.Fatalf("alice's session: %+v", a)
	}
}
