package sysconf

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Names of recd's PAM module and of the PAM configuration directory.
const (
	PAMModule = "pam_recd.so"
	PAMDir    = "/etc/pam.d"
)

// PAMRule is one rule of a PAM configuration file.
type PAMRule struct {
	// File and Line locate the rule (Line is 1-based; EndLine is the last physical line of
	// a rule continued with backslashes).
	File          string
	Line, EndLine int
	// Include is set for Debian's "@include FILE"; Module then names the file.
	Include bool
	// Type is account, auth, password or session (lower case, without the "-" prefix).
	Type string
	// Quiet is set for a "-type" rule (a missing module is not an error).
	Quiet bool
	// Control is the control field: required, optional, include, substack, [value=action ...].
	Control string
	// Module is the module path (or the included file for include and substack).
	Module string
	Args   []string
}

// IsModule reports whether the rule runs module (a file name such as pam_recd.so).
func (r PAMRule) IsModule(module string) bool {
	return !r.Include && r.Control != "include" && r.Control != "substack" && path.Base(r.Module) == module
}

// String is the rule as one line.
func (r PAMRule) String() string {
	if r.Include {
		return "@include " + r.Module
	}
	t := r.Type
	if r.Quiet {
		t = "-" + t
	}
	return strings.TrimSpace(strings.Join(append([]string{t, r.Control, r.Module}, r.Args...), " "))
}

var pamTypes = map[string]bool{"account": true, "auth": true, "password": true, "session": true}

// pamFields splits a rule into fields; a field starting with "[" runs to the matching "]".
func pamFields(s string) []string { return bracketFields(s, " \t") }

// bracketFields splits s into fields separated by blanks. A field starting with '[' runs
// to the matching ']' (or the end of s), blanks included; any other field ends before the
// first byte of ends (which holds the blanks, and '[' where a bracket may follow a word
// directly).
func bracketFields(s, ends string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out
		}
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return append(out, s)
			}
			out = append(out, s[:end+1])
			s = s[end+1:]
			continue
		}
		end := strings.IndexAny(s, ends)
		if end < 0 {
			return append(out, s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}

// stripTemplate removes authselect's template conditions from a profile line: a trailing
// "{include if "feature"}" (or exclude if, if ... :...) and reports whether the line is a
// directive of its own ("{imply ...}", "{continue if ...}", "{stop if ...}").
func stripTemplate(line string) (rest string, directive bool) {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "{") {
		return "", true
	}
	for {
		t = strings.TrimRight(t, " \t")
		if !strings.HasSuffix(t, "}") {
			return t, false
		}
		i := strings.LastIndex(t, "{")
		if i < 0 {
			return t, false
		}
		t = t[:i]
	}
}

// ParsePAM parses a PAM configuration file. template is set for an authselect profile
// file, whose lines may carry {include if "feature"} conditions and directives.
func ParsePAM(name string, data []byte, template bool) ([]PAMRule, error) {
	var rules []PAMRule
	lines := splitLines(data)
	var errs []string
	for i := 0; i < len(lines); i++ {
		start := i
		logical := strings.TrimRight(lines[i], "\r\n")
		for strings.HasSuffix(logical, "\\") && i+1 < len(lines) {
			i++
			logical = strings.TrimSuffix(logical, "\\") + " " + strings.TrimRight(lines[i], "\r\n")
		}
		if c := strings.IndexByte(logical, '#'); c >= 0 {
			logical = logical[:c]
		}
		if template {
			var directive bool
			if logical, directive = stripTemplate(logical); directive {
				continue
			}
		}
		f := pamFields(logical)
		if len(f) == 0 {
			continue
		}
		r := PAMRule{File: name, Line: start + 1, EndLine: i + 1}
		if f[0] == "@include" {
			if len(f) != 2 {
				errs = append(errs, fmt.Sprintf("%s:%d: @include needs exactly one file name", name, start+1))
				continue
			}
			r.Include, r.Module = true, f[1]
			rules = append(rules, r)
			continue
		}
		t := strings.ToLower(f[0])
		if strings.HasPrefix(t, "-") {
			r.Quiet, t = true, t[1:]
		}
		if !pamTypes[t] {
			errs = append(errs, fmt.Sprintf("%s:%d: %q is not a PAM rule type (account, auth, password, session)", name, start+1, f[0]))
			continue
		}
		if len(f) < 3 {
			errs = append(errs, fmt.Sprintf("%s:%d: a rule needs a type, a control and a module: %q", name, start+1, strings.TrimSpace(logical)))
			continue
		}
		r.Type, r.Control, r.Module, r.Args = t, f[1], f[2], f[3:]
		if !strings.HasPrefix(r.Control, "[") {
			r.Control = strings.ToLower(r.Control)
		} else if !strings.HasSuffix(r.Control, "]") {
			errs = append(errs, fmt.Sprintf("%s:%d: unterminated [...] control", name, start+1))
			continue
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return rules, errors.New(strings.Join(errs, "\n"))
	}
	return rules, nil
}

// HasSessionModule reports whether rules run module in the session stack.
func HasSessionModule(rules []PAMRule, module string) bool {
	for _, r := range rules {
		if r.Type == "session" && r.IsModule(module) {
			return true
		}
	}
	return false
}

// alignedRule formats "session optional pam_recd.so" with the column layout of ref, a rule
// line of the same file, so that the new line looks like its neighbours.
func alignedRule(ref string) string {
	typ, ctl, mod := "session", "optional", PAMModule
	if ref == "" {
		return typ + " " + ctl + " " + mod
	}
	// Positions in ref: leading white space, type, separator, control, separator, module.
	i := 0
	for i < len(ref) && (ref[i] == ' ' || ref[i] == '\t') {
		i++
	}
	lead := ref[:i]
	f := pamFields(ref)
	if len(f) < 3 {
		return lead + typ + " " + ctl + " " + mod
	}
	j := i + len(f[0])
	k := j
	for k < len(ref) && (ref[k] == ' ' || ref[k] == '\t') {
		k++
	}
	sep1 := ref[j:k]
	c := k + len(f[1])
	m := c
	for m < len(ref) && (ref[m] == ' ' || ref[m] == '\t') {
		m++
	}
	sep2 := ref[c:m]
	if strings.Contains(sep1+sep2, "\t") {
		return lead + typ + sep1 + ctl + sep2 + mod
	}
	pad := func(s string, width int) string {
		if len(s) >= width {
			return s + " "
		}
		return s + strings.Repeat(" ", width-len(s))
	}
	colCtl := k - i
	colMod := m - k
	return lead + pad(typ, colCtl) + pad(ctl, colMod) + mod
}

// PAMAddSession returns data with "session optional pam_recd.so" after the last session
// rule (at the end if there is none), laid out like that rule; changed is false if the file
// already runs pam_recd.so in its session stack. The file must parse.
func PAMAddSession(name string, data []byte, template bool) (out []byte, changed bool, err error) {
	rules, err := ParsePAM(name, data, template)
	if err != nil {
		return nil, false, err
	}
	if HasSessionModule(rules, PAMModule) {
		return data, false, nil
	}
	lines := splitLines(data)
	last := -1
	for _, r := range rules {
		if r.Type == "session" && !r.Include {
			last = r.EndLine - 1
		}
	}
	if last < 0 {
		ref := ""
		for _, r := range rules {
			if !r.Include && r.Line == r.EndLine {
				ref = strings.TrimRight(lines[r.Line-1], "\r\n")
			}
		}
		text := string(data)
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		return []byte(text + alignedRule(ref) + "\n"), true, nil
	}
	ref := ""
	for _, r := range rules {
		if r.Type == "session" && !r.Include && r.Line == r.EndLine {
			ref = strings.TrimRight(lines[r.Line-1], "\r\n")
		}
	}
	eol := "\n"
	if strings.HasSuffix(lines[last], "\r\n") {
		eol = "\r\n"
	}
	if !strings.HasSuffix(lines[last], "\n") {
		lines[last] += "\n"
	}
	newLine := alignedRule(ref)
	if template {
		newLine = strings.TrimRight(newLine, " ")
	}
	out2 := append([]string{}, lines[:last+1]...)
	out2 = append(out2, newLine+eol)
	out2 = append(out2, lines[last+1:]...)
	return []byte(strings.Join(out2, "")), true, nil
}

// PAMStrip returns data without the rules that run pam_recd.so; changed is false if there
// were none. Lines that do not parse are kept as they are.
func PAMStrip(name string, data []byte, template bool) (out []byte, changed bool) {
	rules, _ := ParsePAM(name, data, template)
	drop := map[int]bool{}
	for _, r := range rules {
		if r.IsModule(PAMModule) {
			for l := r.Line; l <= r.EndLine; l++ {
				drop[l-1] = true
			}
		}
	}
	if len(drop) == 0 {
		return data, false
	}
	var b strings.Builder
	for i, l := range splitLines(data) {
		if !drop[i] {
			b.WriteString(l)
		}
	}
	return []byte(b.String()), true
}

// ErrNoService is returned by PAMStack for a service that has no file in /etc/pam.d.
var ErrNoService = errors.New("no such PAM service")

// PAMStack returns the rules of type typ that the PAM service runs, with @include (Debian),
// include and substack (EL) followed. A file that an include names but that does not exist
// is an error, as it is for libpam.
func (f FS) PAMStack(service, typ string) ([]PAMRule, error) {
	p := path.Join(PAMDir, service)
	if _, err := f.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", p, ErrNoService)
	}
	return f.pamStack(p, typ, 0, nil)
}

func (f FS) pamStack(p, typ string, depth int, chain []string) ([]PAMRule, error) {
	for _, c := range chain {
		if c == p {
			return nil, fmt.Errorf("%s includes itself (through %s)", p, strings.Join(chain, " → "))
		}
	}
	if depth > 16 {
		return nil, fmt.Errorf("%s: includes nested deeper than 16 files", p)
	}
	data, err := f.ReadFile(p)
	if err != nil {
		return nil, err
	}
	rules, err := ParsePAM(p, data, false)
	if err != nil {
		return nil, err
	}
	chain = append(chain, p)
	var out []PAMRule
	for _, r := range rules {
		incl := ""
		switch {
		case r.Include:
			incl = r.Module
		case r.Type == typ && (r.Control == "include" || r.Control == "substack"):
			incl = r.Module
		case r.Type == typ:
			out = append(out, r)
			continue
		default:
			continue
		}
		ip := incl
		if !strings.HasPrefix(ip, "/") {
			ip = path.Join(PAMDir, ip)
		}
		sub, err := f.pamStack(ip, typ, depth+1, chain)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s:%d includes %s, which does not exist", p, r.Line, ip)
			}
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}
