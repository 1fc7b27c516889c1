package journal

import (
	"strings"
	"testing"
)

// journalctl219 lists the long options of journalctl in systemd 219 (CentOS/RHEL 7), from
// journalctl(1) and src/journal/journalctl.c of v219. recd must run on it unchanged.
var journalctl219 = map[string]bool{
	"--help": true, "--version": true, "--no-pager": true, "--pager-end": true, "--follow": true,
	"--output": true, "--all": true, "--reverse": true, "--root": true, "--header": true,
	"--catalog": true, "--lines": true, "--no-tail": true, "--new-id128": true, "--quiet": true,
	"--merge": true, "--boot": true, "--list-boots": true, "--this-boot": true, "--dmesg": true,
	"--system": true, "--user": true, "--machine": true, "--directory": true, "--file": true,
	"--cursor": true, "--after-cursor": true, "--show-cursor": true, "--since": true,
	"--until": true, "--unit": true, "--user-unit": true, "--field": true, "--priority": true,
	"--disk-usage": true, "--vacuum-size": true, "--vacuum-time": true, "--flush": true,
	"--setup-keys": true, "--interval": true, "--verify": true, "--verify-key": true,
	"--force": true, "--list-catalog": true, "--dump-catalog": true, "--update-catalog": true,
	"--full": true, "--no-full": true, "--utc": true,
}

// Every option recd and recctl pass to journalctl exists in systemd 219's journalctl.
func TestJournalctlOptionsKnownToSystemd219(t *testing.T) {
	sources := []Source{{}, {Files: []string{"/a.journal", "/b.journal"}}, {Directory: "/var/log/journal/remote"}}
	queries := []Query{{}, {Matches: []string{"TLOG_REC=x"}, Since: "today", Until: "now", AfterCursor: "c", Follow: true}}
	var used [][]string
	for _, s := range sources {
		for _, q := range queries {
			used = append(used, s.Args(q))
		}
		used = append(used, s.sourceArgs([]string{"--no-pager", "--field=TLOG_REC"}))
	}
	seen := 0
	for _, args := range used {
		for _, a := range args {
			if a == "--" {
				break // matches follow
			}
			if !strings.HasPrefix(a, "--") {
				continue
			}
			name, _, _ := strings.Cut(a, "=")
			seen++
			if !journalctl219[name] {
				t.Errorf("journalctl option %s (in %q) is not in systemd 219's journalctl", name, args)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d options checked: the test no longer sees what Args produces", seen)
	}
}
