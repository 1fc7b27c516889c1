// Package integration holds recd's integration tests. Each test builds its own
// isolated test host (tests/testhost); they need root and skip without it.
package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestMain checks that the whole suite left the machine as it found it: its user
// database, PAM and NSS configuration, module directories and mount table.
func TestMain(m *testing.M) {
	before, errBefore := snapshotMachine()
	code := m.Run()
	if errBefore == nil && os.Geteuid() == 0 {
		after, err := snapshotMachine()
		if err != nil {
			fmt.Fprintf(os.Stderr, "integration: snapshot after the tests: %v\n", err)
			code = 1
		} else if diff := diffSnapshots(before, after); diff != "" {
			fmt.Fprintf(os.Stderr, "integration: the tests changed the machine itself:\n%s", diff)
			code = 1
		}
	}
	os.Exit(code)
}

// Files of the machine that no test may change; hashed from outside every test host.
var guardedFiles = []string{
	"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/nsswitch.conf",
	"/etc/hostname", "/etc/hosts", "/etc/machine-id", "/etc/ssh/sshd_config",
}

// Directories whose list of names (and each file's hash) no test may change.
var guardedDirs = []string{
	"/etc/pam.d",
	"/usr/lib/x86_64-linux-gnu/security",
	"/etc/systemd/journald.conf.d",
	"/etc/recd",
}

// snapshotMachine returns path → sha256 (or a marker for a missing file) for the guarded
// files and every file under the guarded directories, plus the machine's overlay mounts,
// hostname and any binaries `make install` would have put into /usr.
func snapshotMachine() (map[string]string, error) {
	snap := map[string]string{}
	hash := func(p string) {
		b, err := os.ReadFile(p)
		switch {
		case err == nil:
			sum := sha256.Sum256(b)
			snap[p] = hex.EncodeToString(sum[:])
		case os.IsNotExist(err):
			snap[p] = "(absent)"
		default:
			snap[p] = "(error: " + err.Error() + ")"
		}
	}
	for _, p := range guardedFiles {
		hash(p)
	}
	for _, p := range []string{"/usr/sbin/recd", "/usr/bin/recctl", "/usr/bin/recd-session",
		"/usr/lib/x86_64-linux-gnu/libnss_recd.so.2"} {
		hash(p)
	}
	for _, d := range guardedDirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == d {
					snap[d+"/"] = "(absent)"
					return nil
				}
				return err
			}
			if e.Type().IsRegular() {
				hash(p)
			} else if e.Type()&fs.ModeSymlink != 0 {
				target, _ := os.Readlink(p)
				snap[p] = "symlink:" + target
			} else if e.IsDir() {
				snap[p+"/"] = "dir"
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var overlays []string
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, " - overlay ") || strings.Contains(l, "recd-testhost-") {
			overlays = append(overlays, l)
		}
	}
	sort.Strings(overlays)
	snap["mounts (overlay or test host)"] = strings.Join(overlays, "\n")
	host, _ := os.Hostname()
	snap["hostname"] = host
	return snap, nil
}

func diffSnapshots(before, after map[string]string) string {
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, k := range sorted {
		x, okx := before[k]
		y, oky := after[k]
		switch {
		case !okx:
			fmt.Fprintf(&b, "  added:   %s\n", k)
		case !oky:
			fmt.Fprintf(&b, "  removed: %s\n", k)
		case x != y:
			fmt.Fprintf(&b, "  changed: %s (%q -> %q)\n", k, x, y)
		}
	}
	return b.String()
}
