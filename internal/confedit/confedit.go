// Package confedit edits the [session_recording] section of recd.conf
// safely: line by line (comments and unrelated lines are kept), validated
// with internal/config together with the drop-ins before anything is
// written, written atomically (temporary file, fsync, rename, fsync of the
// directory) and serialized with an flock on the directory, so that two
// concurrent edits both survive.
package confedit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/iniscan"
)

// Op is what an Edit does to a list.
type Op int

// The list operations.
const (
	Set    Op = iota // replace the list (or the scope)
	Add              // add names not yet listed, at the end
	Remove           // remove names
)

// Edit is one change to [session_recording].
type Edit struct {
	Key   string   // config.KeyScope or one of the four list keys
	Op    Op       // Set for the scope
	Names []string // the names, or the scope as the only element
}

// SetScope returns the edit that sets the scope.
func SetScope(s config.Scope) Edit {
	return Edit{Key: config.KeyScope, Op: Set, Names: []string{s.String()}}
}

// ListEdit returns an edit of one of the list keys (users, groups,
// exclude_users, exclude_groups).
func ListEdit(key string, op Op, names ...string) Edit {
	return Edit{Key: key, Op: op, Names: names}
}

// Change describes what an edit did to one key of the main file.
type Change struct {
	Key      string
	Old, New string // values in the main file before and after ("" if unset)
	WasSet   bool   // the key was in the main file before
}

// Changed reports whether the value changed.
func (c Change) Changed() bool { return !c.WasSet || c.Old != c.New }

// Result is the outcome of an edit.
type Result struct {
	Changes []Change
	// Warnings are things the admin should know, such as a drop-in
	// overriding an edited key.
	Warnings []string
	// Config is the effective configuration after the edit.
	Config *config.Config
	// Text is the new content of the main file.
	Text []byte
	// Written says whether the file was written (false for Plan, or when
	// nothing changed).
	Written bool
}

// Editor edits the main configuration file Path; DropinDir is read to
// validate the result and to warn about overrides.
type Editor struct {
	Path      string
	DropinDir string
}

// New returns an Editor for the default paths.
func New() *Editor { return &Editor{Path: config.DefaultPath, DropinDir: config.DefaultDropinDir} }

// Plan computes and validates the edits without writing anything.
func (e *Editor) Plan(edits ...Edit) (*Result, error) {
	data, exists, err := e.read()
	if err != nil {
		return nil, err
	}
	return e.plan(data, exists, edits)
}

// Apply makes the edits: under an exclusive lock it reads the main file,
// edits it, validates the result with the drop-ins and replaces the file
// atomically. An edit that would give an invalid configuration is refused
// and the file is left untouched.
func (e *Editor) Apply(edits ...Edit) (*Result, error) {
	unlock, err := lockDir(filepath.Dir(e.Path))
	if err != nil {
		return nil, err
	}
	defer unlock()
	data, exists, err := e.read()
	if err != nil {
		return nil, err
	}
	res, err := e.plan(data, exists, edits)
	if err != nil {
		return nil, err
	}
	changed := !exists
	for _, c := range res.Changes {
		changed = changed || c.Changed()
	}
	if !changed {
		return res, nil
	}
	if err := writeAtomic(e.Path, res.Text, exists); err != nil {
		return nil, err
	}
	res.Written = true
	return res, nil
}

func (e *Editor) read() ([]byte, bool, error) {
	fi, err := os.Lstat(e.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("editing %s: %w", e.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("editing %s: not a regular file (a symlink or other); edit its target by hand", e.Path)
	}
	// A file others can change is refused by activation; an edit would keep its mode.
	if err := config.CheckTrusted(e.Path); err != nil {
		return nil, false, fmt.Errorf("editing %s: %w", e.Path, err)
	}
	data, err := os.ReadFile(e.Path)
	if err != nil {
		return nil, false, fmt.Errorf("editing %s: %w", e.Path, err)
	}
	return data, true, nil
}

func (e *Editor) plan(data []byte, exists bool, edits []Edit) (*Result, error) {
	before, err := config.Parse(e.Path, data)
	if err != nil {
		return nil, fmt.Errorf("%s is invalid; fix it first:\n%w", e.Path, err)
	}
	res := &Result{}
	cur := before
	for _, ed := range edits {
		oldVal, newVal, err := apply(&cur.Policy, ed)
		if err != nil {
			return nil, err
		}
		_, wasSet := before.Policy.Sources[ed.Key]
		data = setKey(data, ed.Key, newVal)
		cur, err = config.Parse(e.Path, data)
		if err != nil {
			return nil, fmt.Errorf("refusing the edit of %s: the result would be invalid:\n%w", ed.Key, err)
		}
		res.Changes = append(res.Changes, Change{Key: ed.Key, Old: oldVal, New: newVal, WasSet: wasSet})
	}
	full, err := config.LoadWithMain(e.Path, data, true, e.DropinDir)
	if err != nil {
		return nil, fmt.Errorf("refusing the edit: the configuration would be invalid:\n%w", err)
	}
	for _, c := range res.Changes {
		if src := full.Policy.Source(c.Key); src.File != e.Path {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is also set in %s, which overrides %s: the drop-in wins", c.Key, src, e.Path))
		}
	}
	res.Config, res.Text = full, data
	return res, nil
}

// apply computes the new value of ed.Key from the main file's policy p.
func apply(p *config.Policy, ed Edit) (oldVal, newVal string, err error) {
	if ed.Key == config.KeyScope {
		if ed.Op != Set || len(ed.Names) != 1 {
			return "", "", errors.New("scope takes exactly one value")
		}
		s, err := config.ParseScope(ed.Names[0])
		if err != nil {
			return "", "", err
		}
		return p.Scope.String(), s.String(), nil
	}
	if !slices.Contains(config.PolicyKeys, ed.Key) {
		return "", "", fmt.Errorf("unknown key %q", ed.Key)
	}
	for _, n := range ed.Names {
		if err := config.CheckName(n); err != nil {
			return "", "", fmt.Errorf("%s: %w", ed.Key, err)
		}
	}
	old := p.List(ed.Key)
	var out []string
	switch ed.Op {
	case Set:
		out = ed.Names
	case Add:
		out = append(slices.Clone(old), ed.Names...)
	case Remove:
		for _, n := range old {
			if !slices.Contains(ed.Names, n) {
				out = append(out, n)
			}
		}
	default:
		return "", "", fmt.Errorf("unknown operation %d", ed.Op)
	}
	var dedup []string
	for _, n := range out {
		if !slices.Contains(dedup, n) {
			dedup = append(dedup, n)
		}
	}
	return strings.Join(old, ", "), strings.Join(dedup, ", "), nil
}

// setKey replaces or inserts "key = value" in [session_recording].
func setKey(data []byte, key, value string) []byte {
	line := key + " = " + value
	if value == "" {
		line = key + " ="
	}
	text := string(data)
	bom := ""
	if strings.HasPrefix(text, "\ufeff") {
		bom, text = "\ufeff", strings.TrimPrefix(text, "\ufeff")
	}
	raw := strings.Split(text, "\n")
	if len(raw) > 0 && raw[len(raw)-1] == "" {
		raw = raw[:len(raw)-1]
	}
	scanned := iniscan.Scan([]byte(text), config.Delimiters)
	commented := regexp.MustCompile(`^\s*[#;]\s*` + regexp.QuoteMeta(key) + `\s*=`)
	replace, after, header := -1, -1, -1
	for _, l := range scanned {
		if l.Section != config.SectionSessionRecording {
			continue
		}
		switch {
		case l.Kind == iniscan.Key && l.Name == key:
			replace = l.Num - 1
		case l.Kind == iniscan.Comment && commented.MatchString(l.Text):
			after = l.Num - 1
		case l.Kind == iniscan.Section && header < 0:
			header = l.Num - 1
		}
	}
	switch {
	case replace >= 0:
		if strings.HasSuffix(raw[replace], "\r") {
			line += "\r"
		}
		raw[replace] = line
	case after >= 0:
		raw = slices.Insert(raw, after+1, line)
	case header >= 0:
		raw = slices.Insert(raw, header+1, line)
	default:
		if len(raw) > 0 && strings.TrimSpace(raw[len(raw)-1]) != "" {
			raw = append(raw, "")
		}
		raw = append(raw, "["+config.SectionSessionRecording+"]", line)
	}
	return []byte(bom + strings.Join(raw, "\n") + "\n")
}
