package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/recd-dev/recd/internal/proto"
)

// sessionDaemon is a daemon whose user database knows alice (1001) and bob (1002), whose
// processes are all alive unless listed in dead, and whose log goes to the returned buffer.
func sessionDaemon(t *testing.T, dead map[int32]bool) (*Daemon, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	d := New(Options{Activate: func() (string, error) { return "", nil }, Log: log.New(&buf, "", 0),
		JournalSocket: filepath.Join(t.TempDir(), "no-journal.socket")})
	d.lookupUID = func(name string) (uint32, error) {
		switch name {
		case "alice":
			return 1001, nil
		case "bob":
			return 1002, nil
		}
		return 0, errors.New("unknown user " + name)
	}
	d.auditSessionOf = func(pid int32) (uint32, bool) { return 0, false }
	d.sessions.alive = func(pid int32) bool { return !dead[pid] }
	return d, &buf
}

func TestSessionOpenClose(t *testing.T) {
	d, logs := sessionDaemon(t, nil)
	root := &syscall.Ucred{Pid: 123, Uid: 0}
	open := proto.Request{Op: proto.OpSessionOpen, User: "alice", Service: "sshd", TTY: "/dev/pts/1",
		RHost: "127.0.0.1", PID: 99999, AuditSession: 4}
	if resp := d.answer(root, open); !resp.OK {
		t.Fatalf("session-open: %+v", resp)
	}
	if n := d.Status().Sessions; n != 1 {
		t.Fatalf("after login: %d sessions, want 1", n)
	}
	// The logged pid is the peer's (SO_PEERCRED), not the one the client claimed.
	want := "login: user=alice service=sshd tty=/dev/pts/1 rhost=127.0.0.1 pid=123 audit_session=4\n"
	if logs.String() != want {
		t.Fatalf("log:\n%q\nwant\n%q", logs.String(), want)
	}
	logs.Reset()
	closeReq := open
	closeReq.Op = proto.OpSessionClose
	if resp := d.answer(root, closeReq); !resp.OK {
		t.Fatalf("session-close: %+v", resp)
	}
	if n := d.Status().Sessions; n != 0 {
		t.Fatalf("after logout: %d sessions, want 0", n)
	}
	if !strings.HasPrefix(logs.String(), "logout: user=alice service=sshd tty=/dev/pts/1 rhost=127.0.0.1 pid=123 audit_session=4 duration=") {
		t.Fatalf("log: %q", logs.String())
	}
	// A logout recd never saw the login of (recd restarted in between) is logged and accepted.
	logs.Reset()
	if resp := d.answer(root, closeReq); !resp.OK || !strings.Contains(logs.String(), "(no matching login)") {
		t.Fatalf("unmatched logout: %+v, log %q", resp, logs.String())
	}
}

func TestSessionIdentity(t *testing.T) {
	tests := []struct {
		name   string
		cred   syscall.Ucred
		user   string
		wantOK bool
	}{
		{"root may register anyone", syscall.Ucred{Pid: 10, Uid: 0}, "alice", true},
		{"root, unknown user", syscall.Ucred{Pid: 10, Uid: 0}, "ghost", true},
		{"a user registers their own login", syscall.Ucred{Pid: 11, Uid: 1001}, "alice", true},
		{"a user claims another user", syscall.Ucred{Pid: 12, Uid: 1002}, "alice", false},
		{"a user claims an unknown user", syscall.Ucred{Pid: 13, Uid: 1002}, "ghost", false},
		{"no user", syscall.Ucred{Pid: 14, Uid: 0}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, logs := sessionDaemon(t, nil)
			for _, op := range []string{proto.OpSessionOpen, proto.OpSessionClose} {
				resp := d.answer(&tc.cred, proto.Request{Op: op, User: tc.user, Service: "su"})
				if resp.OK != tc.wantOK {
					t.Fatalf("%s: got %+v, want ok=%v", op, resp, tc.wantOK)
				}
				// The client's first refusal is logged; its repeats are counted and summed
				// up once a minute (abuse.go), so the close is not logged again.
				if first := op == proto.OpSessionOpen; !tc.wantOK && tc.user != "" && strings.Contains(logs.String(), "refused "+op) != first {
					t.Errorf("%s: refusal logged=%v, want %v: %q", op, !first, first, logs.String())
				}
			}
			if n := d.Status().Sessions; n != 0 {
				t.Errorf("%d sessions left open", n)
			}
		})
	}
}

func TestSessionLogValues(t *testing.T) {
	d, logs := sessionDaemon(t, nil)
	d.auditSessionOf = func(pid int32) (uint32, bool) { return 77, true }
	req := proto.Request{Op: proto.OpSessionOpen, User: "alice", Service: "su", TTY: "",
		RHost: "evil\nlogin: user=root x=\"y\"", AuditSession: 4}
	if resp := d.answer(&syscall.Ucred{Pid: 5, Uid: 0}, req); !resp.OK {
		t.Fatal(resp)
	}
	// One line; the kernel's audit session wins over the client's; odd values are quoted.
	want := `login: user=alice service=su tty="" rhost="evil\nlogin: user=root x=\"y\"" pid=5 audit_session=77` + "\n"
	if logs.String() != want {
		t.Fatalf("log:\n%s\nwant\n%s", logs.String(), want)
	}
	logs.Reset()
	d.auditSessionOf = func(pid int32) (uint32, bool) { return 0, false }
	req.AuditSession = proto.AuditSessionUnset
	req.RHost = "héllo"
	d.answer(&syscall.Ucred{Pid: 6, Uid: 0}, req)
	if !strings.HasSuffix(logs.String(), "rhost=héllo pid=6 audit_session=unset\n") {
		t.Fatalf("log: %q", logs.String())
	}
}

func TestSessionTablePrunesDeadProcesses(t *testing.T) {
	dead := map[int32]bool{}
	d, _ := sessionDaemon(t, dead)
	for pid := int32(1); pid <= 3; pid++ {
		d.answer(&syscall.Ucred{Pid: pid, Uid: 0}, proto.Request{Op: proto.OpSessionOpen, User: "alice", Service: "sshd"})
	}
	if n := d.Status().Sessions; n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
	dead[1], dead[2] = true, true // their sshd died without closing
	d.answer(&syscall.Ucred{Pid: 4, Uid: 0}, proto.Request{Op: proto.OpSessionOpen, User: "bob", Service: "sshd"})
	if n := d.Status().Sessions; n != 2 {
		t.Fatalf("%d sessions after pruning, want 2", n)
	}
}

// Over the socket, with the frame pam_recd builds (escapes included), as a non-root user
// when the tests do not run as root: the peer's identity comes from SO_PEERCRED.
func TestSessionOverSocket(t *testing.T) {
	d, _, dir := startDaemon(t)
	c, err := net.Dial("unix", filepath.Join(dir, "run", "recd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := uint32(syscall.Getuid())
	d.lookupUID = func(name string) (uint32, error) {
		if name == "me" {
			return me, nil
		}
		return me + 1, nil
	}
	payload := `{"op":"session-open","user":"me","service":"sshd","tty":"a\"b\\c\u0001\ufffd","rhost":"::1","pid":1,"audit_session":4294967295}`
	if err := proto.WriteFrame(c, proto.Frame{Type: proto.TypeJSON, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	var resp proto.Response
	if err := proto.ReadJSON(c, &resp); err != nil || !resp.OK {
		t.Fatalf("session-open: %+v, %v", resp, err)
	}
	if n := d.Status().Sessions; n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	if err := proto.WriteJSON(c, proto.Request{Op: proto.OpSessionClose, User: "me", Service: "sshd", TTY: "a\"b\\c\x01\uFFFD"}); err != nil {
		t.Fatal(err)
	}
	if err := proto.ReadJSON(c, &resp); err != nil || !resp.OK {
		t.Fatalf("session-close: %+v, %v", resp, err)
	}
	if n := d.Status().Sessions; n != 0 {
		t.Fatalf("%d sessions after close, want 0", n)
	}
	if me != 0 {
		if err := proto.WriteJSON(c, proto.Request{Op: proto.OpSessionOpen, User: "other"}); err != nil {
			t.Fatal(err)
		}
		if err := proto.ReadJSON(c, &resp); err != nil || resp.OK || !strings.Contains(resp.Error, fmt.Sprintf("uid %d", me)) {
			t.Fatalf("session-open for another user: %+v, %v", resp, err)
		}
	}
}
