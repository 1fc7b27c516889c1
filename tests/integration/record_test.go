package integration

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/chain"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/tests/testhost"
)

// recd writes recordings through its journal writer child: with the real journald every
// entry of a recording has _COMM=tlog-rec-sessio (so Cockpit's listing finds it), _UID=0
// and _EXE=recd, the chain verifies, tlog-play replays it — while recd itself is still
// "recd" in ps. The recorder here is a small Go client (tests/cmd/fakerecorder) running
// as alice, not recd-session.
func TestRecdWritesWithTlogComm(t *testing.T) {
	t.Parallel()
	h := testhost.New(t)
	h.StartJournald()
	h.Install()
	h.AddUser("alice")
	client := testhost.BuildTool(t, "fakerecorder")
	recd := h.Start("recd", "/usr/sbin/recd")
	waitUntil(t, 5*time.Second, "recd answers", func() bool {
		_, err := h.Run("recctl", "status")
		return err == nil
	})

	// recd is "recd"; its child, the journal writer, is tlog-rec-sessio.
	pids := strings.Fields(h.Shell("pgrep -x recd || true"))
	if len(pids) != 1 {
		t.Fatalf("processes named recd: %q", pids)
	}
	waitUntil(t, 5*time.Second, "the journal writer child", func() bool {
		return strings.TrimSpace(h.Shell("ps -o comm= --ppid "+pids[0]+" || true")) == "tlog-rec-sessio"
	})

	out, err := h.Run("setpriv", "--reuid=alice", "--regid=alice", "--init-groups", client, "fake-recorder-says-hello")
	if err != nil {
		t.Fatalf("fakerecorder: %v\n%s\nrecd log:\n%s", err, out, recd.Log())
	}
	var sum struct {
		Grant *proto.RecordGrant `json:"grant"`
	}
	if err := json.Unmarshal(out, &sum); err != nil || sum.Grant == nil || sum.Grant.Rec == "" {
		t.Fatalf("fakerecorder output %q: %v", out, err)
	}
	rec := sum.Grant.Rec

	// Every entry of the recording: written by the writer child as root, chained.
	var entries []map[string]any
	waitUntil(t, 10*time.Second, "the close entry", func() bool {
		entries = h.JournalJSON("RECD_REC="+rec, "_COMM=tlog-rec-sessio")
		return len(entries) > 0 && testhost.Field(entries[len(entries)-1], "RECD_EVENT") == "close"
	})
	prev := chain.Seed(rec)
	messages := 0
	for i, e := range entries {
		for k, want := range map[string]string{"_COMM": "tlog-rec-sessio", "_UID": "0", "_EXE": "/usr/sbin/recd",
			"SYSLOG_IDENTIFIER": "recd", "RECD_ENTRY": strconv.Itoa(i + 1)} {
			if got := testhost.Field(e, k); got != want {
				t.Errorf("entry %d: %s=%q, want %q", i+1, k, got, want)
			}
		}
		fields := map[string][]byte{}
		for k := range e {
			fields[k] = []byte(testhost.Field(e, k))
		}
		prev = chain.Next(prev, fields)
		if got := testhost.Field(e, chain.Field); got != prev {
			t.Errorf("entry %d: RECD_CHAIN=%s, want %s", i+1, got, prev)
		}
		if testhost.Field(e, "RECD_EVENT") == "message" {
			messages++
			if testhost.Field(e, "TLOG_USER") != "alice" || testhost.Field(e, "TLOG_ID") != strconv.Itoa(messages) {
				t.Errorf("message entry %d: TLOG_USER=%s TLOG_ID=%s", i+1, testhost.Field(e, "TLOG_USER"), testhost.Field(e, "TLOG_ID"))
			}
		}
	}
	if messages == 0 || testhost.Field(entries[0], "RECD_EVENT") != "open" || testhost.Field(entries[0], "RECD_USER") != "alice" {
		t.Fatalf("recording %s: %d messages, first entry %v", rec, messages, entries[0])
	}
	if st := testhost.Field(entries[len(entries)-1], "RECD_STATUS"); st != "complete" {
		t.Errorf("close entry: RECD_STATUS=%s", st)
	}

	// Cockpit's listing query finds it, and its player's (TLOG_REC only) gets the messages.
	listed := false
	for _, e := range h.JournalJSON("_COMM=tlog-rec", "_COMM=tlog-rec-sessio", "TLOG_USER=alice") {
		listed = listed || testhost.Field(e, "TLOG_REC") == rec
	}
	if !listed {
		t.Errorf("Cockpit's query (_COMM=tlog-rec _COMM=tlog-rec-sessio TLOG_USER=alice) does not list %s", rec)
	}
	if n := len(h.JournalJSON("TLOG_REC=" + rec)); n != messages {
		t.Errorf("TLOG_REC=%s selects %d entries, want the %d messages", rec, n, messages)
	}
	// Debian's tlog-play replays it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	played, err := h.CommandContext(ctx, "script", "-qec", "tlog-play -r journal -M TLOG_REC="+rec, "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(played), "fake-recorder-says-hello") {
		t.Errorf("tlog-play: %v\n%s", err, played)
	}

	// recd's own log entries are recd's.
	if own := h.JournalJSON("_COMM=recd", "SYSLOG_IDENTIFIER=recd"); len(own) > 0 {
		for _, e := range own {
			if testhost.Field(e, "RECD_ENTRY") != "" {
				t.Errorf("a recording entry written by recd itself: %v", e)
			}
		}
	}

	// SIGTERM: recd and its writer exit.
	recd.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for strings.TrimSpace(h.Shell("pgrep -x recd || true; pgrep -x tlog-rec-sessio || true")) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("recd or its writer still runs 10s after SIGTERM:\n%s\nrecd log:\n%s", h.Shell("ps -eo pid,ppid,stat,comm,args"), recd.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
