package dbusapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/policy"
)

// privateBus starts a dbus-daemon of its own on a socket in a temporary directory (no
// system bus is touched) and returns its address. It skips without dbus-daemon.
func privateBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed (Debian: dbus-daemon; make deps installs it); skipping")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			t.Fatalf("dbus-daemon printed no address: %s", stderr.String())
		}
		return addr
	case <-time.After(10 * time.Second):
		t.Fatalf("dbus-daemon did not start: %s", stderr.String())
	}
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Through a real bus: Serve takes the name, a Client edits, reads and lists, Introspect
// answers the documented interface, a second server cannot take the name, and the client
// says ErrNotServing once the server is gone.
func TestServeOnARealBus(t *testing.T) {
	addr := privateBus(t)
	f := newFixture(t, baseConf)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Serve(ctx, Options{Backend: f.backend, ConfigPath: f.conf, DropinDir: f.backend.dropinDir,
			Directory: policy.System(), Address: addr, Log: log.New(logs, "", 0)})
		close(done)
	}()
	defer func() { cancel(); <-done }()

	var c *Client
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		c, err = Dial(context.Background(), addr)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNotServing) || time.Now().After(deadline) {
			t.Fatalf("Dial: %v\nserver log:\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()

	// This test runs as whoever runs go test; the fixture's callerUID is replaced by the
	// bus's answer, so only root may edit.
	res, err := c.SetScope("some")
	if os.Geteuid() != 0 {
		if ErrorName(err) != ErrAccessDenied {
			t.Fatalf("SetScope as uid %d: %v, want AccessDenied", os.Geteuid(), err)
		}
		return
	}
	if err != nil || !res.Written || len(res.Changes) != 1 || res.Changes[0].New != "some" || res.Summary != "scope=some users=" {
		t.Fatalf("SetScope: %+v %v\n%s", res, err, logs.String())
	}
	if res, err = c.EditList("users", "add", []string{"root"}); err != nil || res.Summary != "scope=some users=root" {
		t.Fatalf("EditList: %+v %v", res, err)
	}
	if res, err = c.SetPolicy(Policy{Scope: "all", ExcludeUsers: []string{"root"}}); err != nil || !res.Written {
		t.Fatalf("SetPolicy: %+v %v", res, err)
	}
	p, err := c.Policy()
	if err != nil || p.Scope != "all" || strings.Join(p.ExcludeUsers, ",") != "root" || len(p.Users) != 0 {
		t.Fatalf("GetPolicy: %+v %v", p, err)
	}
	_, err = c.SetScope("most")
	if ErrorName(err) != ErrInvalidArgs || !strings.Contains(err.Error(), `invalid scope "most"`) {
		t.Fatalf("SetScope most: %v (%s)", err, ErrorName(err))
	}
	st, err := c.Status()
	if err != nil || StatusString(st, "config_path") != f.conf || st["pid"].Value() != uint32(42) {
		t.Fatalf("GetStatus: %v %v", st, err)
	}
	f.backend.sessions = []Session{{User: "alice", Service: "sshd", TTY: "ssh", UID: 1000, PID: 9, AuditSession: 4294967295,
		Opened: time.UnixMicro(1700000000000001)}}
	ss, err := c.Sessions()
	if err != nil || len(ss) != 1 || ss[0].User != "alice" || !ss[0].Opened.Equal(time.UnixMicro(1700000000000001)) {
		t.Fatalf("ListSessions: %+v %v", ss, err)
	}
	if s, err := c.Reload(); err != nil || s == "" {
		t.Fatalf("Reload: %q %v", s, err)
	}

	var xmlText string
	if err := c.conn.Object(BusName, ObjectPath).Call("org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&xmlText); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<interface name="dev.recd.Recd1">`, `<method name="EditList">`, `name="activation_error" type="s" direction="out"`,
		`<interface name="org.freedesktop.DBus.Introspectable">`} {
		if !strings.Contains(xmlText, want) {
			t.Errorf("Introspect lacks %s:\n%s", want, xmlText)
		}
	}

	// A second recd cannot take the name.
	served, err := serveOnce(context.Background(), Options{Backend: f.backend, Address: addr, Log: log.New(&bytes.Buffer{}, "", 0)})
	if served || err == nil || !strings.Contains(err.Error(), "another process owns dev.recd.Recd1") {
		t.Fatalf("second server: served=%v %v", served, err)
	}

	cancel()
	<-done
	deadline = time.Now().Add(5 * time.Second)
	for {
		c2, err := Dial(context.Background(), addr)
		if errors.Is(err, ErrNotServing) {
			break
		}
		if c2 != nil {
			c2.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("Dial after the server stopped: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "D-Bus: serving dev.recd.Recd1 at /dev/recd/Recd1") {
		t.Errorf("server log:\n%s", logs.String())
	}
}

// Without a bus, Serve says once why and keeps trying until it is stopped; Dial says
// ErrNotServing.
func TestServeWithoutABus(t *testing.T) {
	addr := "unix:path=" + filepath.Join(t.TempDir(), "nobody-listens")
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	Serve(ctx, Options{Backend: &fakeBackend{}, Address: addr, Log: log.New(logs, "", 0)})
	if n := strings.Count(logs.String(), "management API not available"); n != 1 {
		t.Fatalf("%d lines about the missing bus, want 1:\n%s", n, logs.String())
	}
	if _, err := Dial(context.Background(), addr); !errors.Is(err, ErrNotServing) {
		t.Fatalf("Dial without a bus: %v", err)
	}
}
