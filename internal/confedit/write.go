package confedit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock on dir, which every edit holds while it
// reads, edits and replaces the file.
func lockDir(dir string) (func(), error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { syscall.Close(fd) }, nil
}

// tempName returns a fresh, random temporary name next to path (replaced in tests).
var tempName = func(path string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+hex.EncodeToString(b[:])+".tmp"), nil
}

// writeAtomic replaces path with data: a new file in the same directory,
// created exclusively (a planted file or symlink is never followed), with
// the original's mode and owner, synced, renamed over path, and the
// directory synced.
func writeAtomic(path string, data []byte, exists bool) (err error) {
	dir := filepath.Dir(path)
	mode := os.FileMode(0o644)
	uid, gid := -1, -1
	if exists {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	var f *os.File
	var tmp string
	for i := 0; ; i++ {
		if tmp, err = tempName(path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i >= 10 {
			return fmt.Errorf("writing %s: cannot create a temporary file in %s: %w", path, dir, err)
		}
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if uid >= 0 && (uid != os.Getuid() || gid != os.Getgid()) {
		if err = f.Chown(uid, gid); err != nil {
			return fmt.Errorf("writing %s: keeping the owner %d:%d: %w", tmp, uid, gid, err)
		}
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
