package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportCommand(t *testing.T) {
	path := recordings(t)
	e := newEnv(t, "")
	out := filepath.Join(t.TempDir(), "a.cast")
	if code := e.run("export", "rec-a", "--format", "asciicast", "-o", out, "--file", path); code != 0 {
		t.Fatalf("%d %s", code, e.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var h struct {
		Version, Width, Height int
	}
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Version != 2 || h.Width != 80 || h.Height != 24 {
		t.Fatalf("header %s: %v", lines[0], err)
	}
	want := [][3]any{{0.0, "o", "hello\r\n"}, {1.2, "o", "\x1b[1mworld\x1b[0m\r\n"}}
	if len(lines) != 3 {
		t.Fatalf("events:\n%s", data)
	}
	for i, l := range lines[1:] {
		var ev []any
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev[0] != want[i][0] || ev[1] != want[i][1] || ev[2] != want[i][2] {
			t.Errorf("event %d: %s (%v)", i, l, err)
		}
	}
	if code := e.run("export", "rec-a", "--format", "text", "--file", path); code != 0 || e.stdout.String() != "hello\nworld\n" {
		t.Fatalf("text: %d %q %s", code, e.stdout, e.stderr)
	}
	if code := e.run("export", "rec-a", "--format", "tlog", "--file", path); code != 0 || strings.Count(e.stdout.String(), "\n") != 2 ||
		!strings.HasPrefix(e.stdout.String(), `{"ver":"2.3"`) || strings.Contains(e.stdout.String(), "FAKE") {
		t.Fatalf("tlog: %d %q %s", code, e.stdout, e.stderr)
	}
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"export", "rec-a", "--file", path}, "--format is required"},
		{[]string{"export", "rec-a", "--format", "mp4", "--file", path}, `unknown format "mp4"`},
		{[]string{"export", "--format", "text", "--file", path}, "name exactly one recording"},
	} {
		if code := e.run(tt.args...); code != 2 || !strings.Contains(e.stderr.String(), tt.err) {
			t.Errorf("%v: %d %s", tt.args, code, e.stderr)
		}
	}
}
