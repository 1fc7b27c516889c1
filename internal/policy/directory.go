package policy

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// User is an entry of the user database.
type User struct {
	Name string
	UID  uint32
	GID  uint32 // primary group
}

// Group is an entry of the group database.
type Group struct {
	Name    string
	GID     uint32
	Members []string // names listed in the entry (not the primary members)
}

// ErrNotFound is returned (wrapped) by a Directory for a name or GID that
// does not exist.
var ErrNotFound = errors.New("not found")

// Directory is the user and group database.
type Directory interface {
	// LookupUser returns the user called name; an error wrapping
	// ErrNotFound if there is none.
	LookupUser(name string) (User, error)
	// LookupGroup returns the group called name; an error wrapping
	// ErrNotFound if there is none.
	LookupGroup(name string) (Group, error)
	// LookupGroupByGID returns the group with gid; an error wrapping
	// ErrNotFound if there is none.
	LookupGroupByGID(gid uint32) (Group, error)
}

// FilesDirectory reads passwd(5) and group(5) files directly, the way
// glibc's "files" NSS source does: the first entry of a name wins; blank
// lines, comments, malformed lines and NIS "+"/"-" lines are skipped. The
// files are read on every lookup, so edits show at once.
type FilesDirectory struct {
	PasswdPath string
	GroupPath  string
}

// System returns the directory of the host, /etc/passwd and /etc/group.
// (This is what os/user does in a static binary, and it exposes the group
// members the policy needs.)
func System() *FilesDirectory {
	return &FilesDirectory{PasswdPath: "/etc/passwd", GroupPath: "/etc/group"}
}

// LookupUser implements Directory.
func (d *FilesDirectory) LookupUser(name string) (User, error) {
	var found *User
	err := scan(d.PasswdPath, 7, func(f []string) bool {
		if f[0] != name {
			return false
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return false
		}
		found = &User{Name: f[0], UID: uint32(uid), GID: uint32(gid)}
		return true
	})
	if err != nil {
		return User{}, err
	}
	if found == nil {
		return User{}, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	return *found, nil
}

// LookupGroup implements Directory.
func (d *FilesDirectory) LookupGroup(name string) (Group, error) {
	return d.group(func(g Group) bool { return g.Name == name }, fmt.Sprintf("group %q", name))
}

// LookupGroupByGID implements Directory.
func (d *FilesDirectory) LookupGroupByGID(gid uint32) (Group, error) {
	return d.group(func(g Group) bool { return g.GID == gid }, fmt.Sprintf("group with GID %d", gid))
}

func (d *FilesDirectory) group(match func(Group) bool, what string) (Group, error) {
	var found *Group
	err := scan(d.GroupPath, 4, func(f []string) bool {
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return false
		}
		g := Group{Name: f[0], GID: uint32(gid)}
		if f[3] != "" {
			for _, m := range strings.Split(f[3], ",") {
				if m != "" {
					g.Members = append(g.Members, m)
				}
			}
		}
		if !match(g) {
			return false
		}
		found = &g
		return true
	})
	if err != nil {
		return Group{}, err
	}
	if found == nil {
		return Group{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return *found, nil
}

// scan calls fn with the fields of each well-formed line of path until fn
// returns true.
func scan(path string, nfields int, fn func([]string) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading user database: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) != nfields || fields[0] == "" {
			continue
		}
		if fn(fields) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}
