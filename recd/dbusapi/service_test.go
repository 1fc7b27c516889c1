package dbusapi

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
	"github.com/recd-dev/recd/internal/proto"
)

// fakeBackend stands in for the daemon: Reload re-reads the configuration (or fails with
// failWith) and remembers why it was called.
type fakeBackend struct {
	mu                    sync.Mutex
	configPath, dropinDir string
	failWith              error
	reasons               []string
	summary               string
	sessions              []Session
}

func (b *fakeBackend) Reload(why string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reasons = append(b.reasons, why)
	if b.failWith != nil {
		return b.failWith
	}
	c, err := config.Load(b.configPath, b.dropinDir)
	if err != nil {
		return err
	}
	b.summary = "scope=" + c.Policy.Scope.String() + " users=" + strings.Join(c.Policy.Users, ",")
	return nil
}

func (b *fakeBackend) Status() proto.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return proto.Status{PID: 42, Started: "2024-01-02T03:04:05Z", PolicySummary: b.summary, Reloads: len(b.reasons), Sessions: len(b.sessions)}
}

func (b *fakeBackend) Sessions() []Session { return b.sessions }

type fixture struct {
	svc     *Service
	backend *fakeBackend
	conf    string
	logs    *bytes.Buffer
	// uids maps a sender to its UID.
	uids map[dbus.Sender]uint32
}

const (
	rootSender    = dbus.Sender(":1.1")
	aliceSender   = dbus.Sender(":1.2") // uid 1000, listed member of auditors
	bobSender     = dbus.Sender(":1.3") // uid 1001, primary group auditors
	mallorySender = dbus.Sender(":1.4") // uid 1002, no auditor
)

func newFixture(t *testing.T, conf string) *fixture {
	t.Helper()
	dir := t.TempDir()
	w := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	passwd := w("passwd", "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\nbob:x:1001:900::/h:/bin/sh\nmallory:x:1002:1002::/h:/bin/sh\n")
	group := w("group", "root:x:0:\nauditors:x:900:alice\nalice:x:1000:\nmallory:x:1002:\n")
	f := &fixture{conf: w("recd.conf", conf), logs: &bytes.Buffer{},
		uids: map[dbus.Sender]uint32{rootSender: 0, aliceSender: 1000, bobSender: 1001, mallorySender: 1002}}
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.backend = &fakeBackend{configPath: f.conf, dropinDir: filepath.Join(dir, "conf.d")}
	dirdb := &policy.FilesDirectory{PasswdPath: passwd, GroupPath: group}
	f.svc = newService(Options{Backend: f.backend, ConfigPath: f.conf, DropinDir: filepath.Join(dir, "conf.d"),
		Directory: dirdb, Log: log.New(f.logs, "", 0)}, func(s dbus.Sender) (uint32, error) {
		uid, ok := f.uids[s]
		if !ok {
			return 0, fmt.Errorf("unknown sender %s", s)
		}
		return uid, nil
	})
	f.svc.userName = func(uid uint32) (string, error) {
		u, ok := map[uint32]string{0: "root", 1000: "alice", 1001: "bob", 1002: "mallory"}[uid]
		if !ok {
			return "", errors.New("no such uid")
		}
		return u, nil
	}
	return f
}

func (f *fixture) read(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantError(t *testing.T, what string, derr *dbus.Error, name, contains string) {
	t.Helper()
	if derr == nil {
		t.Fatalf("%s: no error, want %s", what, name)
	}
	if derr.Name != name || !strings.Contains(derr.Error(), contains) {
		t.Fatalf("%s: error %s %q, want %s containing %q", what, derr.Name, derr.Error(), name, contains)
	}
}

const baseConf = "# keep this comment\n[session_recording]\nscope = none\n\n[access]\nauditors = auditors\n"

func TestRootEditsAndActivates(t *testing.T) {
	f := newFixture(t, baseConf)
	changes, warnings, written, summary, actErr, derr := f.svc.SetScope(rootSender, "some")
	if derr != nil || !written || actErr != "" || len(warnings) != 0 {
		t.Fatalf("SetScope: %v written=%v act=%q warnings=%q", derr, written, actErr, warnings)
	}
	if len(changes) != 1 || changes[0] != (Change{Key: "scope", Old: "none", New: "some", WasSet: true}) {
		t.Fatalf("SetScope changes: %+v", changes)
	}
	if summary != "scope=some users=" {
		t.Fatalf("summary %q", summary)
	}
	changes, _, written, summary, _, derr = f.svc.EditList(rootSender, "users", "add", []string{"alice", "bob"})
	if derr != nil || !written || summary != "scope=some users=alice,bob" {
		t.Fatalf("EditList add: %v written=%v summary=%q", derr, written, summary)
	}
	if changes[0] != (Change{Key: "users", Old: "", New: "alice, bob", WasSet: false}) {
		t.Fatalf("EditList changes: %+v", changes)
	}
	if got := f.read(t); !strings.HasPrefix(got, "# keep this comment\n") || !strings.Contains(got, "users = alice, bob") {
		t.Fatalf("file after edits:\n%s", got)
	}
	// Same again: nothing written, no reload.
	before := len(f.backend.reasons)
	if _, _, written, _, _, derr = f.svc.EditList(rootSender, "users", "add", []string{"alice"}); derr != nil || written {
		t.Fatalf("repeated add: %v written=%v", derr, written)
	}
	if len(f.backend.reasons) != before {
		t.Fatal("an edit that changed nothing reloaded")
	}
	if !strings.Contains(f.backend.reasons[0], "SetScope over D-Bus by uid 0") {
		t.Fatalf("reload reasons %q", f.backend.reasons)
	}
	if !strings.Contains(f.logs.String(), "D-Bus: EditList \"users add alice,bob\" from uid 0: wrote ") {
		t.Fatalf("log:\n%s", f.logs)
	}

	// SetPolicy sets all five keys.
	_, _, written, _, _, derr = f.svc.SetPolicy(rootSender, "all", nil, nil, []string{"root"}, []string{"wheel"})
	if derr != nil || !written {
		t.Fatalf("SetPolicy: %v", derr)
	}
	scope, users, groups, xu, xg, derr := f.svc.GetPolicy(rootSender)
	if derr != nil || scope != "all" || len(users) != 0 || len(groups) != 0 || strings.Join(xu, ",") != "root" || strings.Join(xg, ",") != "wheel" {
		t.Fatalf("GetPolicy after SetPolicy: %q %q %q %q %q %v", scope, users, groups, xu, xg, derr)
	}
	if summary, derr := f.svc.Reload(rootSender); derr != nil || summary != "scope=all users=" {
		t.Fatalf("Reload: %q %v", summary, derr)
	}
}

func TestOnlyRootEdits(t *testing.T) {
	f := newFixture(t, baseConf)
	before := f.read(t)
	for _, s := range []dbus.Sender{aliceSender, bobSender, mallorySender} {
		_, _, _, _, _, derr := f.svc.SetScope(s, "all")
		wantError(t, "SetScope from "+string(s), derr, ErrAccessDenied, "root only")
		_, _, _, _, _, derr = f.svc.EditList(s, "users", "add", []string{"x"})
		wantError(t, "EditList from "+string(s), derr, ErrAccessDenied, "root only")
		_, _, _, _, _, derr = f.svc.SetPolicy(s, "all", nil, nil, nil, nil)
		wantError(t, "SetPolicy from "+string(s), derr, ErrAccessDenied, "root only")
		_, derr = f.svc.Reload(s)
		wantError(t, "Reload from "+string(s), derr, ErrAccessDenied, "root only")
	}
	_, _, _, _, _, derr := f.svc.SetScope(":1.99", "all")
	wantError(t, "SetScope from an unknown sender", derr, ErrAccessDenied, "cannot tell who you are")
	if f.read(t) != before || len(f.backend.reasons) != 0 {
		t.Fatal("a refused call changed the file or reloaded")
	}
	if !strings.Contains(f.logs.String(), "SetScope from uid 1002 (:1.4) refused: root only") {
		t.Fatalf("refusals are not logged:\n%s", f.logs)
	}
}

func TestAuditorsRead(t *testing.T) {
	f := newFixture(t, baseConf)
	f.backend.sessions = []Session{{User: "alice", Service: "sshd", TTY: "ssh", RHost: "10.0.0.1", UID: 1000, PID: 77,
		AuditSession: 3, Opened: time.UnixMicro(1700000000123456)}}
	for _, s := range []dbus.Sender{rootSender, aliceSender, bobSender} {
		if scope, _, _, _, _, derr := f.svc.GetPolicy(s); derr != nil || scope != "none" {
			t.Errorf("GetPolicy from %s: %q %v", s, scope, derr)
		}
		st, derr := f.svc.GetStatus(s)
		if derr != nil || st["pid"].Value() != uint32(42) || st["config_path"].Value() != f.conf {
			t.Errorf("GetStatus from %s: %v %v", s, st, derr)
		}
		ss, derr := f.svc.ListSessions(s)
		if derr != nil || len(ss) != 1 || ss[0] != (wireSession{"alice", "sshd", "ssh", "10.0.0.1", 1000, 77, 3, 1700000000123456}) {
			t.Errorf("ListSessions from %s: %+v %v", s, ss, derr)
		}
	}
	_, _, _, _, _, derr := f.svc.GetPolicy(mallorySender)
	wantError(t, "GetPolicy from mallory", derr, ErrAccessDenied, "mallory is not a member of the auditors group auditors")
	_, derr = f.svc.ListSessions(mallorySender)
	wantError(t, "ListSessions from mallory", derr, ErrAccessDenied, "root and the auditors group")

	// Without an auditors group only root reads.
	if err := os.WriteFile(f.conf, []byte("[session_recording]\nscope = none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, derr = f.svc.GetStatus(aliceSender)
	wantError(t, "GetStatus without auditors", derr, ErrAccessDenied, "no [access] auditors group is configured")
}

func TestBadArgumentsAndConfigs(t *testing.T) {
	f := newFixture(t, baseConf)
	before := f.read(t)
	tests := []struct {
		what     string
		call     func() *dbus.Error
		name     string
		contains string
	}{
		{"bad scope", func() *dbus.Error { _, _, _, _, _, e := f.svc.SetScope(rootSender, "most"); return e }, ErrInvalidArgs, `invalid scope "most"`},
		{"bad key", func() *dbus.Error {
			_, _, _, _, _, e := f.svc.EditList(rootSender, "scope", "set", []string{"all"})
			return e
		}, ErrInvalidArgs, `unknown list "scope"`},
		{"bad action", func() *dbus.Error {
			_, _, _, _, _, e := f.svc.EditList(rootSender, "users", "append", []string{"x"})
			return e
		}, ErrInvalidArgs, `unknown action "append"`},
		{"no names", func() *dbus.Error { _, _, _, _, _, e := f.svc.EditList(rootSender, "groups", "add", nil); return e }, ErrInvalidArgs, "at least one name"},
		{"bad name", func() *dbus.Error {
			_, _, _, _, _, e := f.svc.EditList(rootSender, "users", "add", []string{"a,b"})
			return e
		}, ErrInvalidArgs, "users"},
		{"bad name in SetPolicy", func() *dbus.Error {
			_, _, _, _, _, e := f.svc.SetPolicy(rootSender, "some", []string{"ok", "bad\nname"}, nil, nil, nil)
			return e
		}, ErrInvalidArgs, "users"},
	}
	for _, tc := range tests {
		wantError(t, tc.what, tc.call(), tc.name, tc.contains)
	}
	if f.read(t) != before {
		t.Fatal("a refused call changed the file")
	}

	// A broken drop-in makes every edit invalid: refused, nothing written.
	if err := os.WriteFile(filepath.Join(f.backend.dropinDir, "50-bad.conf"), []byte("[session_recording]\nscope = maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, _, derr := f.svc.SetScope(rootSender, "all")
	wantError(t, "SetScope with a broken drop-in", derr, ErrInvalidConfig, "50-bad.conf:2")
	_, derr = f.svc.Reload(rootSender)
	if derr == nil || derr.Name != ErrInvalidConfig {
		t.Fatalf("Reload with a broken drop-in: %v", derr)
	}
	if f.read(t) != before {
		t.Fatal("a refused edit changed the file")
	}
}

func TestActivationErrorIsReported(t *testing.T) {
	f := newFixture(t, baseConf)
	f.backend.failWith = errors.New("recorder /nonexistent is missing")
	f.backend.summary = "scope=none (old)"
	_, _, written, summary, actErr, derr := f.svc.SetScope(rootSender, "all")
	if derr != nil || !written || actErr != "recorder /nonexistent is missing" || summary != "scope=none (old)" {
		t.Fatalf("SetScope with a failing activation: %v written=%v summary=%q act=%q", derr, written, summary, actErr)
	}
}

func TestLogQuote(t *testing.T) {
	for in, want := range map[string]string{"users": "users", "a b": `"a b"`, "x\ny": `"x\ny"`, "k=v": `"k=v"`} {
		if got := logQuote(in); got != want {
			t.Errorf("logQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
