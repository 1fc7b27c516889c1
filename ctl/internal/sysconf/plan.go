package sysconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// StripKind says how recd's lines come out of a file that changed after recctl wrote it.
type StripKind string

// The ways of taking recd's lines out.
const (
	StripNone        StripKind = ""
	StripPAM         StripKind = "pam"          // drop the rules that run pam_recd.so
	StripPAMTemplate StripKind = "pam-template" // the same in an authselect profile file
	StripNSS         StripKind = "nsswitch"     // drop recd from the passwd line
)

// strip applies k to data.
func strip(k StripKind, name string, data []byte) ([]byte, bool) {
	switch k {
	case StripPAM:
		return PAMStrip(name, data, false)
	case StripPAMTemplate:
		return PAMStrip(name, data, true)
	case StripNSS:
		return NSSDisable(data)
	}
	return data, false
}

// Step is one change of a Plan: a path made what New says, or a program run.
type Step struct {
	// Path and New: Path becomes New (a file, a link, a directory, or nothing).
	Path string
	New  *FileState
	// BestEffort steps (removing a directory that may no longer be empty) do not fail the plan.
	BestEffort bool

	// Cmd runs a program; Env is added to its environment. Watch lists the files it changes,
	// which are backed up and recorded like Path.
	Cmd, Env, Watch []string
	// Verify checks what a program did; an error undoes the whole plan.
	Verify func(FS) error
	// Undo is how `recctl disable` takes Cmd back.
	Undo *UndoCmd

	// Strip says how disable takes recd's lines out of Path if it changed after enable.
	Strip StripKind
	// Pair is, for a link, the file recctl wrote that it points to: if that file changes
	// after enable, disable leaves the link so the admin's edits stay in force.
	Pair string
	// DiffFrom is, for a new file derived from another, the file its diff is shown against.
	DiffFrom string
	// Why says what the step is for, in one line.
	Why string
}

// UndoCmd is a program disable runs to take back one that enable ran.
type UndoCmd struct {
	Argv  []string `json:"argv"`
	Env   []string `json:"env,omitempty"`
	Watch []string `json:"watch,omitempty"`
	// AuthselectFrom, when set, makes the command conditional: it runs only while that
	// authselect profile is selected, and "{features}" in Argv stands for the features
	// selected at that moment.
	AuthselectFrom string `json:"authselect_from,omitempty"`
	// Why says what it does.
	Why string `json:"why,omitempty"`
}

// Plan is what enable or disable will do.
type Plan struct {
	// Action is "enable" or "disable".
	Action string
	Distro Distro
	Steps  []Step
	// Notes are things the administrator should know, printed with the plan.
	Notes []string
	// Refusal, when set, says why nothing may be done.
	Refusal string
	// state is the enable state disable works from.
	state *State
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

// Render describes the plan: for each file, a unified diff of its change; for each program,
// the command line and what it is for.
func (p *Plan) Render(f FS) string {
	var b strings.Builder
	for _, s := range p.Steps {
		if s.Cmd != nil {
			fmt.Fprintf(&b, "run: %s\n", CommandLine(s.Env, s.Cmd))
			if s.Why != "" {
				fmt.Fprintf(&b, "     (%s)\n", s.Why)
			}
			continue
		}
		cur, err := f.State(s.Path)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", s.Path, err)
			continue
		}
		b.WriteString(renderChange(f, s, cur))
	}
	return b.String()
}

func renderChange(f FS, s Step, cur FileState) string {
	var b strings.Builder
	why := ""
	if s.Why != "" {
		why = "  (" + s.Why + ")"
	}
	switch {
	case s.New.Kind == Dir:
		if cur.Kind != Dir {
			fmt.Fprintf(&b, "mkdir %s%s\n", s.Path, why)
		}
	case s.New.Kind == Symlink:
		if cur.Kind == Symlink {
			fmt.Fprintf(&b, "link %s: -> %s becomes -> %s%s\n", s.Path, cur.Target, s.New.Target, why)
		} else {
			fmt.Fprintf(&b, "link %s -> %s (was: %s)%s\n", s.Path, s.New.Target, cur, why)
		}
	case s.New.Kind == Absent && cur.Kind == Dir:
		fmt.Fprintf(&b, "rmdir %s (if empty)%s\n", s.Path, why)
	case s.New.Kind == Absent && cur.Kind == Symlink:
		fmt.Fprintf(&b, "remove link %s -> %s%s\n", s.Path, cur.Target, why)
	case s.New.Kind == File || s.New.Kind == Absent:
		var old []byte
		oldName := "a" + s.Path
		if cur.Kind == File {
			old = cur.Data
		} else {
			oldName = "/dev/null"
			if cur.Kind == Symlink {
				fmt.Fprintf(&b, "replace link %s -> %s with a file\n", s.Path, cur.Target)
			}
		}
		if s.DiffFrom != "" && cur.Kind == Absent {
			if from, err := f.ReadFile(s.DiffFrom); err == nil {
				old, oldName = from, s.DiffFrom
			}
		}
		newName := "b" + s.Path
		var data []byte
		if s.New.Kind == File {
			data = s.New.Data
		} else {
			newName = "/dev/null"
		}
		if s.Why != "" {
			fmt.Fprintf(&b, "# %s: %s\n", s.Path, s.Why)
		}
		d := UnifiedDiff(oldName, newName, old, data)
		if d == "" {
			if s.DiffFrom != "" {
				fmt.Fprintf(&b, "copy %s -> %s (unchanged)\n", s.DiffFrom, s.Path)
			} else {
				fmt.Fprintf(&b, "%s: content unchanged\n", s.Path)
			}
		}
		b.WriteString(d)
	}
	return b.String()
}

// Options locate the host and what recctl keeps about it.
type Options struct {
	FS  FS
	Run Runner
	// StateDir holds the enable state and the backups (default /var/lib/recd).
	StateDir string
	// Now stamps backups (default time.Now).
	Now func() time.Time
	// DaemonRunning says that recd answers on its socket (for what to say when systemd is
	// not there to start it).
	DaemonRunning bool
}

// DefaultStateDir is where recctl keeps its enable state and backups.
const DefaultStateDir = "/var/lib/recd"

func (o *Options) defaults() {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Run == nil {
		o.Run = NoRunner
	}
}

// statePath is the enable state file.
func (o *Options) statePath() string { return path.Join(o.StateDir, "enable-state.json") }

// backupRoot is the directory of the timestamped backups.
func (o *Options) backupRoot() string { return path.Join(o.StateDir, "backup") }

// Record is one path that enable changed.
type Record struct {
	Path string `json:"path"`
	// Before is the path as enable found it (the first time), After as enable left it (the
	// last time). Before's content is in BeforeCopy, a file of the backup.
	Before     FileState `json:"before"`
	After      FileState `json:"after"`
	BeforeCopy string    `json:"before_copy,omitempty"`
	// ByCommand: a program (pam-auth-update, authselect) wrote it, not recctl; disable
	// leaves such a file to the program's undo command.
	ByCommand bool      `json:"by_command,omitempty"`
	Strip     StripKind `json:"strip,omitempty"`
	Pair      string    `json:"pair,omitempty"`
}

// State is what enable did, kept in /var/lib/recd/enable-state.json for disable.
type State struct {
	Version int       `json:"version"`
	Family  Family    `json:"family"`
	Enabled time.Time `json:"enabled"`
	// Backups lists the backup directories of every enable run.
	Backups []string `json:"backups"`
	Files   []Record `json:"files"`
	// Undo lists the programs to run on disable, in the order enable ran their counterparts.
	Undo []UndoCmd `json:"undo,omitempty"`
}

func (s *State) record(p string) *Record {
	for i := range s.Files {
		if s.Files[i].Path == p {
			return &s.Files[i]
		}
	}
	return nil
}

// LoadState reads the enable state; it returns nil (and no error) when there is none.
func LoadState(o Options) (*State, error) {
	o.defaults()
	data, err := o.FS.ReadFile(o.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v); the backups in %s hold the original files", o.statePath(), err, o.backupRoot())
	}
	return &s, nil
}

func saveState(o Options, s *State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if _, err := o.FS.MkdirAll(o.StateDir); err != nil {
		return err
	}
	st := NewFile(append(data, '\n'), 0o600)
	return o.FS.Put(o.statePath(), st)
}

// Report is what Execute did.
type Report struct {
	// BackupDir holds a copy of every path the plan touched, as it was before.
	BackupDir string
	// Changed lists the paths that changed.
	Changed []string
	// Notes are things to tell the administrator.
	Notes []string
	// Outputs are the outputs of the programs run, by command line.
	Outputs []string
}

// touched lists the paths a plan may change, in order, without duplicates.
func (p *Plan) touched() []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range p.Steps {
		if s.Cmd == nil {
			add(s.Path)
		}
		for _, w := range s.Watch {
			add(w)
		}
	}
	return out
}

// backup copies every path's state into a new timestamped directory under the backup root
// and writes a manifest; it returns the directory.
func backup(o Options, paths []string, before map[string]FileState, action string) (string, error) {
	stamp := o.Now().UTC().Format("20060102T150405Z")
	dir := path.Join(o.backupRoot(), stamp+"-"+action)
	for i := 2; o.FS.Exists(dir); i++ {
		dir = path.Join(o.backupRoot(), fmt.Sprintf("%s-%s.%d", stamp, action, i))
	}
	if _, err := o.FS.MkdirAll(o.StateDir); err != nil {
		return "", fmt.Errorf("creating %s: %w", o.StateDir, err)
	}
	// The backups hold copies of PAM and NSS files: root only.
	if err := o.FS.Put(o.backupRoot(), FileState{Kind: Dir, Mode: 0o700}); err != nil {
		return "", fmt.Errorf("creating %s: %w", o.backupRoot(), err)
	}
	if _, err := o.FS.MkdirAll(dir); err != nil {
		return "", fmt.Errorf("creating the backup directory %s: %w", dir, err)
	}
	type entry struct {
		Path  string    `json:"path"`
		State FileState `json:"state"`
	}
	var manifest []entry
	for _, p := range paths {
		s := before[p]
		manifest = append(manifest, entry{p, s})
		copyPath := path.Join(dir, "files", p)
		switch s.Kind {
		case File, Symlink:
			if _, err := o.FS.MkdirAll(path.Dir(copyPath)); err != nil {
				return "", err
			}
			c := s
			if c.Kind == File {
				c.UID, c.GID = 0, 0
				c.Mode = 0o600
			}
			if err := o.FS.Put(copyPath, c); err != nil {
				return "", fmt.Errorf("backing up %s: %w", p, err)
			}
		}
	}
	data, _ := json.MarshalIndent(manifest, "", "  ")
	if err := o.FS.Put(path.Join(dir, "manifest.json"), NewFile(append(data, '\n'), 0o600)); err != nil {
		return "", err
	}
	return dir, nil
}

// Execute carries out the plan: it backs up every path the plan touches, makes the changes
// in order, and on any failure puts every path back as it was. For enable it records what
// changed in the state file; for disable it removes the state file.
func Execute(o Options, p *Plan) (*Report, error) {
	o.defaults()
	if p.Refusal != "" {
		return nil, errors.New(p.Refusal)
	}
	rep := &Report{Notes: append([]string{}, p.Notes...)}
	if p.Empty() {
		return rep, nil
	}
	paths := p.touched()
	before := map[string]FileState{}
	for _, q := range paths {
		s, err := o.FS.State(q)
		if err != nil {
			return nil, err
		}
		before[q] = s
	}
	dir, err := backup(o, paths, before, p.Action)
	if err != nil {
		return nil, err
	}
	rep.BackupDir = dir
	rollback := func(cause error) error {
		var errs []string
		for i := len(paths) - 1; i >= 0; i-- {
			q := paths[i]
			cur, err := o.FS.State(q)
			if err == nil && cur.Same(before[q]) && cur.Mode == before[q].Mode {
				continue
			}
			if err := o.FS.Put(q, before[q]); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", q, err))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w\nputting the files back failed too; the originals are in %s:\n%s",
				cause, dir, strings.Join(errs, "\n"))
		}
		return fmt.Errorf("%w\nnothing was changed: every file was put back as it was (copies in %s)", cause, dir)
	}
	for _, s := range p.Steps {
		if s.Cmd != nil {
			out, code, err := o.Run(s.Env, s.Cmd[0], s.Cmd[1:]...)
			line := CommandLine(s.Env, s.Cmd)
			if strings.TrimSpace(out) != "" {
				rep.Outputs = append(rep.Outputs, line+":\n"+strings.TrimRight(out, "\n"))
			}
			if err != nil {
				return rep, rollback(fmt.Errorf("%s: %w", line, err))
			}
			if code != 0 {
				return rep, rollback(fmt.Errorf("%s failed (exit status %d):\n%s", line, code, strings.TrimSpace(out)))
			}
			if s.Verify != nil {
				if err := s.Verify(o.FS); err != nil {
					return rep, rollback(err)
				}
			}
			continue
		}
		cur, err := o.FS.State(s.Path)
		if err != nil {
			return rep, rollback(err)
		}
		if cur.Same(*s.New) && (s.New.Kind != File || cur.Mode == s.New.Mode || s.New.Mode == 0) {
			continue
		}
		if s.New.Kind == Dir && cur.Kind == Dir {
			continue
		}
		if err := o.FS.Put(s.Path, *s.New); err != nil {
			if s.BestEffort {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s left in place: %v", s.Path, err))
				continue
			}
			return rep, rollback(fmt.Errorf("%s: %w", s.Path, err))
		}
	}
	after := map[string]FileState{}
	for _, q := range paths {
		s, err := o.FS.State(q)
		if err != nil {
			return rep, rollback(err)
		}
		after[q] = s
		if !s.Same(before[q]) || s.Mode != before[q].Mode {
			rep.Changed = append(rep.Changed, q)
		}
	}
	switch p.Action {
	case "enable":
		if err := recordEnable(o, p, dir, paths, before, after); err != nil {
			return rep, rollback(fmt.Errorf("recording what was changed in %s: %w", o.statePath(), err))
		}
	case "disable":
		rep.Notes = append(rep.Notes, checkRestored(o, p.state)...)
		if err := finishDisable(o, dir); err != nil {
			rep.Notes = append(rep.Notes, err.Error())
		}
	}
	return rep, nil
}

// recordEnable merges what an enable run changed into the state file: the first Before of a
// path is kept (so disable restores the state before the first enable), After is the latest.
func recordEnable(o Options, p *Plan, dir string, paths []string, before, after map[string]FileState) error {
	st, err := LoadState(o)
	if err != nil {
		return err
	}
	if st == nil {
		st = &State{Version: 1, Family: p.Distro.Family, Enabled: o.Now().UTC()}
	}
	st.Backups = append(st.Backups, dir)
	byCommand := map[string]bool{}
	meta := map[string]Step{}
	for _, s := range p.Steps {
		if s.Cmd != nil {
			for _, w := range s.Watch {
				byCommand[w] = true
			}
			if s.Undo != nil {
				st.Undo = append(st.Undo, *s.Undo)
			}
		} else {
			meta[s.Path] = s
		}
	}
	for _, q := range paths {
		if after[q].Same(before[q]) && after[q].Mode == before[q].Mode {
			continue
		}
		a := after[q]
		a.Data = nil
		if r := st.record(q); r != nil {
			r.After = a
			continue
		}
		b := before[q]
		rec := Record{Path: q, Before: b, After: a, ByCommand: byCommand[q] && meta[q].New == nil,
			Strip: meta[q].Strip, Pair: meta[q].Pair}
		if b.Kind == File || b.Kind == Symlink {
			rec.BeforeCopy = path.Join(dir, "files", q)
		}
		rec.Before.Data = nil
		st.Files = append(st.Files, rec)
	}
	return saveState(o, st)
}

// loadBefore returns r.Before with its content read back from the backup copy.
func loadBefore(o Options, r Record) (FileState, error) {
	b := r.Before
	if b.Kind != File {
		return b, nil
	}
	data, err := o.FS.ReadFile(r.BeforeCopy)
	if err != nil {
		return b, fmt.Errorf("the backup copy of %s: %w", r.Path, err)
	}
	if Digest(data) != b.SHA256 {
		return b, fmt.Errorf("the backup copy %s of %s does not match its recorded digest", r.BeforeCopy, r.Path)
	}
	b.Data = data
	return b, nil
}

// checkRestored compares the files that programs manage with the originals after disable.
func checkRestored(o Options, st *State) []string {
	if st == nil {
		return nil
	}
	var notes []string
	var differ []string
	for _, r := range st.Files {
		if !r.ByCommand {
			continue
		}
		cur, err := o.FS.State(r.Path)
		if err == nil && cur.Same(r.Before) {
			continue
		}
		// authselect stamps the files it generates with the time ("# Generated by authselect
		// on DATE"): a file that differs from the original only there is the original, and is
		// put back byte for byte.
		if err == nil && cur.Kind == File && r.Before.Kind == File {
			if before, err := loadBefore(o, r); err == nil && sameButStamp(cur.Data, before.Data) {
				if err := o.FS.Put(r.Path, before); err == nil {
					continue
				}
			}
		}
		differ = append(differ, r.Path)
	}
	if len(differ) > 0 {
		sort.Strings(differ)
		notes = append(notes, fmt.Sprintf("after the undo command these files differ from the originals "+
			"(the tool that owns them wrote them; recctl leaves them to it): %s. The originals are in %s.",
			strings.Join(differ, ", "), strings.Join(st.Backups, ", ")))
	}
	return notes
}

// finishDisable moves the state file into the disable backup: recd is no longer enabled.
func finishDisable(o Options, dir string) error {
	cur, err := o.FS.State(o.statePath())
	if err != nil || cur.Kind != File {
		return err
	}
	if err := o.FS.Put(path.Join(dir, "enable-state.json"), cur); err != nil {
		return err
	}
	return o.FS.Put(o.statePath(), FileState{Kind: Absent})
}

// generatedStamp starts the first line of the files authselect generates.
const generatedStamp = "# Generated by authselect"

// sameButStamp reports whether a and b are equal but for a first line that is authselect's
// "# Generated by authselect on DATE" stamp.
func sameButStamp(a, b []byte) bool {
	la, ra, _ := strings.Cut(string(a), "\n")
	lb, rb, _ := strings.Cut(string(b), "\n")
	return strings.HasPrefix(la, generatedStamp) && strings.HasPrefix(lb, generatedStamp) && ra == rb
}
