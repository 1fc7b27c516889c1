package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// Trust.
//
// Whoever can change recd.conf or a drop-in decides who is recorded, and who may read the
// recordings ([access] auditors). So a file is read only if no one but root can change
// it: it must be a regular file owned by root and writable neither by its group nor by
// others, in a directory with the same properties (or root-owned and sticky, like /tmp).
// The process's own uid counts as root here, so that a program run by a user (tests, the
// recorder) may read files of its own; recd runs as root, where that is the same rule.
// Each file is checked through the descriptor it is read from (fstat), so it cannot be
// swapped between the check and the read. A refused file is an *Error naming the file,
// what is wrong and the command that fixes it, and fails the whole load: activation then
// keeps the last good policy.

// maxConfigFile bounds one configuration file.
const maxConfigFile = 8 << 20

// trustedOwner reports whether uid may own configuration files.
func trustedOwner(uid uint32) bool {
	return uid == 0 || int(uid) == os.Geteuid()
}

func ownerName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
}

// untrusted returns the problems of a file or directory with st, or nil.
func untrusted(path string, st *syscall.Stat_t, isDir bool) error {
	mode := fs.FileMode(st.Mode & 0o7777)
	var what, fixes []string
	if !trustedOwner(st.Uid) {
		what = append(what, "owned by "+ownerName(st.Uid)+", not root")
		fixes = append(fixes, "chown root:root "+path)
	}
	sticky := isDir && st.Mode&syscall.S_ISVTX != 0 && trustedOwner(st.Uid)
	if w := st.Mode & 0o022; w != 0 && !sticky {
		by := map[uint32]string{0o020: "its group", 0o002: "others", 0o022: "its group and others"}[w]
		what = append(what, fmt.Sprintf("writable by %s (mode %04o)", by, mode.Perm()))
		fixes = append(fixes, "chmod go-w "+path)
	}
	if len(what) == 0 {
		return nil
	}
	kind := "file"
	if isDir {
		kind = "directory"
	}
	return &Error{File: path,
		Msg: fmt.Sprintf("refused: the %s is %s, and a %s users other than root can change must not decide who is recorded",
			kind, strings.Join(what, " and "), kind),
		Hint: "fix: " + strings.Join(fixes, " && ")}
}

// readTrusted reads a configuration file if it is trusted (see Trust). A file that does
// not exist is fs.ErrNotExist, unwrapped by errors.Is.
func readTrusted(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted in the file's place must not hang the reader.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &Error{File: path, Msg: "refused: not a regular file", Hint: "replace it by a regular file"}
	}
	if err := untrusted(path, &st, false); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if len(data) > maxConfigFile {
		return nil, &Error{File: path, Msg: fmt.Sprintf("refused: larger than %d MiB", maxConfigFile>>20)}
	}
	return data, nil
}

// checkDir checks that dir, if it exists, is a trusted directory (see Trust).
func checkDir(dir string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return nil // reading it fails with its own error
	}
	return untrusted(dir, &st, true)
}

// CheckTrusted checks a configuration file and its directory the way Load does, for
// tools that show why a file would be refused (recctl doctor).
func CheckTrusted(path string) error {
	if err := checkDir(dirOf(path)); err != nil {
		return err
	}
	_, err := readTrusted(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	} else if i == 0 {
		return "/"
	}
	return "."
}
