package snapshot

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Decider tells whether the user with this name is recorded. Compile calls it
// once per entry of the passwd file; an error aborts the compilation.
type Decider func(name string) (bool, error)

// Options are the inputs of Compile other than the rules.
type Options struct {
	// PasswdPath and GroupPath default to /etc/passwd and /etc/group.
	PasswdPath, GroupPath string
	// NewDecider, when not nil, is called once with the users and groups
	// Compile read (the same bytes the stamps describe) and returns the
	// decider for each user (the daemon wires it to the policy engine). When
	// nil, Compile evaluates the rules itself, with the C module's semantics.
	NewDecider func(users []Entry, groups []Group) Decider
}

// Group is one line of the group file.
type Group struct {
	Name    string
	GID     uint32
	Members []string
}

// Compile reads the passwd and group files, decides every user and returns
// the snapshot with its cache and the files' stamps. If a group the rules name
// is not in the group file, the cache is left out (the group may come from
// another NSS source, which only a live lookup sees); the C module then
// evaluates every lookup live.
func Compile(r Rules, o Options) (*Snapshot, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if o.PasswdPath == "" {
		o.PasswdPath = "/etc/passwd"
	}
	if o.GroupPath == "" {
		o.GroupPath = "/etc/group"
	}
	s := &Snapshot{Rules: r}
	if r.Scope == ScopeNone {
		return s, nil // nobody is recorded: no cache needed
	}
	pdata, pst, err := readStamped(o.PasswdPath)
	if err != nil {
		return nil, err
	}
	gdata, gst, err := readStamped(o.GroupPath)
	if err != nil {
		return nil, err
	}
	users := ParsePasswd(pdata)
	groups := ParseGroup(gdata)
	gidx := make(map[string]*Group, len(groups))
	for i := range groups {
		if _, dup := gidx[groups[i].Name]; !dup {
			gidx[groups[i].Name] = &groups[i]
		}
	}
	relevant := r.Groups
	if r.Scope == ScopeAll {
		relevant = r.ExcludeGroups
	}
	for _, g := range relevant {
		if gidx[g] == nil {
			return s, nil // group unknown to the files: evaluate live
		}
	}
	var decide Decider
	if o.NewDecider != nil {
		decide = o.NewDecider(users, groups)
	}
	for _, e := range users {
		var rec bool
		if decide != nil {
			rec, err = decide(e.Name)
			if err != nil {
				return nil, fmt.Errorf("snapshot: deciding %q: %w", e.Name, err)
			}
		} else {
			rec = evaluate(&r, &e, gidx)
		}
		if rec {
			e.Record = true
			s.Entries = append(s.Entries, e)
		} else {
			s.Entries = append(s.Entries, Entry{Name: e.Name, UID: e.UID})
		}
	}
	s.Passwd, s.Group = &pst, &gst
	if _, err := Encode(s); err != nil {
		// Too large: keep the recorded users only, or no cache at all.
		var rec []Entry
		for _, e := range s.Entries {
			if e.Record {
				rec = append(rec, e)
			}
		}
		s.Entries = rec
		if _, err := Encode(s); err != nil {
			s.Entries, s.Passwd, s.Group = nil, nil, nil
		}
	}
	return s, nil
}

// Evaluate decides whether e is recorded under r, given the groups by name
// (first entry per name), with SSSD's semantics: scope=some records the listed
// users and the members of the listed groups; scope=all records everyone but
// the excluded users and the members of the excluded groups. A user is a
// member of a group if it is the user's primary group (by GID) or the group
// lists the user. A group that does not exist matches nobody.
func Evaluate(r *Rules, e *Entry, groups map[string]*Group) bool {
	return evaluate(r, e, groups)
}

func evaluate(r *Rules, e *Entry, groups map[string]*Group) bool {
	member := func(names []string) bool {
		for _, gn := range names {
			g := groups[gn]
			if g == nil {
				continue
			}
			if g.GID == e.GID {
				return true
			}
			for _, m := range g.Members {
				if m == e.Name {
					return true
				}
			}
		}
		return false
	}
	contains := func(l []string, s string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	switch r.Scope {
	case ScopeSome:
		return contains(r.Users, e.Name) || member(r.Groups)
	case ScopeAll:
		return !contains(r.ExcludeUsers, e.Name) && !member(r.ExcludeGroups)
	}
	return false
}

// ParsePasswd returns the entries of a passwd file in file order, skipping
// comments, NIS compat lines (+/-) and lines that do not parse; such users are
// then unknown to the cache and evaluated live by the C module.
func ParsePasswd(data []byte) []Entry {
	var out []Entry
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" || l[0] == '#' || l[0] == '+' || l[0] == '-' || strings.ContainsRune(l, 0) {
			continue
		}
		f := strings.Split(l, ":")
		if len(f) != 7 || f[0] == "" {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil || !canonNum(f[2]) || !canonNum(f[3]) {
			continue
		}
		out = append(out, Entry{Name: f[0], Passwd: f[1], UID: uint32(uid), GID: uint32(gid),
			Gecos: f[4], Dir: f[5], Shell: f[6]})
	}
	return out
}

// ParseGroup returns the entries of a group file in file order.
func ParseGroup(data []byte) []Group {
	var out []Group
	for _, l := range strings.Split(string(data), "\n") {
		if l == "" || l[0] == '#' || l[0] == '+' || l[0] == '-' {
			continue
		}
		f := strings.Split(l, ":")
		if len(f) != 4 || f[0] == "" {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || !canonNum(f[2]) {
			continue
		}
		g := Group{Name: f[0], GID: uint32(gid)}
		for _, m := range strings.Split(f[3], ",") {
			if m != "" {
				g.Members = append(g.Members, m)
			}
		}
		out = append(out, g)
	}
	return out
}

func canonNum(s string) bool { return s == "0" || (s != "" && s[0] != '0' && s[0] != '+') }

// readStamped reads a file and returns its stamp, retrying while the file
// changes under it, so that the stamp describes exactly the bytes read.
func readStamped(path string) ([]byte, Stamp, error) {
	for try := 0; try < 10; try++ {
		f, err := os.Open(path)
		if err != nil {
			return nil, Stamp{}, fmt.Errorf("snapshot: %w", err)
		}
		before, err := fileStamp(f)
		if err != nil {
			f.Close()
			return nil, Stamp{}, fmt.Errorf("snapshot: stat %s: %w", path, err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(f)
		f.Close()
		if err != nil {
			return nil, Stamp{}, fmt.Errorf("snapshot: read %s: %w", path, err)
		}
		after, err := pathStamp(path)
		if err != nil {
			return nil, Stamp{}, fmt.Errorf("snapshot: stat %s: %w", path, err)
		}
		if before == after && after.Size == int64(buf.Len()) {
			return buf.Bytes(), after, nil
		}
	}
	return nil, Stamp{}, fmt.Errorf("snapshot: %s keeps changing while read", path)
}

// Write replaces the snapshot at path atomically: it writes a temporary file
// with a random name in the same directory (O_EXCL|O_NOFOLLOW, so nothing planted
// there is followed or reused; mode 0644), syncs it, renames it
// over path and syncs the directory. The old snapshot stays in place on error.
func Write(path string, s *Snapshot) error {
	data, err := Encode(s)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var f *os.File
	var tmp string
	for try := 0; ; try++ {
		// A random name: a name others can predict is one they can plant something at
		// (O_EXCL|O_NOFOLLOW refuses to follow it, but a planted name per try could
		// make every try fail).
		if tmp, err = tempName(dir, base); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		f, err = openExcl(tmp)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || try >= 10 {
			return fmt.Errorf("snapshot: create %s: %w", tmp, err)
		}
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("snapshot: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: sync %s: %w", dir, err)
	}
	return nil
}

// tempName returns a fresh temporary name next to the snapshot (replaced in tests).
var tempName = func(dir, base string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(b[:])), nil
}

// Read reads and decodes the snapshot at path.
func Read(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limitReader{f, MaxSize + 1}); err != nil {
		return nil, fmt.Errorf("snapshot: read %s: %w", path, err)
	}
	return Decode(buf.Bytes())
}

type limitReader struct {
	f *os.File
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("file larger than the snapshot limit")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}
