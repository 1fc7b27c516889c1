// Package units holds no code: its test checks recd's systemd units (recd.service,
// recd.socket) against the directives systemd 219, CentOS 7's systemd, knows, and the
// sandboxing drop-ins for newer systemd versions against the rules in README.md.
package units

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// directives219 reads testdata/systemd-219-directives.txt: the known "Section.Name" (the
// backports excluded) and the accepted values of some of them.
func directives219(t *testing.T) (known map[string]bool, values map[string][]string) {
	t.Helper()
	f, err := os.Open("testdata/systemd-219-directives.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known, values = map[string]bool{}, map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch fields := strings.Fields(line); {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "["):
		case fields[0] == "value":
			values[fields[1]] = fields[2:]
		case len(fields) == 2 && fields[1] == "backport":
			known[fields[0]] = false
		case len(fields) == 1:
			known[fields[0]] = true
		default:
			t.Fatalf("testdata: cannot read line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(known) < 300 {
		t.Fatalf("testdata: only %d directives", len(known))
	}
	return known, values
}

type setting struct {
	file, section, key, value string
	line                      int
}

// parseUnit reads a unit file or drop-in as systemd does: sections, Key=Value lines,
// comments (# and ;), and backslash continuation lines.
func parseUnit(t *testing.T, path string) []setting {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []setting
	section := ""
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(lines[i])
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				t.Fatalf("%s:%d: malformed section %q", path, n, line)
			}
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a Key=Value line in a section: %q", path, n, line)
			}
			out = append(out, setting{file: filepath.Base(path), section: section, key: strings.TrimSpace(k), value: strings.TrimSpace(v), line: n})
		}
	}
	return out
}

// check219 returns what systemd 219 would not understand in s.
func check219(s setting, known map[string]bool, values map[string][]string) error {
	name := s.section + "." + s.key
	ok, listed := known[name]
	switch {
	case !listed:
		return fmt.Errorf("%s:%d: [%s] %s= is unknown to systemd 219", s.file, s.line, s.section, s.key)
	case !ok:
		return fmt.Errorf("%s:%d: [%s] %s= is a RHEL 7 backport, absent from systemd 219 as released", s.file, s.line, s.section, s.key)
	}
	if vals, ok := values[name]; ok && !slices.Contains(vals, strings.ToLower(s.value)) {
		return fmt.Errorf("%s:%d: %s=%s: systemd 219 accepts only %s", s.file, s.line, s.key, s.value, strings.Join(vals, ", "))
	}
	if s.key == "ReadWriteDirectories" || s.key == "ReadOnlyDirectories" || s.key == "InaccessibleDirectories" {
		for _, p := range strings.Fields(s.value) {
			if !strings.HasPrefix(strings.TrimPrefix(p, "-"), "/") {
				return fmt.Errorf("%s:%d: %s=: %q is not an absolute path", s.file, s.line, s.key, p)
			}
		}
	}
	return nil
}

// Every directive of recd.service and recd.socket is one systemd 219 knows, with a value
// it accepts.
func TestUnitsUseOnlySystemd219Directives(t *testing.T) {
	known, values := directives219(t)
	for _, unit := range []string{"recd.service", "recd.socket"} {
		settings := parseUnit(t, unit)
		if len(settings) == 0 {
			t.Fatalf("%s: no settings", unit)
		}
		for _, s := range settings {
			if err := check219(s, known, values); err != nil {
				t.Error(err)
			}
		}
	}
}

// The checker itself: it refuses what 219 does not know.
func TestChecker(t *testing.T) {
	known, values := directives219(t)
	for _, tc := range []struct {
		s    setting
		want string
	}{
		{setting{section: "Service", key: "ProtectKernelTunables", value: "yes"}, "unknown to systemd 219"},
		{setting{section: "Unit", key: "StartLimitIntervalSec", value: "10"}, "unknown to systemd 219"},
		{setting{section: "Service", key: "AmbientCapabilities", value: "CAP_KILL"}, "backport"},
		{setting{section: "Service", key: "ProtectSystem", value: "strict"}, "accepts only"},
		{setting{section: "Service", key: "ProtectHome", value: "tmpfs"}, "accepts only"},
		{setting{section: "Service", key: "Type", value: "exec"}, "accepts only"},
		{setting{section: "Socket", key: "ProtectSystem", value: "full"}, ""},
		{setting{section: "Service", key: "ReadWriteDirectories", value: "-/etc/recd relative"}, "not an absolute path"},
	} {
		err := check219(tc.s, known, values)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
}

// What the units promise: Type=notify, recd ordered before logins, the socket where
// everyone expects it, world-connectable.
func TestUnitsOrdering(t *testing.T) {
	get := func(unit, key string) []string {
		var vals []string
		for _, s := range parseUnit(t, unit) {
			if s.key == key {
				vals = append(vals, strings.Fields(s.value)...)
			}
		}
		return vals
	}
	for _, want := range []struct {
		unit, key, value string
	}{
		{"recd.service", "Type", "notify"},
		{"recd.service", "ExecStart", "/usr/sbin/recd"},
		{"recd.service", "Restart", "on-failure"},
		{"recd.service", "Before", "sshd.service"},
		{"recd.service", "Before", "systemd-user-sessions.service"},
		{"recd.service", "Before", "nss-user-lookup.target"},
		{"recd.service", "Wants", "nss-user-lookup.target"},
		{"recd.service", "Requires", "recd.socket"},
		{"recd.socket", "ListenStream", "/run/recd/recd.sock"},
		{"recd.socket", "SocketMode", "0666"},
		{"recd.socket", "Before", "sshd.service"},
		{"recd.socket", "WantedBy", "sockets.target"},
	} {
		if !slices.Contains(get(want.unit, want.key), want.value) {
			t.Errorf("%s: no %s=%s", want.unit, want.key, want.value)
		}
	}
}

// allowedIn219DropIn are directives 219 knows that still live in a drop-in, with why.
var allowedIn219DropIn = map[string]string{
	// On CentOS 7's kernel (3.10) NoNewPrivileges= prevents the SELinux transition to recd_t.
	"Service.NoNewPrivileges": "blocks the SELinux domain transition on kernels < 4.14",
	// strict is the new value; ReadWritePaths= names the writable directories for it.
	"Service.ProtectSystem": "strict is 232",
	// Syscall groups (@system-service) are 231/239.
	"Service.SystemCallFilter": "@system-service is 239",
	// The errno of the newer SystemCallFilter=@system-service.
	"Service.SystemCallErrorNumber": "goes with SystemCallFilter=@system-service (239)",
}

// The drop-ins are named NN-hardening-vV.conf with V > 219 (make install puts one in only
// when systemd is at least V); they hold only [Service] settings, and only those systemd
// 219 would not understand (or the listed exceptions) — anything 219 knows belongs in
// recd.service.
func TestHardeningDropIns(t *testing.T) {
	known, values := directives219(t)
	files, err := filepath.Glob("recd.service.d/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no drop-ins: %v", err)
	}
	name := regexp.MustCompile(`^[0-9]{2}-hardening-v([0-9]+)\.conf$`)
	for _, f := range files {
		m := name.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			t.Errorf("%s: not named NN-hardening-vVERSION.conf, so make install cannot tell when to install it", f)
			continue
		}
		if v, _ := strconv.Atoi(m[1]); v <= 219 {
			t.Errorf("%s: for systemd %d, which 219 is not older than: put its settings in recd.service", f, v)
		}
		for _, s := range parseUnit(t, f) {
			if s.section != "Service" {
				t.Errorf("%s:%d: section [%s]; drop-ins hold [Service] only", s.file, s.line, s.section)
				continue
			}
			if check219(s, known, values) == nil {
				if _, ok := allowedIn219DropIn[s.section+"."+s.key]; !ok {
					t.Errorf("%s:%d: %s=%s is understood by systemd 219: it belongs in recd.service", s.file, s.line, s.key, s.value)
				}
			}
		}
	}
}

// tmpfiles.d: the two directories, root-owned, 0755.
func TestTmpfiles(t *testing.T) {
	b, err := os.ReadFile("../tmpfiles.d/recd.conf")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, strings.Join(strings.Fields(l), " "))
		}
	}
	want := []string{"d /run/recd 0755 root root -", "d /var/lib/recd 0755 root root -"}
	if !slices.Equal(got, want) {
		t.Fatalf("tmpfiles.d/recd.conf: %q, want %q", got, want)
	}
}
