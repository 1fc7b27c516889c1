package cli

import (
	"strings"
	"testing"

	"github.com/recd-dev/recd/internal/journal/journaltest"
	rt "github.com/recd-dev/recd/internal/recording/recordingtest"
)

func TestVerifyCommand(t *testing.T) {
	good := rt.NewRecd("rec-good", "alice", "h1")
	good.Output(rt.Chunk{Text: "ok\r\n"})
	good.Close("complete", 4)
	path := recordings(t)
	goodPath := journaltest.Import(t, t.TempDir(), "g.journal", journaltest.Export(t0, good.Entries()))
	e := newEnv(t, "")
	tests := []struct {
		name string
		uid  int
		args []string
		code int
		out  []string
		err  string
	}{
		{"intact", 0, []string{"rec-good", "--file", goodPath}, 0, []string{"rec-good: OK", "made by recd; user alice on h1; 3 entries, 1 messages"}, ""},
		{"forged entry", 0, []string{"rec-a", "--file", path}, 1, []string{"rec-a: FAILED (1 problems)", "forged: names recording rec-a but was written by _UID=1000 _COMM=logger", "not part of the chain"}, ""},
		{"no close entry", 0, []string{"rec-b", "--file", path}, 1, []string{"rec-b: FAILED", "no close entry"}, ""},
		{"tlog recording", 0, []string{"rec-t", "--file", path}, 1, []string{"rec-t: UNVERIFIABLE", "no hash chain"}, ""},
		{"several", 0, []string{"rec-a", "rec-b", "--file", path}, 1, []string{"rec-a: FAILED", "rec-b: FAILED"}, ""},
		{"unknown", 0, []string{"nope", "--file", path}, 2, nil, `no recording "nope"`},
		{"none", 0, []string{"--file", path}, 2, nil, "name at least one recording"},
		{"someone else's", 1000, []string{"rec-b", "--file", path}, 4, nil, "recording rec-b is bob's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.app.UID = tt.uid
			code := e.run(append([]string{"verify"}, tt.args...)...)
			if code != tt.code || !strings.Contains(e.stderr.String(), tt.err) {
				t.Fatalf("code %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, e.stdout, e.stderr)
			}
			for _, s := range tt.out {
				if !strings.Contains(e.stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, e.stdout)
				}
			}
		})
	}
}
