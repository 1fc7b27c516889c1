// Package sysconf reads and changes the system configuration that recd depends on but does
// not own: the PAM stacks in /etc/pam.d, the passwd line of /etc/nsswitch.conf, the tools
// that manage them on each distribution family (pam-auth-update on Debian and Ubuntu,
// authconfig on CentOS/RHEL 7, authselect on EL8 and later) and the journald settings.
//
// Everything works on a host whose "/" is FS.Root: "/" on the running system, a fixture tree
// in tests. Changes are planned first (Plan: a list of steps that can be printed as a unified
// diff), then applied with a backup of every file touched, and recorded in a state file so
// that they can be undone byte for byte.
package sysconf

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// FS reads and writes the files of the host whose root directory is Root. Paths given to
// its methods are absolute paths as the host sees them ("/etc/pam.d/sshd"). Symbolic links
// are followed the way the host would follow them: an absolute target is taken relative to
// Root, and ".." never climbs above Root.
type FS struct {
	Root string
}

// maxLinks bounds symbolic link resolution (as the kernel's ELOOP limit).
const maxLinks = 40

// Host returns the machine path of p (Root joined with p).
func (f FS) Host(p string) string {
	root := f.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, path.Clean("/"+p))
}

// Resolve returns p with every symbolic link in it followed (as the host sees it). A
// component that does not exist ends the resolution; the rest is appended unchanged.
func (f FS) Resolve(p string) (string, error) {
	return f.resolve(p, true)
}

// ResolveDir resolves every component of p but the last, which is kept even if it is a
// symbolic link: the path at which Lstat, WriteFile and Symlink act.
func (f FS) ResolveDir(p string) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return p, nil
	}
	dir, err := f.resolve(path.Dir(p), true)
	if err != nil {
		return "", err
	}
	return path.Join(dir, path.Base(p)), nil
}

func (f FS) resolve(p string, last bool) (string, error) {
	p = path.Clean("/" + p)
	links := 0
	done := "/"
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, c)
		if len(rest) == 0 && !last {
			done = next
			break
		}
		fi, err := os.Lstat(f.Host(next))
		if errors.Is(err, fs.ErrNotExist) {
			done = path.Join(append([]string{next}, rest...)...)
			return done, nil
		} else if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		links++
		if links > maxLinks {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		target, err := os.Readlink(f.Host(next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	return done, nil
}

// Lstat is os.Lstat of p (its last component not followed).
func (f FS) Lstat(p string) (fs.FileInfo, error) {
	r, err := f.ResolveDir(p)
	if err != nil {
		return nil, err
	}
	return os.Lstat(f.Host(r))
}

// Stat is os.Stat of p (all links followed).
func (f FS) Stat(p string) (fs.FileInfo, error) {
	r, err := f.Resolve(p)
	if err != nil {
		return nil, err
	}
	return os.Lstat(f.Host(r))
}

// Exists reports whether p exists (following links).
func (f FS) Exists(p string) bool {
	_, err := f.Stat(p)
	return err == nil
}

// IsDir reports whether p is a directory (following links).
func (f FS) IsDir(p string) bool {
	fi, err := f.Stat(p)
	return err == nil && fi.IsDir()
}

// ReadFile reads p (following links). Errors name p as the host sees it.
func (f FS) ReadFile(p string) ([]byte, error) {
	r, err := f.Resolve(p)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f.Host(r))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Path = p
		}
		return nil, err
	}
	return b, nil
}

// Readlink returns the target of the symbolic link p, as written in the link.
func (f FS) Readlink(p string) (string, error) {
	r, err := f.ResolveDir(p)
	if err != nil {
		return "", err
	}
	return os.Readlink(f.Host(r))
}

// ReadDir lists the directory p (following links).
func (f FS) ReadDir(p string) ([]fs.DirEntry, error) {
	r, err := f.Resolve(p)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(f.Host(r))
}

// Kind is what a path is.
type Kind string

// The kinds of FileState.
const (
	Absent  Kind = "absent"
	File    Kind = "file"
	Symlink Kind = "symlink"
	Dir     Kind = "dir"
	Other   Kind = "other"
)

// FileState is what one path is at one moment: enough to tell whether it changed and to put
// it back as it was.
type FileState struct {
	Kind Kind `json:"kind"`
	// Mode holds the permission bits (files and directories).
	Mode fs.FileMode `json:"mode,omitempty"`
	UID  int         `json:"uid"`
	GID  int         `json:"gid"`
	// SHA256 is the hex digest of a file's content.
	SHA256 string `json:"sha256,omitempty"`
	// Target is a symbolic link's target as written in the link.
	Target string `json:"target,omitempty"`
	// Data is a file's content (not stored in the state file: the backup copy holds it).
	Data []byte `json:"-"`
}

// Same reports whether s and o are the same file content, link or absence (mode and owner
// are not compared: they are restored, not used to decide).
func (s FileState) Same(o FileState) bool {
	if s.Kind != o.Kind {
		return false
	}
	switch s.Kind {
	case File:
		return s.SHA256 == o.SHA256
	case Symlink:
		return s.Target == o.Target
	}
	return true
}

// String describes s in a few words.
func (s FileState) String() string {
	switch s.Kind {
	case File:
		return fmt.Sprintf("file (%d bytes)", len(s.Data))
	case Symlink:
		return "symbolic link to " + s.Target
	}
	return string(s.Kind)
}

// Digest returns the hex SHA-256 of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// NewFile returns the state of a regular file with data and mode owned by root.
func NewFile(data []byte, mode fs.FileMode) FileState {
	return FileState{Kind: File, Mode: mode, Data: data, SHA256: Digest(data)}
}

// State returns what p is now (its last component not followed).
func (f FS) State(p string) (FileState, error) {
	r, err := f.ResolveDir(p)
	if err != nil {
		return FileState{}, err
	}
	fi, err := os.Lstat(f.Host(r))
	if errors.Is(err, fs.ErrNotExist) {
		return FileState{Kind: Absent}, nil
	} else if err != nil {
		return FileState{}, err
	}
	s := FileState{Mode: fi.Mode().Perm(), UID: -1, GID: -1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.UID, s.GID = int(st.Uid), int(st.Gid)
	}
	switch {
	case fi.Mode().IsRegular():
		s.Kind = File
		if s.Data, err = os.ReadFile(f.Host(r)); err != nil {
			return FileState{}, err
		}
		s.SHA256 = Digest(s.Data)
	case fi.Mode()&fs.ModeSymlink != 0:
		s.Kind = Symlink
		s.Mode = 0
		if s.Target, err = os.Readlink(f.Host(r)); err != nil {
			return FileState{}, err
		}
	case fi.IsDir():
		s.Kind = Dir
	default:
		s.Kind = Other
	}
	return s, nil
}

// Put makes p what s says: a file with s's content, mode and owner (written atomically), a
// symbolic link (replaced atomically), a directory (created if missing), or nothing.
func (f FS) Put(p string, s FileState) error {
	r, err := f.ResolveDir(p)
	if err != nil {
		return err
	}
	switch s.Kind {
	case File:
		return f.writeAtomic(r, s)
	case Symlink:
		return f.symlinkAtomic(r, s.Target)
	case Dir:
		mode := s.Mode
		if mode == 0 {
			mode = 0o755
		}
		err := os.Mkdir(f.Host(r), mode)
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	case Absent:
		fi, err := os.Lstat(f.Host(r))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		if fi.IsDir() {
			return os.Remove(f.Host(r)) // only when empty
		}
		if err := os.Remove(f.Host(r)); err != nil {
			return err
		}
		return syncDir(f.Host(path.Dir(r)))
	}
	return fmt.Errorf("%s: cannot create a %s", p, s.Kind)
}

func tmpName(dir, base string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, "."+base+"."+hex.EncodeToString(b[:])+".recctl"), nil
}

// writeAtomic replaces r (a resolved host path) with s's content: a new file in the same
// directory, created exclusively (a planted file or link is never followed), with s's mode
// and owner, synced, renamed over r, and the directory synced.
func (f FS) writeAtomic(r string, s FileState) (err error) {
	dir := f.Host(path.Dir(r))
	tmp, err := tmpName(dir, path.Base(r))
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", r, err)
	}
	defer func() {
		if err != nil {
			fh.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = fh.Write(s.Data); err != nil {
		return fmt.Errorf("writing %s: %w", r, err)
	}
	mode := s.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err = fh.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", r, err)
	}
	if s.UID > 0 || s.GID > 0 {
		if err = fh.Chown(s.UID, s.GID); err != nil {
			return fmt.Errorf("writing %s: keeping the owner %d:%d: %w", r, s.UID, s.GID, err)
		}
	}
	if err = fh.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", r, err)
	}
	if err = fh.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", r, err)
	}
	if err = os.Rename(tmp, f.Host(r)); err != nil {
		return fmt.Errorf("writing %s: %w", r, err)
	}
	return syncDir(dir)
}

func (f FS) symlinkAtomic(r, target string) error {
	dir := f.Host(path.Dir(r))
	tmp, err := tmpName(dir, path.Base(r))
	if err != nil {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("linking %s: %w", r, err)
	}
	if err := os.Rename(tmp, f.Host(r)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("linking %s: %w", r, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates p and its parents (mode 0755) and returns the directories it created,
// outermost first.
func (f FS) MkdirAll(p string) ([]string, error) {
	p = path.Clean("/" + p)
	var missing []string
	for d := p; d != "/"; d = path.Dir(d) {
		if _, err := f.Lstat(d); err == nil {
			break
		}
		missing = append([]string{d}, missing...)
	}
	for _, d := range missing {
		if err := f.Put(d, FileState{Kind: Dir, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	return missing, nil
}

// Glob returns the paths that match pattern (path.Match syntax in any component), looked up
// inside the host; a component without a wildcard is taken as it is.
func (f FS) Glob(pattern string) []string {
	parts := strings.Split(strings.Trim(path.Clean("/"+pattern), "/"), "/")
	cur := []string{"/"}
	for _, part := range parts {
		var next []string
		for _, dir := range cur {
			if !strings.ContainsAny(part, "*?[") {
				p := path.Join(dir, part)
				if _, err := f.Lstat(p); err == nil {
					next = append(next, p)
				}
				continue
			}
			entries, err := f.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if ok, _ := path.Match(part, e.Name()); ok {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		cur = next
	}
	return cur
}
