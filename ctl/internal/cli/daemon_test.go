package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withActivation points the App at a private snapshot and a socket nobody listens on, so
// reload and status work without recd.
func (e *env) withActivation() *env {
	e.app.SnapshotPath = filepath.Join(e.dir, "policy")
	e.app.SocketPath = filepath.Join(e.dir, "recd.sock")
	e.app.Reload = e.app.activate
	return e
}

const recorderSh = "\n[recorder]\nrecorder = /bin/sh\n"

func TestReloadWithoutDaemon(t *testing.T) {
	e := newEnv(t, "[session_recording]\nscope = some\nusers = alice\n"+recorderSh).withActivation()
	if code := e.run("reload"); code != ExitOK || !strings.Contains(e.stdout.String(), "recd is not running") ||
		!strings.Contains(e.stdout.String(), "scope=some users=alice") {
		t.Fatalf("reload: code %d\n%s%s", code, e.stdout, e.stderr)
	}
	good, err := os.ReadFile(e.app.SnapshotPath)
	if err != nil {
		t.Fatal(err)
	}
	if code := e.run("status"); code != ExitUnreachable || !strings.Contains(e.stdout.String(), "not running") ||
		!strings.Contains(e.stdout.String(), "policy in force: scope=some users=alice") {
		t.Fatalf("status: code %d\n%s%s", code, e.stdout, e.stderr)
	}

	// A broken hand edit: refused with file, line and key, the snapshot stays as it was,
	// and status says so.
	if err := os.WriteFile(e.app.ConfigPath, []byte("[session_recording]\nscope = some\nuser = bob\n"+recorderSh), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := e.run("reload"); code != ExitUsage || !strings.Contains(e.stderr.String(), "recd.conf:3: [session_recording] user: unknown key") {
		t.Fatalf("broken reload: code %d\n%s%s", code, e.stdout, e.stderr)
	}
	if now, _ := os.ReadFile(e.app.SnapshotPath); !bytes.Equal(now, good) {
		t.Fatal("a refused reload changed the snapshot")
	}
	if code := e.run("status"); code != ExitNegative || !strings.Contains(e.stdout.String(), "does not validate") {
		t.Fatalf("status after a broken edit: code %d\n%s%s", code, e.stdout, e.stderr)
	}
}

func TestEditActivates(t *testing.T) {
	e := newEnv(t, "[session_recording]\nscope = some\n"+recorderSh).withActivation()
	if code := e.run("users", "add", "bob"); code != ExitOK || !strings.Contains(e.stdout.String(), "Policy activated") {
		t.Fatalf("users add: code %d\n%s%s", code, e.stdout, e.stderr)
	}
	snap, err := os.ReadFile(e.app.SnapshotPath)
	if err != nil || !strings.Contains(string(snap), "\nuser bob\n") {
		t.Fatalf("snapshot after users add bob: %v\n%s", err, snap)
	}
}
