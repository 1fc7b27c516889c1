package load

import (
	"os"
	"testing"
	"time"
)

// TestShortSoak is the load test's short version in `make test`: 20 recorded ssh sessions
// at once for 30 s, recd killed with SIGKILL once in the middle (and restarted 100 ms
// later, as systemd would): every byte every terminal showed is in its recording, ids
// contiguous, chains intact, every recording closed complete. It runs when
// RECD_LOAD_SHORT is set (make test-load-short, part of make test); RECD_LOAD_SESSIONS,
// RECD_LOAD_DURATION, RECD_LOAD_CHAOS, RECD_LOAD_SEED … change it (see ConfigFromEnv).
func TestShortSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the short soak")
	}
	if os.Getenv("RECD_LOAD_SHORT") == "" {
		// go test ./tests/... runs packages side by side: the soak would share the
		// machine with the integration suite. make test runs it on its own.
		t.Skip("the short soak runs from make test-load-short (or set RECD_LOAD_SHORT=1)")
	}
	cfg, err := ConfigFromEnv(Config{Sessions: 20, Duration: 30 * time.Second, RecdKills: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	rep := Run(t, cfg)
	t.Logf("\n%s", rep.Text())
	if os.Getenv("RECD_LOAD_REPORT") != "" {
		_ = os.WriteFile(os.Getenv("RECD_LOAD_REPORT"), []byte(rep.Text()), 0o644)
	}
	if !rep.OK() {
		t.Fatalf("the short soak found %d problems (above)", len(rep.Failures))
	}
	if rep.Logins < cfg.Sessions || rep.Complete < cfg.Sessions {
		t.Fatalf("%d logins, %d complete recordings; want at least %d each", rep.Logins, rep.Complete, cfg.Sessions)
	}
	if rep.ResumedNotes == 0 && cfg.RecdKills > 0 && !cfg.Chaos {
		t.Fatalf("recd was killed, but no recording says it resumed")
	}
}
