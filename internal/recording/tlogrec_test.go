package recording

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/journal/journaltest"
	rt "github.com/recd-dev/recd/internal/recording/recordingtest"
)

// tlogRecCmd prints UTF-8, invalid bytes and escape sequences, with pauses; on the
// pseudo-terminal "\n" becomes "\r\n".
const tlogRecCmd = `printf 'h\303\251llo\n'; sleep 0.3; printf 'bad:\377\376 \033[1mbold\033[0m\n'; sleep 0.2; printf 'end\n'`

const tlogRecOutput = "h\xc3\xa9llo\r\nbad:\xff\xfe \x1b[1mbold\x1b[0m\r\nend\r\n"

// TestRealTlogRecording: a recording made by Debian's tlog-rec is listed as unverified,
// decodes to exactly the bytes the program wrote, and its tlog export plays in tlog-play.
func TestRealTlogRecording(t *testing.T) {
	msgs := rt.TlogRec(t, tlogRecCmd)
	path := journaltest.Import(t, t.TempDir(), "tlog.journal", journaltest.Export(time.Now(), rt.TlogRecEntries(msgs)))
	src := journal.Source{Files: []string{path}}
	list, err := List(context.Background(), src, ListOptions{Grep: "bold"})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	s := list[0]
	if s.Kind != KindTlog || s.Status != StatusUnverified || s.User != "root" || s.BytesOut != int64(len(tlogRecOutput)) ||
		s.Duration < 500*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	r, err := Load(context.Background(), src, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := r.Decode(false)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(outputOf(pkts)); got != tlogRecOutput {
		t.Fatalf("decoded output %q, want %q", got, tlogRecOutput)
	}
	if rep := Verify(r); rep.Verifiable || len(rep.Problems) > 0 {
		t.Fatalf("verify:\n%s", rep.Text())
	}

	if _, err := exec.LookPath("tlog-play"); err != nil {
		t.Skip("tlog-play is not installed")
	}
	var exp bytes.Buffer
	if err := WriteTlog(&exp, r); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rec.tlog")
	os.WriteFile(file, exp.Bytes(), 0o644)
	cmd := exec.Command("tlog-play", "-r", "file", "-i", file)
	// tlog-play spins on a stdin at EOF (tlog-format.md §4): give it a pipe that stays open.
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tlog-play: %v", err)
	}
	if !strings.HasPrefix(string(out), tlogRecOutput) {
		t.Fatalf("tlog-play output %q, want %q first", out, tlogRecOutput)
	}
}
