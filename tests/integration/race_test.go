package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// Lookups made while recd starts, is killed, restarts and reloads never give a wrong answer
// and never a "not found": the C module reads an atomically replaced snapshot and does not
// depend on recd running (SSSD 2.8 can leave a local user not found for hours when it is
// looked up during SSSD's start-up).
func TestLookupsDuringRecdRestartsAndReloads(t *testing.T) {
	t.Parallel()
	h := loginHost(t)
	writePolicy(t, h, "scope = some\nusers = alice", stubPath)
	h.MustRun(t, "recctl", "reload")

	// Inside the host: look both users up as fast as processes start, until told to stop,
	// printing one line per lookup (a failed getent prints MISSING).
	h.WriteFile("/tmp/lookups.sh", []byte(`#!/bin/sh
while [ ! -e /tmp/stop ]; do
  for u in alice bob; do
    getent passwd $u | cut -d: -f1,7 || echo "MISSING:$u"
  done
done > /tmp/lookups.out
`), 0o755)
	looker := h.Start("lookups", "/tmp/lookups.sh")

	deadline := time.Now().Add(4 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		recd := h.Start("recd", "/usr/sbin/recd")
		time.Sleep(150 * time.Millisecond)
		// An unchanged policy, rewritten: recd reloads it.
		writePolicy(t, h, "scope = some\nusers = alice", stubPath)
		time.Sleep(100 * time.Millisecond)
		if i%2 == 0 {
			recd.Signal(syscall.SIGKILL)
		} else {
			recd.Stop()
		}
	}
	h.WriteFile("/tmp/stop", nil, 0o644)
	waitUntil(t, 10*time.Second, "lookup loop ends", func() bool { done, _ := looker.Exited(); return done })

	out := string(h.ReadFile("/tmp/lookups.out"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 100 {
		t.Fatalf("only %d lookups ran", len(lines))
	}
	bad := 0
	for _, l := range lines {
		if l != "alice:"+stubPath && l != "bob:/bin/sh" {
			bad++
			if bad <= 5 {
				t.Errorf("wrong answer during restarts: %q", l)
			}
		}
	}
	t.Logf("%d lookups during recd restarts and reloads, %d wrong", len(lines), bad)
}
