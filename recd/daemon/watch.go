package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// watcher reports, through Events, that a file recd's policy depends on has changed: the main
// config file, a drop-in, /etc/passwd or /etc/group. It watches directories, not files,
// because editors and shadow-utils replace files by rename.
type watcher struct {
	fd      int
	file    *os.File       // fd under Go's poller, so that close() ends a pending read
	dirs    map[int]string // watch descriptor → directory
	wanted  func(dir, name string) bool
	dropins string
}

// IN_MODIFY is included although a reload waits for the write to end: it is what shows that a
// file is being written (an O_TRUNC open, then write calls), so that the settle time in
// waitQuiet restarts and recd never reads a half-written recd.conf.
const watchMask = syscall.IN_CLOSE_WRITE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM |
	syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_ATTRIB | syscall.IN_MODIFY

func newWatcher(configPath, dropinDir string, files []string) (*watcher, error) {
	// Non-blocking, so that os.NewFile puts it under the runtime poller: a plain blocking
	// read would outlive close() and then read from whatever file reuses the fd number.
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &watcher{fd: fd, file: os.NewFile(uintptr(fd), "inotify"), dirs: map[int]string{}, dropins: filepath.Clean(dropinDir)}
	names := map[string]bool{filepath.Clean(configPath): true}
	for _, f := range files {
		names[filepath.Clean(f)] = true
	}
	w.wanted = func(dir, name string) bool {
		p := filepath.Join(dir, name)
		if names[p] || p == w.dropins {
			return true
		}
		return dir == w.dropins && strings.HasSuffix(name, ".conf")
	}
	dirs := map[string]bool{filepath.Dir(filepath.Clean(configPath)): true}
	for _, f := range files {
		dirs[filepath.Dir(filepath.Clean(f))] = true
	}
	for d := range dirs {
		if err := w.add(d); err != nil {
			w.close()
			return nil, err
		}
	}
	// The drop-in directory may appear later; add() is retried on every event.
	_ = w.add(w.dropins)
	return w, nil
}

func (w *watcher) add(dir string) error {
	wd, err := syscall.InotifyAddWatch(w.fd, dir, watchMask)
	if err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	w.dirs[wd] = dir
	return nil
}

func (w *watcher) close() { w.file.Close() }

// wait blocks until at least one relevant change has happened and returns a description of
// the first one. It returns os.ErrClosed after close, and another error only when inotify
// itself fails.
func (w *watcher) wait() (string, error) {
	if err := w.file.SetReadDeadline(time.Time{}); err != nil {
		return "", fmt.Errorf("inotify: %w", err)
	}
	return w.read()
}

// waitQuiet returns once no relevant event has arrived for quiet: a burst of events (gpasswd
// touching group, gshadow and their backups; an editor truncating and writing) is then
// activated once, after the last write, never in the middle of one.
func (w *watcher) waitQuiet(quiet time.Duration) error {
	for {
		if err := w.file.SetReadDeadline(time.Now().Add(quiet)); err != nil {
			return fmt.Errorf("inotify: %w", err)
		}
		_, err := w.read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (w *watcher) read() (string, error) {
	buf := make([]byte, 64*1024)
	for {
		n, err := w.file.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
			return "", err
		}
		if err != nil {
			return "", fmt.Errorf("reading inotify events: %w", err)
		}
		var first string
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			name := strings.TrimRight(string(nameBytes), "\x00")
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&syscall.IN_Q_OVERFLOW != 0 {
				first = "inotify queue overflow"
				continue
			}
			dir, ok := w.dirs[int(ev.Wd)]
			if !ok {
				continue
			}
			if filepath.Join(dir, name) == w.dropins && ev.Mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
				_ = w.add(w.dropins)
			}
			if w.wanted(dir, name) && first == "" {
				first = filepath.Join(dir, name)
			}
		}
		if first != "" {
			return first, nil
		}
	}
}
