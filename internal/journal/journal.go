// Package journal reads systemd journal entries by running journalctl with `-o json` and
// decoding its output one entry at a time, so memory stays bounded however large the
// journal is. It needs no cgo and uses only options systemd 219 (CentOS 7) knows.
//
// journalctl shows a field whose value is not valid UTF-8 as an array of byte numbers and a
// field that occurs more than once in an entry as an array of its values; Entry keeps the
// exact bytes of every value.
package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Entry is one journal entry: each field name maps to its values (one, unless the field
// is repeated), with the exact bytes journald stored.
type Entry map[string][][]byte

// Get returns the first value of field name as a string ("" when absent).
func (e Entry) Get(name string) string {
	if v := e[name]; len(v) > 0 {
		return string(v[0])
	}
	return ""
}

// Bytes returns the first value of field name (nil when absent).
func (e Entry) Bytes(name string) []byte {
	if v := e[name]; len(v) > 0 {
		return v[0]
	}
	return nil
}

// Has reports whether the entry has field name.
func (e Entry) Has(name string) bool { return len(e[name]) > 0 }

// Int returns field name as a decimal integer; ok is false when absent or not a number.
func (e Entry) Int(name string) (int64, bool) {
	v, err := strconv.ParseInt(e.Get(name), 10, 64)
	return v, err == nil
}

// Fields returns the entry as name → value with the first value of each field, the form
// chain.Next takes.
func (e Entry) Fields() map[string][]byte {
	m := make(map[string][]byte, len(e))
	for k, v := range e {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}

// Repeated returns the names of fields with more than one value, sorted.
func (e Entry) Repeated() []string {
	var out []string
	for k, v := range e {
		if len(v) > 1 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Cursor is the entry's journal cursor (__CURSOR).
func (e Entry) Cursor() string { return e.Get("__CURSOR") }

// Realtime is the time journald received the entry (__REALTIME_TIMESTAMP).
func (e Entry) Realtime() time.Time {
	us, ok := e.Int("__REALTIME_TIMESTAMP")
	if !ok {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// DecodeEntry decodes one line of `journalctl -o json` output.
func DecodeEntry(line []byte) (Entry, error) {
	if e, ok := decodeFlat(line); ok {
		return e, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, fmt.Errorf("journalctl output is not a JSON object: %w", err)
	}
	e := make(Entry, len(raw))
	for name, v := range raw {
		vals, err := decodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("journalctl output: field %s: %w", name, err)
		}
		if vals != nil {
			e[name] = vals
		}
	}
	return e, nil
}

// decodeValue decodes a field: "text", [bytes...], null (a value journalctl did not show),
// or [value, value...] for a repeated field whose values are text or byte arrays.
func decodeValue(v json.RawMessage) ([][]byte, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, errors.New("empty value")
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return [][]byte{[]byte(s)}, nil
	case 'n':
		return nil, nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(v, &elems); err != nil {
			return nil, err
		}
		if len(elems) == 0 || isNumber(elems[0]) {
			b, err := byteArray(elems)
			if err != nil {
				return nil, err
			}
			return [][]byte{b}, nil
		}
		out := make([][]byte, 0, len(elems))
		for _, el := range elems {
			vals, err := decodeValue(el)
			if err != nil {
				return nil, err
			}
			if len(vals) > 1 {
				return nil, errors.New("nested repeated values")
			}
			out = append(out, vals...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected value %.20s", v)
}

func isNumber(v json.RawMessage) bool { return len(v) > 0 && v[0] >= '0' && v[0] <= '9' }

func byteArray(elems []json.RawMessage) ([]byte, error) {
	b := make([]byte, len(elems))
	for i, el := range elems {
		n, err := strconv.ParseUint(string(el), 10, 8)
		if err != nil {
			return nil, fmt.Errorf("byte %d: %s is not a byte", i, el)
		}
		b[i] = byte(n)
	}
	return b, nil
}

// Source says which journal journalctl reads.
type Source struct {
	// Files are journal files (journalctl --file, globs allowed); Directory is a journal
	// directory (--directory), such as systemd-journal-remote's store. With neither, the
	// system journal of this machine and the remote journals stored on it (--merge).
	Files     []string
	Directory string
	// Journalctl is the program to run ("" = "journalctl" from PATH).
	Journalctl string
}

// Query selects entries.
type Query struct {
	// Matches are journalctl matches: "FIELD=value" terms, ANDed across fields and ORed
	// within a field, and "+" between groups for OR.
	Matches []string
	// Since and Until are passed to journalctl as they are, so they take its syntax
	// ("today", "-2h", "2026-11-01 10:00", "@1700000000").
	Since, Until string
	// AfterCursor starts after the entry with this cursor.
	AfterCursor string
	// Follow keeps reading as entries are added (journalctl --follow) until the context ends.
	Follow bool
}

// Args returns the journalctl arguments for q on s.
func (s Source) Args(q Query) []string {
	args := s.sourceArgs([]string{"--output=json", "--all", "--no-pager"})
	if q.Since != "" {
		args = append(args, "--since="+q.Since)
	}
	if q.Until != "" {
		args = append(args, "--until="+q.Until)
	}
	if q.AfterCursor != "" {
		args = append(args, "--after-cursor="+q.AfterCursor)
	}
	if q.Follow {
		args = append(args, "--follow", "--lines=all")
	}
	if len(q.Matches) > 0 {
		args = append(args, "--")
		args = append(args, q.Matches...)
	}
	return args
}

// sourceArgs appends the options that select s's journal files.
func (s Source) sourceArgs(args []string) []string {
	switch {
	case len(s.Files) > 0:
		for _, f := range s.Files {
			args = append(args, "--file="+f)
		}
	case s.Directory != "":
		args = append(args, "--directory="+s.Directory)
	default:
		args = append(args, "--merge")
	}
	return args
}

// Unique returns the distinct values of field in s's journal, as `journalctl --field`
// lists them from the journal files' field index without reading any entry: cheap
// however large the journal is. Like journalctl --field it takes no matches and no time
// range. A value holding a newline comes back as two values.
func (s Source) Unique(ctx context.Context, field string) ([]string, error) {
	prog := s.Journalctl
	if prog == "" {
		prog = "journalctl"
	}
	cmd := exec.CommandContext(ctx, prog, s.sourceArgs([]string{"--no-pager", "--field=" + field})...)
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	for _, line := range strings.Split(stderr.String(), "\n") {
		for _, h := range permissionHints {
			if strings.Contains(line, h) {
				return nil, &PermissionError{Message: strings.TrimSpace(line)}
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("journalctl failed: %s", msg)
		}
		return nil, fmt.Errorf("journalctl failed: %w", err)
	}
	seen := map[string]bool{}
	var vals []string
	for _, v := range strings.Split(string(out), "\n") {
		if v != "" && !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	return vals, nil
}

// PermissionError means journalctl could not show the journal to this user: its files are
// not readable (only root, and members of the groups the journal's ACLs name such as
// systemd-journal or adm, may read the system journal).
type PermissionError struct {
	Message string // what journalctl said
}

func (e *PermissionError) Error() string {
	return "permission denied reading the journal: " + e.Message
}

// permissionHints are what journalctl prints when it cannot show the journal to the user:
// the notice of a user outside the journal's groups (systemd 219 and later), the error when
// no file was readable, and open(2)'s EACCES for --file/--directory.
var permissionHints = []string{
	"not seeing messages from other users",
	"insufficient permissions",
	"Permission denied",
}

// Reader streams the entries journalctl outputs.
type Reader struct {
	src  Source
	q    Query
	ctx  context.Context
	poll bool   // Follow on files: journalctl cannot watch them, so poll
	last string // cursor of the last entry read

	cmd    *exec.Cmd
	br     *bufio.Reader
	cancel context.CancelFunc

	mu     sync.Mutex
	stderr bytes.Buffer // journalctl's diagnostics, bounded
	perm   string       // the permission notice, once seen
	done   chan struct{}
	err    error // sticky: the error Next returns from now on
}

// maxStderr bounds what is kept of journalctl's diagnostics.
const maxStderr = 64 << 10

// PollInterval is how often a follower polls journal files named with Files (journalctl
// --follow can watch directories, not files).
var PollInterval = time.Second

// Open runs journalctl for q on s. The caller must Close the Reader. With q.Follow, Next
// waits for new entries until ctx ends.
func (s Source) Open(ctx context.Context, q Query) (*Reader, error) {
	r := &Reader{src: s, q: q, ctx: ctx, poll: q.Follow && len(s.Files) > 0}
	if err := r.start(q.AfterCursor); err != nil {
		return nil, err
	}
	return r, nil
}

// start runs journalctl, after cursor when it is not "".
func (r *Reader) start(cursor string) error {
	prog := r.src.Journalctl
	if prog == "" {
		prog = "journalctl"
	}
	q := r.q
	q.AfterCursor = cursor
	if r.poll {
		q.Follow = false
	}
	ctx, cancel := context.WithCancel(r.ctx)
	cmd := exec.CommandContext(ctx, prog, r.src.Args(q)...)
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		return err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return fmt.Errorf("running %s: %w", prog, err)
	}
	r.cmd, r.cancel, r.done = cmd, cancel, make(chan struct{})
	r.br = bufio.NewReaderSize(out, 256<<10)
	go r.readStderr(errPipe, r.done)
	return nil
}

func (r *Reader) readStderr(p io.Reader, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(p)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		r.mu.Lock()
		if r.stderr.Len() < maxStderr {
			r.stderr.WriteString(line)
			r.stderr.WriteByte('\n')
		}
		if r.perm == "" {
			for _, h := range permissionHints {
				if strings.Contains(line, h) {
					r.perm = strings.TrimSpace(line)
				}
			}
		}
		r.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, p)
}

// permission returns the permission problem journalctl reported so far, if any.
func (r *Reader) permission() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perm == "" {
		return nil
	}
	return &PermissionError{Message: r.perm}
}

// Next returns the next entry. At the end it returns io.EOF, or the error journalctl
// reported (a *PermissionError when it could not show the journal to this user).
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	if err := r.permission(); err != nil {
		r.err = err
		return nil, err
	}
	for {
		line, err := r.br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			e, derr := DecodeEntry(line)
			if derr != nil {
				r.err = derr
				return nil, derr
			}
			if c := e.Cursor(); c != "" {
				r.last = c
			}
			return e, nil
		}
		if err == nil {
			continue
		}
		ferr := r.finish(err)
		if ferr != io.EOF || !r.poll {
			r.err = ferr
			return nil, ferr
		}
		// Polling: wait, then read what was added after the last entry.
		select {
		case <-r.ctx.Done():
			r.err = r.ctx.Err()
			return nil, r.err
		case <-time.After(PollInterval):
		}
		cursor := r.last
		if cursor == "" {
			cursor = r.q.AfterCursor
		}
		if err := r.start(cursor); err != nil {
			r.err = err
			return nil, err
		}
	}
}

// finish waits for journalctl after its output ended and turns its exit into an error.
func (r *Reader) finish(readErr error) error {
	if readErr != io.EOF {
		_ = r.cmd.Process.Kill()
	}
	<-r.done
	werr := r.cmd.Wait()
	r.cancel()
	if err := r.permission(); err != nil {
		return err
	}
	if readErr != io.EOF {
		return fmt.Errorf("reading journalctl's output: %w", readErr)
	}
	if werr != nil {
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		r.mu.Lock()
		msg := strings.TrimSpace(r.stderr.String())
		r.mu.Unlock()
		var ee *exec.ExitError
		if errors.As(werr, &ee) && msg != "" {
			return fmt.Errorf("journalctl failed: %s", msg)
		}
		return fmt.Errorf("journalctl failed: %w", werr)
	}
	return io.EOF
}

// Stderr returns what journalctl printed on its standard error so far.
func (r *Reader) Stderr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// Close stops journalctl if it is still running and releases the Reader.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = errors.New("journal reader closed")
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		r.cancel()
		<-r.done
		_ = r.cmd.Wait()
	}
	r.cancel()
	return nil
}

// ForEach runs journalctl for q on s and calls fn for every entry, in journal order. It
// stops at the first error fn returns and returns it.
func (s Source) ForEach(ctx context.Context, q Query, fn func(Entry) error) error {
	r, err := s.Open(ctx, q)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		e, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// SystemDirs are where journald keeps the system journal.
var SystemDirs = []string{"/var/log/journal", "/run/log/journal"}

// CheckAccess reports a *PermissionError when the caller cannot read the journal s names:
// for the system journal, a system.journal file (or its machine directory) that exists but
// is not readable by the real UID, ACLs included (access(2)). journalctl itself only
// prints a notice in that case and shows the caller's own journal, which holds no
// recordings, so a permission problem would otherwise look like an empty list.
func (s Source) CheckAccess() error {
	if len(s.Files) > 0 || s.Directory != "" {
		if s.Directory != "" {
			return checkReadable(s.Directory, true)
		}
		return nil
	}
	for _, root := range SystemDirs {
		ents, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, d := range ents {
			if !d.IsDir() || len(d.Name()) != 32 {
				continue
			}
			dir := filepath.Join(root, d.Name())
			if err := checkReadable(dir, true); err != nil {
				return err
			}
			if f := filepath.Join(dir, "system.journal"); exists(f) {
				if err := checkReadable(f, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func checkReadable(p string, dir bool) error {
	mode := uint32(4) // R_OK
	if dir {
		mode |= 1 // X_OK
	}
	if err := syscall.Access(p, mode); err != nil {
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			return &PermissionError{Message: fmt.Sprintf("cannot read %s", p)}
		}
	}
	return nil
}
