// Package config reads recd's configuration: /etc/recd/recd.conf followed by
// /etc/recd/conf.d/*.conf in lexical order, a key in a later file overriding
// the same key in an earlier one.
//
// The [session_recording] section has exactly the keys and meaning of SSSD
// 2.x (sssd-session-recording(5)); [recorder] configures the recorder and
// [access] who may read recordings. Every value remembers the file and line
// that set it. Files are read with gopkg.in/ini.v1, configured strictly:
// only "=" separates a key from its value, there are no inline comments, no
// continuation lines, no quoting and no %(name)s substitution.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/ini.v1"

	"github.com/recd-dev/recd/internal/iniscan"
)

// Default locations of the configuration.
const (
	DefaultPath      = "/etc/recd/recd.conf"
	DefaultDropinDir = "/etc/recd/conf.d"
)

// Section names.
const (
	SectionSessionRecording = "session_recording"
	SectionRecorder         = "recorder"
	SectionAccess           = "access"
)

// Delimiters is the only key/value delimiter accepted.
const Delimiters = "="

// Source is where a value was set. The zero Source means the built-in
// default.
type Source struct {
	File string
	Line int
}

// IsDefault reports whether the value comes from the built-in default.
func (s Source) IsDefault() bool { return s.File == "" }

// String returns "file:line", or "default".
func (s Source) String() string {
	if s.IsDefault() {
		return "default"
	}
	if s.Line == 0 {
		return s.File
	}
	return fmt.Sprintf("%s:%d", s.File, s.Line)
}

// File is one file that was (or would have been) read.
type File struct {
	Path    string
	Missing bool // the file does not exist; defaults were used
}

// Config is the effective configuration.
type Config struct {
	Policy   Policy
	Recorder Recorder
	Access   Access
	// Files lists the files read, in the order they were applied.
	Files []File
}

// Default returns the configuration used when no file sets anything.
func Default() *Config {
	return &Config{
		Policy:   Policy{Scope: ScopeNone, Sources: map[string]Source{}},
		Recorder: defaultRecorder(),
		Access:   Access{Sources: map[string]Source{}},
	}
}

// Access is the [access] section.
type Access struct {
	// Auditors is the group whose members may read every recording ("" = only root).
	Auditors string
	// Sources maps each key set by a file to where it was set.
	Sources map[string]Source
}

// setting is one validated key of one file.
type setting struct {
	section, key string
	src          Source
	apply        func(*Config)
}

// keyDef describes one known key: parse validates the raw value and returns
// a function that stores it, or an error message and hint.
type keyDef struct {
	parse func(raw string) (apply func(*Config), msg, hint string)
}

var sections = map[string]map[string]keyDef{
	SectionSessionRecording: policyKeys,
	SectionRecorder:         recorderKeys,
	SectionAccess: {
		"auditors": {parse: func(raw string) (func(*Config), string, string) {
			if msg := checkName(raw); msg != "" && raw != "" {
				return nil, msg, ""
			}
			if strings.Contains(raw, ",") {
				return nil, "must be a single group name", ""
			}
			return func(c *Config) { c.Access.Auditors = raw }, "", ""
		}},
	},
}

func sectionNames() []string {
	out := make([]string, 0, len(sections))
	for s := range sections {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func keyNames(section string) []string {
	out := make([]string, 0, len(sections[section]))
	for k := range sections[section] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Parse reads one configuration file's text on top of the defaults. name is
// used in errors and sources. All problems found are returned, joined.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	set, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	c.apply(set)
	c.Files = []File{{Path: name}}
	return c, nil
}

// Load reads mainPath and then every *.conf file in dropinDir in lexical
// order. A missing main file means defaults (and is listed in Files with
// Missing set); a missing dropinDir is fine. All problems in all files are
// returned, joined.
func Load(mainPath, dropinDir string) (*Config, error) {
	// Only files no one but root can change are read (trust.go).
	if err := checkDir(dirOf(mainPath)); err != nil {
		return nil, err
	}
	data, err := readTrusted(mainPath)
	if errors.Is(err, fs.ErrNotExist) {
		data = nil
	} else if ce := (*Error)(nil); errors.As(err, &ce) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return LoadWithMain(mainPath, data, err == nil, dropinDir)
}

// LoadWithMain is Load with the main file's content given rather than read:
// confedit uses it to validate an edit before writing it. exists says
// whether the main file exists.
func LoadWithMain(mainPath string, mainData []byte, exists bool, dropinDir string) (*Config, error) {
	c := Default()
	var errs []error
	if exists {
		set, err := parseFile(mainPath, mainData)
		if err != nil {
			errs = append(errs, err)
		} else {
			c.apply(set)
		}
	}
	c.Files = append(c.Files, File{Path: mainPath, Missing: !exists})
	if dropinDir != "" {
		if err := checkDir(dropinDir); err != nil {
			return nil, errors.Join(append(errs, err)...)
		}
	}
	dropins, err := Dropins(dropinDir)
	if err != nil {
		return nil, err
	}
	for _, p := range dropins {
		data, err := readTrusted(p)
		if ce := (*Error)(nil); errors.As(err, &ce) {
			errs = append(errs, err)
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("reading configuration drop-in: %w", err))
			continue
		}
		set, err := parseFile(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.apply(set)
		c.Files = append(c.Files, File{Path: p})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Dropins lists the *.conf files in dir in lexical order (the order they
// are applied). A directory that does not exist has none.
func Dropins(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading configuration drop-ins: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".conf") || e.IsDir() {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	sort.Strings(out)
	return out, nil
}

func (c *Config) apply(set []setting) {
	for _, s := range set {
		s.apply(c)
		switch s.section {
		case SectionSessionRecording:
			c.Policy.Sources[s.key] = s.src
		case SectionRecorder:
			c.Recorder.Sources[s.key] = s.src
		case SectionAccess:
			c.Access.Sources[s.key] = s.src
		}
	}
}

// loadOptions configures go-ini strictly.
func loadOptions() ini.LoadOptions {
	return ini.LoadOptions{
		KeyValueDelimiters:       Delimiters,
		KeyValueDelimiterOnWrite: Delimiters,
		IgnoreInlineComment:      true,
		IgnoreContinuation:       true,
		PreserveSurroundedQuote:  true,
	}
}

// parseFile validates one file and returns its settings in file order.
func parseFile(name string, data []byte) ([]setting, error) {
	lines := iniscan.Scan(data, Delimiters)
	ix := iniscan.NewIndex(lines)
	var errs []error
	add := func(line int, section, key, msg, hint string) {
		errs = append(errs, &Error{File: name, Line: line, Section: section, Key: key, Msg: msg, Hint: hint})
	}
	// Syntax, checked on the raw lines (go-ini reports no line numbers).
	for _, l := range lines {
		sec := l.Section
		if sec == iniscan.DefaultSection {
			sec = ""
		}
		switch {
		case l.Kind == iniscan.Invalid:
			add(l.Num, sec, "", l.Problem, "")
		case l.Kind == iniscan.Section && l.Trailing:
			add(l.Num, l.Name, "", "unexpected text after section header", "")
		case l.Kind == iniscan.Key && l.QuotedName:
			add(l.Num, sec, l.Name, "quoted key names are not supported", "")
		case l.Kind == iniscan.Key && l.Quoted:
			add(l.Num, sec, l.Name, "quoted values are not supported", "write the value without quotes")
		case l.Kind == iniscan.Key && l.Section == iniscan.DefaultSection:
			add(l.Num, "", l.Name, "key outside any section", "put it under [session_recording], [recorder] or [access]")
		}
	}
	flagged := map[int]bool{}
	for _, e := range errs {
		flagged[e.(*Error).Line] = true
	}
	f, err := ini.LoadSources(loadOptions(), data)
	if err != nil {
		if len(errs) == 0 {
			errs = append(errs, &Error{File: name, Msg: fmt.Sprintf("cannot parse: %v", err)})
		}
		return nil, errors.Join(errs...)
	}
	var set []setting
	for _, sec := range f.Sections() {
		sname := sec.Name()
		if sname == ini.DefaultSection {
			if len(sec.Keys()) > 0 && ix.SectionLine(sname) > 0 {
				add(ix.SectionLine(sname), sname, "", "unknown section", "use [session_recording], [recorder] or [access]")
			}
			continue
		}
		defs, ok := sections[sname]
		if !ok {
			hint := suggest(sname, sectionNames())
			if hint == "" {
				hint = "known sections: " + strings.Join(sectionNames(), ", ")
			}
			add(ix.SectionLine(sname), sname, "", "unknown section", hint)
			continue
		}
		for _, k := range sec.Keys() {
			line := ix.KeyLine(sname, k.Name())
			if flagged[line] {
				continue
			}
			def, ok := defs[k.Name()]
			if !ok {
				hint := suggest(k.Name(), keyNames(sname))
				if hint == "" {
					hint = "known keys: " + strings.Join(keyNames(sname), ", ")
				}
				add(line, sname, k.Name(), "unknown key", hint)
				continue
			}
			raw := k.Value()
			if strings.ContainsAny(raw, "\n") {
				add(line, sname, k.Name(), "multi-line values are not supported", "")
				continue
			}
			apply, msg, hint := def.parse(raw)
			if msg != "" {
				add(line, sname, k.Name(), msg, hint)
				continue
			}
			set = append(set, setting{section: sname, key: k.Name(), src: Source{File: name, Line: line}, apply: apply})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// checkName returns why name is not acceptable as a user or group name in a
// list, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case strings.TrimSpace(name) != name:
		return fmt.Sprintf("name %q has surrounding white space", name)
	case strings.Contains(name, ","):
		return fmt.Sprintf("name %q contains a comma", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("name %q contains a control character", name)
		}
	}
	return ""
}

// CheckName returns an error if name cannot be stored in a list of user or
// group names (empty, surrounding white space, a comma or a control
// character).
func CheckName(name string) error {
	if msg := checkName(name); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// ParseList splits a comma-separated list of names: items are trimmed, an
// empty value is an empty list, an empty item is an error, and duplicates
// are dropped keeping the first.
func ParseList(raw string) ([]string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for i, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty name at position %d", i+1)
		}
		if msg := checkName(item); msg != "" {
			return nil, errors.New(msg)
		}
		if !seen[item] {
			seen[item] = true
			out = append(out, item)
		}
	}
	return out, nil
}

// hasControl reports whether s contains a control character other than tab.
func hasControl(s string) bool {
	for _, r := range s {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return true
		}
	}
	return false
}
