package sysconf

import (
	"bytes"
	"fmt"
	"strings"
)

// NSSService is the name of recd's NSS module in nsswitch.conf.
const NSSService = "recd"

// NSSLine is one database line of an nsswitch.conf ("passwd: files systemd").
type NSSLine struct {
	// Num is the 1-based line number.
	Num int
	// Text is the whole line, without its newline.
	Text string
	// Sources are the services in order, action items ([NOTFOUND=return]) left out.
	Sources []string
}

// splitLines splits data into lines keeping each line's terminator, so that joining them
// gives data back byte for byte.
func splitLines(data []byte) []string {
	var out []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, string(data))
			break
		}
		out = append(out, string(data[:i+1]))
		data = data[i+1:]
	}
	return out
}

// nssFields splits the part of an nsswitch line after "db:" into tokens: service names and
// bracketed action items (which may contain spaces). An item may follow a name without a
// space ("files[NOTFOUND=return]").
func nssFields(s string) []string { return bracketFields(s, " \t[") }

// nssContent returns the part of a line glibc reads: everything before a '#'.
func nssContent(line string) string {
	line = strings.TrimRight(line, "\r\n")
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	return line
}

// FindDB returns the lines of an nsswitch.conf that configure database db.
func FindDB(data []byte, db string) []NSSLine {
	var out []NSSLine
	for i, raw := range splitLines(data) {
		c := strings.TrimLeft(nssContent(raw), " \t")
		name, rest, ok := strings.Cut(c, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), db) || strings.ContainsAny(strings.TrimSpace(name), " \t") {
			continue
		}
		l := NSSLine{Num: i + 1, Text: strings.TrimRight(raw, "\r\n")}
		for _, f := range nssFields(rest) {
			if !strings.HasPrefix(f, "[") {
				l.Sources = append(l.Sources, f)
			}
		}
		out = append(out, l)
	}
	return out
}

// PasswdLine returns the single passwd line of an nsswitch.conf, or an error saying why
// there is not exactly one that recctl can edit.
func PasswdLine(data []byte, name string) (NSSLine, error) {
	lines := FindDB(data, "passwd")
	switch {
	case len(lines) == 0:
		return NSSLine{}, fmt.Errorf("%s has no passwd line (glibc then uses its built-in default); "+
			"add one yourself, e.g. \"passwd: files\", and run recctl enable again", name)
	case len(lines) > 1:
		return NSSLine{}, fmt.Errorf("%s has %d passwd lines (lines %d and %d); leave one and run recctl enable again",
			name, len(lines), lines[0].Num, lines[1].Num)
	case len(lines[0].Sources) == 0:
		return NSSLine{}, fmt.Errorf("%s:%d: the passwd line names no source; write the sources "+
			"(e.g. \"passwd: files\") and run recctl enable again", name, lines[0].Num)
	}
	return lines[0], nil
}

// RecdFirst reports whether recd is the first passwd source.
func (l NSSLine) RecdFirst() bool {
	return len(l.Sources) > 0 && l.Sources[0] == NSSService
}

// HasRecd reports whether recd is a passwd source at all.
func (l NSSLine) HasRecd() bool {
	for _, s := range l.Sources {
		if s == NSSService {
			return true
		}
	}
	return false
}

// removeRecdFromLine takes the recd token (and an action item right after it) out of one
// database line, with the white space that follows it.
func removeRecdFromLine(line string) string {
	content := nssContent(line)
	colon := strings.IndexByte(content, ':')
	if colon < 0 {
		return line
	}
	s := line
	pos := colon + 1
	for pos < len(content) {
		for pos < len(content) && (content[pos] == ' ' || content[pos] == '\t') {
			pos++
		}
		if pos >= len(content) {
			break
		}
		start := pos
		if content[pos] == '[' {
			end := strings.IndexByte(content[pos:], ']')
			if end < 0 {
				break
			}
			pos += end + 1
			continue
		}
		for pos < len(content) && !strings.ContainsRune(" \t[", rune(content[pos])) {
			pos++
		}
		if content[start:pos] != NSSService {
			continue
		}
		end := pos
		// An action item belongs to the service before it.
		j := end
		for j < len(content) && (content[j] == ' ' || content[j] == '\t') {
			j++
		}
		if j < len(content) && content[j] == '[' {
			if k := strings.IndexByte(content[j:], ']'); k >= 0 {
				end = j + k + 1
			}
		}
		for end < len(content) && (content[end] == ' ' || content[end] == '\t') {
			end++
		}
		if end == len(content) && start > 0 {
			// Last token: take the white space before it instead, keeping the rest intact.
			b := start
			for b > colon+1 && (content[b-1] == ' ' || content[b-1] == '\t') {
				b--
			}
			if b > colon+1 {
				start = b
			}
		}
		s = line[:start] + line[end:]
		content = nssContent(s)
		pos = start
	}
	return s
}

// NSSEnable returns data with recd first on the passwd line (and nowhere else on it), every
// other byte unchanged; changed is false if recd already was first and only there.
func NSSEnable(data []byte, name string) (out []byte, changed bool, err error) {
	l, err := PasswdLine(data, name)
	if err != nil {
		return nil, false, err
	}
	count := 0
	for _, s := range l.Sources {
		if s == NSSService {
			count++
		}
	}
	if l.RecdFirst() && count == 1 {
		return data, false, nil
	}
	lines := splitLines(data)
	line := strings.TrimRight(lines[l.Num-1], "\r\n")
	eol := lines[l.Num-1][len(line):]
	line = removeRecdFromLine(line)
	colon := strings.IndexByte(line, ':')
	pos := colon + 1
	for pos < len(line) && (line[pos] == ' ' || line[pos] == '\t') {
		pos++
	}
	line = line[:pos] + NSSService + " " + line[pos:]
	lines[l.Num-1] = line + eol
	return []byte(strings.Join(lines, "")), true, nil
}

// NSSDisable returns data with recd taken off the passwd line; changed is false if it was
// not there.
func NSSDisable(data []byte) (out []byte, changed bool) {
	lines := splitLines(data)
	for _, l := range FindDB(data, "passwd") {
		if !l.HasRecd() {
			continue
		}
		raw := lines[l.Num-1]
		line := strings.TrimRight(raw, "\r\n")
		lines[l.Num-1] = removeRecdFromLine(line) + raw[len(line):]
		changed = true
	}
	return []byte(strings.Join(lines, "")), changed
}

// managedMarkers are phrases in a comment that say a tool other than recctl writes the file.
var managedMarkers = []string{
	"ansible managed", "managed by ansible", "puppet", "managed by salt", "salt managed",
	"generated by chef", "managed by chef", "generated by authselect", "generated by authconfig",
	"cfengine", "do not edit", "do not modify",
}

// ManagedBy returns the comment line that says a tool (configuration management,
// authselect) writes this file, or "".
func ManagedBy(data []byte) string {
	for _, raw := range splitLines(data) {
		line := strings.TrimSpace(raw)
		if !strings.HasPrefix(line, "#") {
			continue
		}
		low := strings.ToLower(line)
		for _, m := range managedMarkers {
			if strings.Contains(low, m) {
				return line
			}
		}
	}
	return ""
}
