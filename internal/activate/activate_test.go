package activate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/snapshot"
)

type fixture struct {
	dir  string
	opts Options
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, opts: Options{
		ConfigPath:   filepath.Join(dir, "recd.conf"),
		DropinDir:    filepath.Join(dir, "conf.d"),
		SnapshotPath: filepath.Join(dir, "policy"),
		PasswdPath:   filepath.Join(dir, "passwd"),
		GroupPath:    filepath.Join(dir, "group"),
	}}
	f.write(t, "passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n")
	f.write(t, "group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\nwheel:x:10:bob\n")
	f.write(t, "rec", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(dir, "rec"), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) recorded(t *testing.T) []string {
	t.Helper()
	s, err := snapshot.Read(f.opts.SnapshotPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range s.Recorded() {
		names = append(names, e.Name)
	}
	return names
}

func TestActivate(t *testing.T) {
	tests := []struct {
		name, conf string
		want       string // recorded users, comma-separated
		wantErr    string
	}{
		{"users", "[session_recording]\nscope = some\nusers = alice\n[recorder]\nrecorder = REC\n", "alice", ""},
		{"groups", "[session_recording]\nscope = SOME\ngroups = wheel\n[recorder]\nrecorder = REC\n", "bob", ""},
		{"all but excluded", "[session_recording]\nscope = all\nexclude_users = root\n[recorder]\nrecorder = REC\n", "alice,bob", ""},
		{"none", "[session_recording]\nscope = none\n[recorder]\nrecorder = REC\n", "", ""},
		{"bad key", "[session_recording]\nscope = some\nuser = alice\n", "", "recd.conf:3: [session_recording] user: unknown key"},
		{"recorder missing", "[session_recording]\nscope = some\n[recorder]\nrecorder = /nonexistent/rec\n", "", "recd.conf:4: [recorder] recorder: /nonexistent/rec does not exist"},
		{"recorder not executable", "[session_recording]\nscope = some\n[recorder]\nrecorder = PASSWD\n", "", "is not executable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			conf := strings.ReplaceAll(tc.conf, "REC", filepath.Join(f.dir, "rec"))
			conf = strings.ReplaceAll(conf, "PASSWD", f.opts.PasswdPath)
			f.write(t, "recd.conf", conf)
			summary, err := f.opts.Activate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				if _, err := os.Stat(f.opts.SnapshotPath); !os.IsNotExist(err) {
					t.Fatalf("a failed activation wrote a snapshot (%v)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(f.recorded(t), ","); got != tc.want {
				t.Fatalf("recorded %q, want %q (summary %q)", got, tc.want, summary)
			}
		})
	}
}

func TestBrokenEditKeepsSnapshot(t *testing.T) {
	f := newFixture(t)
	f.write(t, "recd.conf", "[session_recording]\nscope = some\nusers = alice\n[recorder]\nrecorder = "+filepath.Join(f.dir, "rec")+"\n")
	if _, err := f.opts.Activate(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(f.opts.SnapshotPath)
	f.write(t, "recd.conf", "[session_recording]\nscope = sometimes\n")
	if _, err := f.opts.Activate(); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("a bad scope was activated: %v", err)
	}
	after, _ := os.ReadFile(f.opts.SnapshotPath)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed activation changed the snapshot")
	}
}

func TestTlogConfText(t *testing.T) {
	r := config.Default().Recorder
	r.LogInput = true
	var got map[string]any
	if err := json.Unmarshal([]byte(TlogConfText(&r)), &got); err != nil {
		t.Fatal(err)
	}
	// Only keys tlog-rec-session accepts from the environment (its validation is strict).
	for k := range got {
		switch k {
		case "notice", "latency", "payload", "log", "limit":
		default:
			t.Errorf("key %q is not one tlog accepts from TLOG_REC_SESSION_CONF_TEXT", k)
		}
	}
	if got["log"].(map[string]any)["input"] != true || got["limit"].(map[string]any)["action"] != "pass" {
		t.Errorf("settings not carried over: %v", got)
	}
}
