package activate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A drop-in that users other than root can change is refused by activation, which names
// the file and the fix; the snapshot in force stays; fixing the mode activates it.
func TestHardeningUntrustedDropinKeepsSnapshot(t *testing.T) {
	f := newFixture(t)
	f.write(t, "recd.conf", "[session_recording]\nscope = some\nusers = alice\n[recorder]\nrecorder = "+filepath.Join(f.dir, "rec")+"\n")
	if _, err := f.opts.Activate(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(f.opts.SnapshotPath)
	os.Mkdir(f.opts.DropinDir, 0o755)
	dropin := filepath.Join(f.opts.DropinDir, "50-evil.conf")
	os.WriteFile(dropin, []byte("[session_recording]\nscope = none\n"), 0o644)
	if err := os.Chmod(dropin, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := f.opts.Activate()
	if err == nil || !strings.Contains(err.Error(), dropin) || !strings.Contains(err.Error(), "chmod go-w "+dropin) {
		t.Fatalf("a world-writable drop-in: %v", err)
	}
	if after, _ := os.ReadFile(f.opts.SnapshotPath); !bytes.Equal(before, after) {
		t.Fatal("a refused activation changed the snapshot")
	}
	if got := strings.Join(f.recorded(t), ","); got != "alice" {
		t.Fatalf("recorded %q, want the last good policy (alice)", got)
	}
	os.Chmod(dropin, 0o644)
	if _, err := f.opts.Activate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.recorded(t), ","); got != "" {
		t.Fatalf("recorded %q after the fix, want nobody (scope = none)", got)
	}
}
