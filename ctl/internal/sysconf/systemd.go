package sysconf

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Setting is one key of a systemd configuration file and where it was set.
type Setting struct {
	Value string
	File  string
	Line  int
}

// Where returns "file:line".
func (s Setting) Where() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Journald's configuration: the main file and its drop-in directories, highest priority first.
var (
	JournaldConf       = []string{"/etc/systemd/journald.conf", "/usr/lib/systemd/journald.conf"}
	JournaldDropinDirs = []string{"/etc/systemd/journald.conf.d", "/run/systemd/journald.conf.d",
		"/usr/local/lib/systemd/journald.conf.d", "/usr/lib/systemd/journald.conf.d"}
)

// ReadSystemdConfig reads section of a systemd configuration the way systemd does: the first
// main file that exists, then the *.conf drop-ins of all dirs in the lexical order of their
// names (a name in an earlier dir masks the same name in later ones); a later assignment
// wins, an empty one resets the key to its default.
func (f FS) ReadSystemdConfig(mains, dropinDirs []string, section string) (map[string]Setting, []string) {
	var files []string
	for _, m := range mains {
		if f.Exists(m) {
			files = append(files, m)
			break
		}
	}
	byName := map[string]string{}
	for _, d := range dropinDirs {
		entries, err := f.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".conf") {
				continue
			}
			if _, seen := byName[e.Name()]; !seen {
				byName[e.Name()] = path.Join(d, e.Name())
			}
		}
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, byName[n])
	}
	out := map[string]Setting{}
	for _, file := range files {
		data, err := f.ReadFile(file)
		if err != nil {
			continue
		}
		cur := ""
		lines := splitLines(data)
		for i := 0; i < len(lines); i++ {
			num := i + 1
			l := strings.TrimSpace(lines[i])
			for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(lines[i])
			}
			if l == "" || l[0] == '#' || l[0] == ';' {
				continue
			}
			if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
				cur = l[1 : len(l)-1]
				continue
			}
			if cur != section {
				continue
			}
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if v == "" {
				delete(out, k)
				continue
			}
			out[k] = Setting{Value: v, File: file, Line: num}
		}
	}
	return out, files
}

// UnitConfig reads section of a unit (e.g. "recd.service", "Service") with its drop-ins.
func (f FS) UnitConfig(unit, section string) (map[string]Setting, []string) {
	var mains, dropins []string
	for _, d := range UnitDirs {
		mains = append(mains, path.Join(d, unit))
		dropins = append(dropins, path.Join(d, unit+".d"))
	}
	return f.ReadSystemdConfig(mains, dropins, section)
}

// ParseTimespan reads a systemd time span ("30s", "1min 30s", "500ms", "0", "30" = seconds)
// and returns seconds.
func ParseTimespan(s string) (float64, error) {
	units := map[string]float64{
		"us": 1e-6, "usec": 1e-6, "µs": 1e-6, "ms": 1e-3, "msec": 1e-3,
		"": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1,
		"m": 60, "min": 60, "minute": 60, "minutes": 60,
		"h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
		"d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800,
		"M": 2629800, "month": 2629800, "months": 2629800, "y": 31557600, "year": 31557600, "years": 31557600,
	}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, fmt.Errorf("empty time span")
	}
	if rest == "infinity" {
		return 0, nil
	}
	total := 0.0
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid time span %q", s)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid time span %q", s)
		}
		rest = strings.TrimLeft(rest[i:], " ")
		j := strings.IndexFunc(rest, func(r rune) bool { return unicode.IsDigit(r) || r == ' ' })
		if j < 0 {
			j = len(rest)
		}
		mult, ok := units[rest[:j]]
		if !ok {
			return 0, fmt.Errorf("invalid time unit %q in %q", rest[:j], s)
		}
		total += n * mult
		rest = strings.TrimLeft(rest[j:], " ")
	}
	return total, nil
}
