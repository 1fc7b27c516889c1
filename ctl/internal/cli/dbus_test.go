package cli

import (
	"bufio"
	"bytes"
	"context"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/recd/dbusapi"
)

// busBackend is a recd stand-in behind the D-Bus API: Reload activates like recd does.
type busBackend struct {
	mu      sync.Mutex
	app     *App
	summary string
	reloads int
}

func (b *busBackend) Reload(string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.app.activation().Activate()
	if err != nil {
		return err
	}
	b.summary, b.reloads = s, b.reloads+1
	return nil
}

func (b *busBackend) Status() proto.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return proto.Status{PolicySummary: b.summary, Reloads: b.reloads}
}

func (b *busBackend) Sessions() []dbusapi.Session { return nil }

// testBus starts a private dbus-daemon (no system bus is touched) and returns its address.
func testBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed; skipping")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<busconfig><type>session</type><listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
<auth>EXTERNAL</auth><policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(addr) == "" {
		t.Fatal("dbus-daemon printed no address")
	}
	return strings.TrimSpace(addr)
}

// With recd on the bus for the same files, an edit goes through it (recd writes and
// activates); for other files, or with nobody on the bus, recctl edits the file itself.
func TestEditsGoThroughDBus(t *testing.T) {
	addr := testBus(t)
	e := newEnv(t, "[session_recording]\nscope = some\n"+recorderSh).withActivation()
	e.app.DBusAddress = addr
	backend := &busBackend{app: e.app}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		dbusapi.Serve(ctx, dbusapi.Options{Backend: backend, ConfigPath: e.app.ConfigPath, DropinDir: e.app.DropinDir,
			Directory: e.app.Directory, Address: addr, Log: log.New(&logs, "", 0)})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := dbusapi.Dial(context.Background(), addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the API never appeared on the bus")
		}
	}

	code := e.run("users", "add", "bob")
	if os.Geteuid() != 0 {
		// The bus says we are not root: recd refuses, recctl edits the file itself.
		if code != ExitOK || !strings.Contains(e.stderr.String(), "AccessDenied") && !strings.Contains(e.stderr.String(), "root only") {
			t.Fatalf("users add as non-root: code %d\n%s%s", code, e.stdout, e.stderr)
		}
		return
	}
	if code != ExitOK || !strings.Contains(e.stdout.String(), "users: (not set) → bob") ||
		!strings.Contains(e.stdout.String(), "Policy activated by recd (through D-Bus): scope=some users=bob") {
		t.Fatalf("users add over D-Bus: code %d\n%s%s", code, e.stdout, e.stderr)
	}
	if backend.reloads != 1 {
		t.Fatalf("recd activated %d times, want 1", backend.reloads)
	}
	if snap, err := os.ReadFile(e.app.SnapshotPath); err != nil || !strings.Contains(string(snap), "\nuser bob\n") {
		t.Fatalf("snapshot after users add bob: %v\n%s", err, snap)
	}

	// A refused edit reads as it does without recd.
	if code := e.run("scope", "all", "extra"); code != ExitUsage {
		t.Fatalf("scope with two arguments: %d", code)
	}
	if err := os.WriteFile(filepath.Join(e.app.DropinDir, "50-bad.conf"), []byte("[session_recording]\nscope = maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := e.run("scope", "all"); code != ExitUsage || !strings.Contains(e.stderr.String(), "recctl: scope: ") ||
		!strings.Contains(e.stderr.String(), "50-bad.conf:2") {
		t.Fatalf("scope all with a broken drop-in: code %d\n%s%s", code, e.stdout, e.stderr)
	}
	os.Remove(filepath.Join(e.app.DropinDir, "50-bad.conf"))

	// import-sssd sets the five keys through SetPolicy.
	sssd := filepath.Join(e.dir, "sssd.conf")
	if err := os.WriteFile(sssd, []byte("[session_recording]\nscope = all\nexclude_users = root\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := e.run("import-sssd", sssd); code != ExitOK || !strings.Contains(e.stdout.String(), "(through D-Bus): scope=all") {
		t.Fatalf("import-sssd over D-Bus: code %d\n%s%s", code, e.stdout, e.stderr)
	}

	// recd serving other files: recctl edits its own and activates it without recd's API.
	e.app.ConfigPath = filepath.Join(e.dir, "other.conf")
	if err := os.WriteFile(e.app.ConfigPath, []byte("[session_recording]\nscope = none\n"+recorderSh), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := e.run("scope", "some"); code != ExitOK || strings.Contains(e.stdout.String(), "D-Bus") ||
		!strings.Contains(e.stdout.String(), "Policy activated (recd is not running") {
		t.Fatalf("scope some on other files: code %d\n%s%s", code, e.stdout, e.stderr)
	}
	if !strings.Contains(logs.String(), "D-Bus: EditList \"users add bob\" from uid 0: wrote") {
		t.Errorf("recd's log:\n%s", logs.String())
	}
}
